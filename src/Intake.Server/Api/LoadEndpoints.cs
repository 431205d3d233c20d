using System.ComponentModel;
using System.Globalization;
using Intake.Core.Errors;
using Intake.Core.Model;
using Intake.Core.Ports;
using Intake.Server.Auth;
using Intake.Server.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Routing;

namespace Intake.Server.Api;

/// <summary>
/// <c>/api/v1/loads</c>, also reachable as <c>/api/v1/jobs</c> (the name the replaced system's users know):
/// list (newest first, the last 24 hours unless told otherwise, paged with a cursor), show with the step
/// history, re-drive, cancel.
/// </summary>
internal static class LoadEndpoints
{
    public const int DefaultLimit = 50;

    private static readonly Dictionary<string, SourceKeyMatch> MatchWords = new(StringComparer.Ordinal)
    {
        ["contains"] = SourceKeyMatch.Contains,
        ["prefix"] = SourceKeyMatch.Prefix,
        ["exact"] = SourceKeyMatch.Exact,
    };
    private static readonly TimeSpan DefaultWindow = TimeSpan.FromHours(24);

    public static void Map(RouteGroupBuilder api, RouteGroupBuilder write, string collection)
    {
        var tag = collection == "loads" ? "Loads" : "Jobs";
        api.MapGet($"/{collection}", ListAsync).WithName($"List{tag}").WithTags(tag)
            .WithSummary("Loads newest first. Without since/until/cursor/source_key: those created in the last 24 hours.")
            .Produces<Page<LoadDto>>().ProducesProblem(StatusCodes.Status404NotFound);
        api.MapGet($"/{collection}/{{id:long}}", ShowAsync).WithName($"Get{tag[..^1]}").WithTags(tag)
            .WithSummary("One load with its step history (every attempt of every step).")
            .Produces<LoadDetailDto>().ProducesProblem(StatusCodes.Status404NotFound);
        write.MapPost($"/{collection}/{{id:long}}/redrive", RedriveAsync).WithName($"Redrive{tag[..^1]}").WithTags(tag)
            .WithSummary("Sends an errored, held or archived load through its steps again; it resumes at the first step without a success.")
            .Produces<LoadDto>().ProducesProblem(StatusCodes.Status404NotFound).ProducesProblem(StatusCodes.Status409Conflict);
        write.MapPost($"/{collection}/{{id:long}}/cancel", CancelAsync).WithName($"Cancel{tag[..^1]}").WithTags(tag)
            .WithSummary("Stops a load: a ready one is held (re-drive releases it); an ingesting one is failed and takes the error path.")
            .Produces<LoadDto>().ProducesProblem(StatusCodes.Status404NotFound).ProducesProblem(StatusCodes.Status409Conflict);
    }

    private static async Task<IResult> ListAsync(
        HttpContext http,
        ServerState state,
        [FromQuery] string? pipeline,
        [FromQuery] string? status,
        [FromQuery] string? customer,
        [FromQuery] string? since,
        [FromQuery] string? until,
        [FromQuery(Name = "error_kind"), Description("Only loads whose error is of this kind: transient, empty, format, integrity, schema, security or config.")] string? errorKind,
        [FromQuery(Name = "source_key"), Description("Only loads whose source key matches this text (\"where is file X?\"), as source_key_match says; searches every load, not only the last 24 hours, unless since or until is given.")] string? sourceKey,
        [FromQuery(Name = "source_key_match"), Description("How source_key matches: contains (default: a part of the key anywhere, any case), prefix (the key starts with it, e.g. a folder) or exact.")] string? sourceKeyMatch,
        [FromQuery, Description(ApiInput.LimitDescription)] string? limit,
        [FromQuery, Description(ApiInput.CursorDescription)] string? cursor,
        CancellationToken ct)
    {
        var caller = http.Caller();
        var errors = new Dictionary<string, string[]>(StringComparer.Ordinal);
        pipeline = ApiInput.Text(errors, "pipeline", pipeline);
        customer = ApiInput.Text(errors, "customer", customer);
        LoadStatus? statusFilter = null;
        if (ApiInput.Text(errors, "status", status) is { } statusText)
        {
            if (LoadStatusNames.TryParse(statusText, out var s))
            {
                statusFilter = s;
            }
            else
            {
                errors.Add("status", $"{ApiInput.Quote(statusText)} is not a load status; use one of {string.Join(", ", LoadStatusNames.Words)}");
            }
        }

        ErrorKind? kindFilter = null;
        if (ApiInput.Text(errors, "error_kind", errorKind) is { } kindText)
        {
            if (ErrorKindNames.TryParse(kindText, out var k))
            {
                kindFilter = k;
            }
            else
            {
                errors.Add("error_kind", $"{ApiInput.Quote(kindText)} is not an error kind; use one of {string.Join(", ", Enum.GetValues<ErrorKind>().Select(e => e.ToWord()))}");
            }
        }

        var search = ApiInput.Text(errors, "source_key", sourceKey, ApiInput.MaxKeyLength);
        if (search is { Length: 0 })
        {
            errors.Add("source_key", "must not be empty; leave it out to list every load");
        }

        var match = SourceKeyMatch.Contains;
        if (ApiInput.Text(errors, "source_key_match", sourceKeyMatch) is { } matchText)
        {
            if (MatchWords.TryGetValue(matchText, out var m))
            {
                match = m;
            }
            else
            {
                errors.Add("source_key_match", $"{ApiInput.Quote(matchText)} is not a way to match; use contains, prefix or exact");
            }
        }

        var createdSince = ParseTime("since", ApiInput.Text(errors, "since", since, ApiInput.MaxTimeLength), errors);
        var createdUntil = ParseTime("until", ApiInput.Text(errors, "until", until, ApiInput.MaxTimeLength), errors);
        var size = ApiInput.Limit(errors, limit, DefaultLimit);
        var after = Cursor.Parse(errors, cursor);
        if (createdSince is { } f && createdUntil is { } t && f >= t)
        {
            errors.Add("until", "must be later than since");
        }

        if (errors.Count > 0)
        {
            return Problems.Invalid(errors);
        }

        if (pipeline is not null && PipelineEndpoints.Find(state, caller, pipeline) is null)
        {
            return PipelineEndpoints.NoSuchPipeline(pipeline);
        }

        if (customer is not null && !caller.CanSee(customer))
        {
            return Problems.NotFound($"no customer '{customer}' for this key");
        }

        // The default window (last 24 hours) is fixed when the first page is asked for and travels in the
        // cursor, so later pages continue the same list instead of a window that moved meanwhile.
        // A search looks for a file whenever it came ("where is file X?"): it has no default window.
        createdSince ??= after?.Since ?? (createdUntil is null && after is null && search is null ? state.Time.GetUtcNow() - DefaultWindow : null);
        var query = new LoadQuery
        {
            NewestFirst = true,
            Status = statusFilter,
            Pipeline = pipeline,
            Customer = customer ?? caller.CustomerFilter,
            ErrorKind = kindFilter,
            SourceKey = search,
            SourceKeyMatch = match,
            CreatedSince = createdSince,
            CreatedUntil = createdUntil,
            ByCreatedAt = true,
            Before = after?.Before,
            Limit = size + 1,
        };
        var loads = await state.Runtime.Catalog.ListLoadsAsync(query, ct);
        var items = loads.Take(size).Select(l => LoadDto.From(l, state.ClientText)).ToList();
        var next = loads.Count > size ? new Cursor(LoadPosition.Of(loads[size - 1]), createdSince).ToString() : null;
        return Results.Ok(new Page<LoadDto>(items, next));
    }

    private static DateTimeOffset? ParseTime(string name, string? text, Dictionary<string, string[]> errors)
    {
        if (text is null)
        {
            return null;
        }

        if (DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var t))
        {
            return t;
        }

        errors.Add(name, $"{ApiInput.Quote(text)} is not a time; use ISO 8601, e.g. 2026-01-31T07:00:00Z");
        return null;
    }

    /// <summary>The load when the caller may see it; null (answered as "no such load") when it does not exist or belongs to another customer. The web UI asks the same.</summary>
    internal static async Task<Load?> FindAsync(ServerState state, Caller caller, long id, CancellationToken ct) =>
        await state.Runtime.Catalog.GetLoadAsync(id, ct) is { } load && caller.CanSee(load.Customer) ? load : null;

    private static IResult NoSuchLoad(long id) => Problems.NotFound($"no load {id.ToString(CultureInfo.InvariantCulture)}");

    private static async Task<IResult> ShowAsync(long id, HttpContext http, ServerState state, CancellationToken ct)
    {
        if (await FindAsync(state, http.Caller(), id, ct) is not { } load)
        {
            return NoSuchLoad(id);
        }

        var steps = await state.Runtime.Catalog.GetStepsAsync(load.Id, ct);
        return Results.Ok(new LoadDetailDto(LoadDto.From(load, state.ClientText), steps.Select(st => StepDto.From(st, state.ClientText)).ToList()));
    }

    private static async Task<IResult> RedriveAsync(long id, HttpContext http, ServerState state, CancellationToken ct)
    {
        var caller = http.Caller();
        if (await FindAsync(state, caller, id, ct) is not { } load)
        {
            return NoSuchLoad(id);
        }

        var result = await state.Runtime.Actions.RedriveAsync(load, ct);
        if (!result.Done)
        {
            return Problems.Conflict(result.Reason!);
        }

        ServerLog.LoadAction(state.Log, load.Id, load.Pipeline, "re-driven", caller.KeyId);
        state.Work.Pulse();
        // The load as this request left it (a worker may claim it the next moment; GET shows what happens next).
        return Results.Ok(LoadDto.From(result.Load, state.ClientText));
    }

    private static async Task<IResult> CancelAsync(long id, HttpContext http, ServerState state, CancellationToken ct)
    {
        var caller = http.Caller();
        if (await FindAsync(state, caller, id, ct) is not { } load)
        {
            return NoSuchLoad(id);
        }

        var result = await state.Runtime.Actions.CancelAsync(load, $"cancelled through the API by key {caller.KeyId}", ct);
        if (!result.Done)
        {
            return Problems.Conflict(result.Reason!);
        }

        ServerLog.LoadAction(state.Log, load.Id, load.Pipeline, "cancelled", caller.KeyId);
        state.Work.Pulse();
        return Results.Ok(LoadDto.From(result.Load, state.ClientText));
    }

    /// <summary>
    /// Opaque to clients: the (created_at, id) position of the page's last load and the window start the list was asked
    /// with (/loads and /jobs share it). The list is in that order, so a window weeks back is an index range like today's.
    /// A cursor of the earlier id-only form is refused like any other (a client starts the list again).
    /// </summary>
    private sealed record Cursor(LoadPosition Before, DateTimeOffset? Since)
    {
        private const string List = "loads-by-time";
        private static readonly long MinMilliseconds = DateTimeOffset.MinValue.ToUnixTimeMilliseconds();
        private static readonly long MaxMilliseconds = DateTimeOffset.MaxValue.ToUnixTimeMilliseconds();

        public override string ToString() => ApiInput.NewCursor(
            List,
            Before.Id.ToString(CultureInfo.InvariantCulture),
            Before.CreatedAt.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture),
            Since is { } s ? s.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture) : "");

        /// <summary>Null when absent or refused; a time outside what <see cref="DateTimeOffset"/> holds is refused like any other bad cursor.</summary>
        public static Cursor? Parse(Dictionary<string, string[]> errors, string? text) =>
            ApiInput.Cursor(errors, text, List, 3, p => ApiInput.IsLong(p[0], 1, long.MaxValue) && ApiInput.IsLong(p[1], MinMilliseconds, MaxMilliseconds)
                                                        && (p[2].Length == 0 || ApiInput.IsLong(p[2], MinMilliseconds, MaxMilliseconds))) is { } parts
                ? new Cursor(
                    new LoadPosition(Time(parts[1]), long.Parse(parts[0], CultureInfo.InvariantCulture)),
                    parts[2].Length == 0 ? null : Time(parts[2]))
                : null;

        private static DateTimeOffset Time(string milliseconds) =>
            DateTimeOffset.FromUnixTimeMilliseconds(long.Parse(milliseconds, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture));
    }
}
