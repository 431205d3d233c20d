using System.Globalization;
using System.Text;
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
    public const int MaxLimit = 1000;
    private static readonly TimeSpan DefaultWindow = TimeSpan.FromHours(24);

    public static void Map(RouteGroupBuilder api, RouteGroupBuilder write, string collection)
    {
        var tag = collection == "loads" ? "Loads" : "Jobs";
        api.MapGet($"/{collection}", ListAsync).WithName($"List{tag}").WithTags(tag)
            .WithSummary("Loads newest first. Without since/until/cursor: those created in the last 24 hours.");
        api.MapGet($"/{collection}/{{id:long}}", ShowAsync).WithName($"Get{tag[..^1]}").WithTags(tag)
            .WithSummary("One load with its step history (every attempt of every step).");
        write.MapPost($"/{collection}/{{id:long}}/redrive", RedriveAsync).WithName($"Redrive{tag[..^1]}").WithTags(tag)
            .WithSummary("Sends an errored, held or archived load through its steps again; it resumes at the first step without a success.");
        write.MapPost($"/{collection}/{{id:long}}/cancel", CancelAsync).WithName($"Cancel{tag[..^1]}").WithTags(tag)
            .WithSummary("Stops a load: a ready one is held (re-drive releases it); an ingesting one is failed and takes the error path.");
    }

    private static async Task<IResult> ListAsync(
        HttpContext http,
        ServerState state,
        [FromQuery] string? pipeline,
        [FromQuery] string? status,
        [FromQuery] string? customer,
        [FromQuery] string? since,
        [FromQuery] string? until,
        [FromQuery] string? limit,
        [FromQuery] string? cursor,
        CancellationToken ct)
    {
        var caller = http.Caller();
        var errors = new Dictionary<string, string[]>();
        LoadStatus? statusFilter = null;
        if (status is not null)
        {
            if (LoadStatusNames.TryParse(status, out var s))
            {
                statusFilter = s;
            }
            else
            {
                errors["status"] = [$"'{status}' is not a load status; use one of {string.Join(", ", LoadStatusNames.Words)}"];
            }
        }

        var from = ParseTime("since", since, errors);
        var to = ParseTime("until", until, errors);
        var size = DefaultLimit;
        if (limit is not null && (!int.TryParse(limit, NumberStyles.None, CultureInfo.InvariantCulture, out size) || size < 1 || size > MaxLimit))
        {
            errors["limit"] = [$"'{limit}' is not a whole number from 1 to {MaxLimit}"];
        }

        Cursor? after = null;
        if (cursor is not null && (after = Cursor.Parse(cursor)) is null)
        {
            errors["cursor"] = ["is not a cursor this API returned; pass next_cursor from the previous page unchanged"];
        }

        if (from is { } f && to is { } t && f >= t)
        {
            errors["until"] = ["must be later than since"];
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
        from ??= after?.Since ?? (to is null && after is null ? state.Time.GetUtcNow() - DefaultWindow : null);
        var query = new LoadQuery
        {
            NewestFirst = true,
            Status = statusFilter,
            Pipeline = pipeline,
            Customer = customer ?? caller.CustomerFilter,
            CreatedFrom = from,
            CreatedUntil = to,
            BeforeId = after?.BeforeId,
            Limit = size + 1,
        };
        var loads = await state.Runtime.Catalog.ListLoadsAsync(query, ct);
        var items = loads.Take(size).Select(LoadDto.From).ToList();
        var next = loads.Count > size ? new Cursor(items[^1].Id, from).ToString() : null;
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

        errors[name] = [$"'{text}' is not a time; use ISO 8601, e.g. 2026-01-31T07:00:00Z"];
        return null;
    }

    private static async Task<Load?> FindAsync(ServerState state, Caller caller, long id, CancellationToken ct) =>
        await state.Runtime.Catalog.GetLoadAsync(id, ct) is { } load && caller.CanSee(load.Customer) ? load : null;

    private static IResult NoSuchLoad(long id) => Problems.NotFound($"no load {id.ToString(CultureInfo.InvariantCulture)}");

    private static async Task<IResult> ShowAsync(long id, HttpContext http, ServerState state, CancellationToken ct)
    {
        if (await FindAsync(state, http.Caller(), id, ct) is not { } load)
        {
            return NoSuchLoad(id);
        }

        var steps = await state.Runtime.Catalog.GetStepsAsync(load.Id, ct);
        return Results.Ok(new LoadDetailDto(LoadDto.From(load), steps.Select(StepDto.From).ToList()));
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
        return Results.Ok(LoadDto.From(result.Load));
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
        return Results.Ok(LoadDto.From(result.Load));
    }

    /// <summary>Opaque to clients: the last id of the page and the window start the list was asked with.</summary>
    private sealed record Cursor(long BeforeId, DateTimeOffset? Since)
    {
        public override string ToString()
        {
            var text = Since is { } s
                ? string.Create(CultureInfo.InvariantCulture, $"{BeforeId}:{s.ToUnixTimeMilliseconds()}")
                : BeforeId.ToString(CultureInfo.InvariantCulture);
            return Convert.ToBase64String(Encoding.ASCII.GetBytes(text)).TrimEnd('=').Replace('+', '-').Replace('/', '_');
        }

        public static Cursor? Parse(string text)
        {
            try
            {
                var padded = text.Replace('-', '+').Replace('_', '/');
                padded += new string('=', (4 - (padded.Length % 4)) % 4);
                var parts = Encoding.ASCII.GetString(Convert.FromBase64String(padded)).Split(':');
                if (parts.Length is < 1 or > 2 || !long.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var id))
                {
                    return null;
                }

                DateTimeOffset? since = null;
                if (parts.Length == 2)
                {
                    if (!long.TryParse(parts[1], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var ms))
                    {
                        return null;
                    }

                    since = DateTimeOffset.FromUnixTimeMilliseconds(ms);
                }

                return new Cursor(id, since);
            }
            catch (FormatException)
            {
                return null;
            }
        }
    }
}
