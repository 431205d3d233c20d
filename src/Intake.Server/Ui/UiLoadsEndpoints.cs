using System.Globalization;
using System.Text;
using Intake.Core.Errors;
using Intake.Core.Model;
using Intake.Core.Ports;
using Intake.Server.Api;
using Intake.Server.Auth;
using Intake.Server.Hosting;
using Intake.Server.Ui.Components;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Intake.Server.Ui;

/// <summary>
/// The Loads page (every load the key may see, filtered, searched by source key, newest first, keyset paging), the
/// Errors page (errored loads grouped by pipeline and error kind) and re-drive of a selection or a whole group, always
/// through a confirmation page that says how many loads it is about. The lookups are the API's
/// (<see cref="LoadEndpoints.FindAsync"/>, <see cref="PipelineEndpoints.Find"/>, <see cref="Caller.CanSee"/>), the
/// list is the catalog's <see cref="LoadQuery"/>, the groups are <see cref="ICatalogQueries.GroupErroredLoadsAsync"/>,
/// and every re-drive is <see cref="Engine.Operations.LoadActions.RedriveAsync"/> (compare-and-set) of one load.
/// </summary>
internal static class UiLoadsEndpoints
{
    /// <summary>Loads on one page of the list.</summary>
    public const int PageSize = 50;

    /// <summary>A group re-drive reads the group this many loads at a time: memory stays flat at any group size.</summary>
    internal const int RedriveBatch = 500;

    /// <summary>The most loads one selection may name (ten pages of the list); a larger set is a group.</summary>
    internal const int MaxSelection = 500;

    /// <summary>The query-string name of the kind of errored loads without a recorded kind (a group of their own).</summary>
    internal const string NoKind = "none";

    private static readonly Dictionary<string, SourceKeyMatch> MatchWords = new(StringComparer.Ordinal)
    {
        ["contains"] = SourceKeyMatch.Contains,
        ["prefix"] = SourceKeyMatch.Prefix,
        ["exact"] = SourceKeyMatch.Exact,
    };

    public static void Map(RouteGroupBuilder pages, RouteGroupBuilder write)
    {
        pages.MapGet("/loads", LoadsAsync);
        pages.MapGet("/errors", ErrorsAsync);
        // The confirmation is a page of the write group: a read key gets 403 there too, before anything is counted.
        write.MapGet("/redrive", ConfirmAsync);
        write.MapPost("/redrive", RedriveAsync);
    }

    /// <summary>
    /// The Loads page: one page of the filtered list, newest first by (created_at, id); <c>before</c>/<c>after</c> move
    /// by that pair (<see cref="PagePosition"/>), never by an offset, so a window weeks back is read like today's.
    /// </summary>
    private static async Task<IResult> LoadsAsync(HttpContext http, ServerState state, CancellationToken ct)
    {
        var caller = http.Features.Get<Caller>()!;
        var filter = LoadsFilter.From(http.Request);
        var problems = new List<string>();

        LoadStatus? status = null;
        if (filter.Status is { } statusText)
        {
            if (LoadStatusNames.TryParse(statusText, out var s))
            {
                status = s;
            }
            else
            {
                problems.Add($"Status \"{statusText}\" is not a load status; choose one of {string.Join(", ", LoadStatusNames.Words)}.");
            }
        }

        ErrorKind? kind = null;
        if (filter.ErrorKind is { } kindText)
        {
            if (ErrorKindNames.TryParse(kindText, out var k))
            {
                kind = k;
            }
            else
            {
                problems.Add($"Error kind \"{kindText}\" is not one; choose one of {string.Join(", ", Enum.GetValues<ErrorKind>().Select(e => e.ToWord()))}.");
            }
        }

        var match = SourceKeyMatch.Contains;
        if (filter.Match is { } matchText && !MatchWords.TryGetValue(matchText, out match))
        {
            problems.Add($"\"{matchText}\" is not a way to match a source key; choose part of the key, starts with, or exact.");
        }

        if (filter.SourceKey is { Length: > ApiInput.MaxKeyLength })
        {
            problems.Add($"The source key searched for is longer than {ApiInput.MaxKeyLength} characters; no key is that long.");
        }

        var since = Time("Created since", filter.Since, problems);
        var until = Time("Created until", filter.Until, problems);
        if (since is { } a && until is { } b && a >= b)
        {
            problems.Add("\"Created until\" must be later than \"created since\".");
        }

        var before = Position(http, "before", problems);
        var after = Position(http, "after", problems);

        // The API's rules: a pipeline or customer this key cannot see does not exist for it (404), so a customer key
        // never lists another customer's loads, whatever its query string says.
        if (filter.Pipeline is { } pipeline && PipelineEndpoints.Find(state, caller, pipeline) is null)
        {
            return UiEndpoints.StatusPageResult(http, StatusCodes.Status404NotFound, "No such pipeline", $"There is no pipeline named \"{pipeline}\" for this key; the Loads page lists the ones it can see.");
        }

        if (filter.Customer is { } customer && !caller.CanSee(customer))
        {
            return UiEndpoints.StatusPageResult(http, StatusCodes.Status404NotFound, "No such customer", $"There is no customer \"{customer}\" for this key; a customer's key sees only its own loads.");
        }

        IReadOnlyList<Load> items = [];
        LoadPosition? older = null, newer = null;
        if (problems.Count == 0)
        {
            var query = new LoadQuery
            {
                Pipeline = filter.Pipeline,
                Status = status,
                Customer = filter.Customer ?? caller.CustomerFilter,
                ErrorKind = kind,
                SourceKey = filter.SourceKey,
                SourceKeyMatch = match,
                CreatedSince = since,
                CreatedUntil = until,
                ByCreatedAt = true,
                Limit = PageSize + 1, // one more than shown: whether there is another page, without counting
            };
            if (after is { } above && before is null)
            {
                // Newer: the loads just above the page's first one, read oldest first, shown newest first.
                var loads = await state.Runtime.Catalog.ListLoadsAsync(query with { After = above, NewestFirst = false }, ct);
                items = loads.Take(PageSize).Reverse().ToList();
                newer = loads.Count > PageSize ? LoadPosition.Of(items[0]) : null;
                // An empty page (the loads above went away) still offers the way back down, from where it stood.
                older = items.Count > 0 ? LoadPosition.Of(items[^1]) : PagePosition.JustAbove(above);
            }
            else
            {
                var loads = await state.Runtime.Catalog.ListLoadsAsync(query with { Before = before, NewestFirst = true }, ct);
                items = loads.Take(PageSize).ToList();
                older = loads.Count > PageSize ? LoadPosition.Of(items[^1]) : null;
                newer = before is not { } below ? null : items.Count > 0 ? LoadPosition.Of(items[0]) : PagePosition.JustBelow(below);
            }
        }

        var pipelines = state.Config.Pipelines.Where(p => caller.CanSee(p.Customer)).Select(p => p.Name).Order(StringComparer.Ordinal).ToList();
        var customers = caller.IsAdmin ? state.Config.Pipelines.Select(p => p.Customer).Distinct().Order(StringComparer.Ordinal).ToList() : [];
        var result = UiEndpoints.Page<LoadsPage>(http, new Dictionary<string, object?>
        {
            ["Filter"] = filter,
            ["Problems"] = problems,
            ["Loads"] = items,
            ["OlderThan"] = older,
            ["NewerThan"] = newer,
            ["Pipelines"] = pipelines,
            ["Customers"] = customers,
            ["Selectable"] = status == LoadStatus.Errored && caller.CanWrite,
            ["IsPaged"] = before is not null || after is not null,
            ["CurrentUrl"] = http.Request.Path + http.Request.QueryString,
        });
        if (problems.Count > 0)
        {
            result.StatusCode = StatusCodes.Status400BadRequest;
        }

        return result;
    }

    private static DateTimeOffset? Time(string label, string? text, List<string> problems)
    {
        if (text is null)
        {
            return null;
        }

        // A datetime-local field sends 2026-12-03T07:00 without a zone: the UI writes every time in UTC, so it is read as UTC.
        if (DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var t))
        {
            return t;
        }

        problems.Add($"\"{label}\" is \"{text}\", which is not a time; write it as 2026-12-03T07:00 (UTC).");
        return null;
    }

    private static LoadPosition? Position(HttpContext http, string name, List<string> problems)
    {
        if (http.Request.Query[name] is not { Count: > 0 } values || string.IsNullOrEmpty(values[0]))
        {
            return null;
        }

        if (PagePosition.TryParse(values[0], out var position))
        {
            return position;
        }

        problems.Add($"The page position \"{name}\" is \"{values[0]}\", not one this page made; start again from the first page.");
        return null;
    }

    /// <summary>The Errors page: errored loads (of this key's customer) grouped by pipeline and error kind, from the catalog's aggregate.</summary>
    private static async Task<IResult> ErrorsAsync(HttpContext http, ServerState state, CancellationToken ct)
    {
        var caller = http.Features.Get<Caller>()!;
        var groups = await state.Queries.GroupErroredLoadsAsync(caller.CustomerFilter, ct);
        return UiEndpoints.Page<ErrorsPage>(http, new Dictionary<string, object?> { ["Groups"] = groups, ["Text"] = state.ClientText });
    }

    /// <summary>Reads the target from a query string or a form; null with the reason when it names nothing usable.</summary>
    private static RedriveTarget? Target(IEnumerable<KeyValuePair<string, Microsoft.Extensions.Primitives.StringValues>> fields, out string? problem)
    {
        var values = fields.ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal);
        string? One(string name) => values.TryGetValue(name, out var v) && v.Count > 0 && !string.IsNullOrWhiteSpace(v[0]) ? v[0]!.Trim() : null;
        var back = UiEndpoints.LocalReturnUrl(One("back") ?? UiSession.Root + "/errors");
        var pipeline = One("pipeline");
        var ids = values.TryGetValue("id", out var idValues) ? idValues.ToList() : [];
        problem = null;
        if (pipeline is not null)
        {
            var kind = One("error_kind");
            if (ids.Count > 0 || kind is null || (kind != NoKind && !ErrorKindNames.TryParse(kind, out _)))
            {
                problem = "A group is one pipeline and one error kind (or \"none\"), without load ids.";
                return null;
            }

            return new RedriveTarget([], pipeline, kind, back);
        }

        if (ids.Count == 0)
        {
            problem = "No load was selected: tick the loads to re-drive, or re-drive a whole group from the Errors page.";
            return null;
        }

        if (ids.Count > MaxSelection)
        {
            problem = $"{ids.Count} loads were selected; a selection holds at most {MaxSelection}. Re-drive their whole group from the Errors page instead.";
            return null;
        }

        var parsed = new List<long>();
        foreach (var text in ids)
        {
            if (!long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var id) || id <= 0)
            {
                problem = $"\"{text}\" is not a load id.";
                return null;
            }

            parsed.Add(id);
        }

        return new RedriveTarget(parsed.Distinct().ToList(), null, null, back);
    }

    /// <summary>The confirmation: how many loads the re-drive is about, counted as the key sees them; nothing changes here.</summary>
    private static async Task<IResult> ConfirmAsync(HttpContext http, ServerState state, CancellationToken ct)
    {
        var caller = http.Features.Get<Caller>()!;
        if (Target(http.Request.Query, out var problem) is not { } target)
        {
            return UiEndpoints.StatusPageResult(http, StatusCodes.Status400BadRequest, "Nothing to re-drive", problem!);
        }

        long count;
        if (target.IsGroup)
        {
            if (PipelineEndpoints.Find(state, caller, target.Pipeline!) is null)
            {
                return UiEndpoints.StatusPageResult(http, StatusCodes.Status404NotFound, "No such pipeline", $"There is no pipeline named \"{target.Pipeline}\" for this key.");
            }

            // The catalog's aggregate, the same the Errors page shows: no count over the loads themselves.
            var groups = await state.Queries.GroupErroredLoadsAsync(caller.CustomerFilter, ct);
            count = groups.FirstOrDefault(g => g.Pipeline == target.Pipeline && KindWord(g.Kind) == target.Kind)?.Loads ?? 0;
        }
        else
        {
            count = 0;
            foreach (var id in target.Ids)
            {
                if (await LoadEndpoints.FindAsync(state, caller, id, ct) is { Status: LoadStatus.Errored })
                {
                    count++;
                }
            }
        }

        return UiEndpoints.Page<RedriveConfirmPage>(http, new Dictionary<string, object?> { ["Target"] = target, ["Count"] = count, ["Selected"] = target.Ids.Count });
    }

    /// <summary>
    /// Re-drives the selection or the group, one compare-and-set per load, and redirects to the page it came from with
    /// how many were re-driven, how many had changed meanwhile (no longer errored, or taken by someone else first) and
    /// how many this key cannot see (never touched).
    /// </summary>
    private static async Task<IResult> RedriveAsync(HttpContext http, ServerState state, CancellationToken ct)
    {
        var caller = http.Features.Get<Caller>()!;
        var form = await http.Request.ReadFormAsync(ct);
        if (Target(form, out var problem) is not { } target)
        {
            return UiEndpoints.StatusPageResult(http, StatusCodes.Status400BadRequest, "Nothing to re-drive", problem!);
        }

        int done = 0, changed = 0, notFound = 0;
        async Task OneAsync(Load load)
        {
            // Only errored loads: the page offered errored ones, and one that is anything else now changed meanwhile.
            var result = load.Status == LoadStatus.Errored ? await state.Runtime.Actions.RedriveAsync(load, ct) : null;
            if (result is { Done: true })
            {
                done++;
                ServerLog.LoadAction(state.Log, load.Id, load.Pipeline, "re-driven", caller.KeyId);
            }
            else
            {
                changed++;
            }
        }

        if (target.IsGroup)
        {
            if (PipelineEndpoints.Find(state, caller, target.Pipeline!) is null)
            {
                return UiEndpoints.StatusPageResult(http, StatusCodes.Status404NotFound, "No such pipeline", $"There is no pipeline named \"{target.Pipeline}\" for this key.");
            }

            ErrorKind? kind = target.Kind == NoKind ? null : ErrorKindNames.TryParse(target.Kind, out var k) ? k : null;
            var query = new LoadQuery
            {
                Status = LoadStatus.Errored,
                Pipeline = target.Pipeline,
                Customer = caller.CustomerFilter,
                ErrorKind = kind,
                NewestFirst = false,
                Limit = RedriveBatch,
            };
            // Keyset paging by id, one batch in memory at a time: a group of any size. A load re-driven leaves the
            // query (it is ready now), which does not disturb the next batch, that starts after the last id seen.
            long? last = null;
            while (true)
            {
                var batch = await state.Runtime.Catalog.ListLoadsAsync(query with { AfterId = last }, ct);
                foreach (var load in batch)
                {
                    // The group of errored loads without a kind: the query cannot ask for "no kind", so those with one are passed over.
                    if (target.Kind == NoKind && load.ErrorKind is not null)
                    {
                        continue;
                    }

                    await OneAsync(load);
                }

                if (batch.Count < RedriveBatch)
                {
                    break;
                }

                last = batch[^1].Id;
            }
        }
        else
        {
            foreach (var id in target.Ids)
            {
                // Another customer's id is what it is for the API: no such load. It is counted, never touched.
                if (await LoadEndpoints.FindAsync(state, caller, id, ct) is { } load)
                {
                    await OneAsync(load);
                }
                else
                {
                    notFound++;
                }
            }
        }

        if (done > 0)
        {
            state.Work.Pulse();
        }

        var what = target.IsGroup ? $" of {target.GroupName}" : "";
        var text = new StringBuilder($"{Loads(done)}{what} re-driven");
        if (changed > 0)
        {
            text.Append(CultureInfo.InvariantCulture, $"; {Loads(changed)} had changed meanwhile and {(changed == 1 ? "was" : "were")} left as {(changed == 1 ? "it was" : "they were")}");
        }

        if (notFound > 0)
        {
            text.Append(CultureInfo.InvariantCulture, $"; {Loads(notFound)} not found for this key");
        }

        UiSession.SetFlash(http, new Flash(done > 0, text.Append('.').ToString()));
        return new UiEndpoints.SeeOther(target.Back);
    }

    internal static string Loads(long n) => n == 1 ? "1 load" : $"{UiFormat.Count(n)} loads";

    /// <summary>The word for a group's kind in links and forms: the kind, or <see cref="NoKind"/>.</summary>
    internal static string KindWord(ErrorKind? kind) => kind is { } k ? k.ToWord() : NoKind;
}

/// <summary>The filters of the Loads page, as they came in its query string (kept to fill the form again and to build its links).</summary>
public sealed record LoadsFilter(
    string? Pipeline, string? Status, string? Customer, string? ErrorKind, string? Since, string? Until, string? SourceKey, string? Match)
{
    internal static LoadsFilter From(HttpRequest request)
    {
        string? Get(string name) => request.Query[name] is { Count: > 0 } v && !string.IsNullOrWhiteSpace(v[0]) ? v[0]!.Trim() : null;
        return new LoadsFilter(Get("pipeline"), Get("status"), Get("customer"), Get("error_kind"), Get("since"), Get("until"), Get("source_key"), Get("source_key_match"));
    }

    /// <summary>The Loads page with these filters and, when given, a page position (<c>before</c> or <c>after</c> a load).</summary>
    public string Url(string? position = null, LoadPosition? at = null)
    {
        var query = new StringBuilder();
        void Add(string name, string? value)
        {
            if (value is not null)
            {
                query.Append(query.Length == 0 ? '?' : '&').Append(name).Append('=').Append(Uri.EscapeDataString(value));
            }
        }

        Add("pipeline", Pipeline);
        Add("status", Status);
        Add("customer", Customer);
        Add("error_kind", ErrorKind);
        Add("since", Since);
        Add("until", Until);
        Add("source_key", SourceKey);
        Add("source_key_match", Match is "contains" ? null : Match);
        if (position is not null && at is { } p)
        {
            Add(position, PagePosition.Format(p));
        }

        return UiSession.Root + "/loads" + query;
    }
}

/// <summary>
/// A load's place in the Loads page's order as its links write it: creation time (UTC, to the millisecond, as the
/// catalog keeps it) and id, <c>20261203T070001.250Z_4711</c>: readable, and nothing in it needs escaping.
/// </summary>
public static class PagePosition
{
    private const string TimeFormat = "yyyyMMdd'T'HHmmss'.'fff'Z'";

    public static string Format(LoadPosition position) =>
        position.CreatedAt.UtcDateTime.ToString(TimeFormat, CultureInfo.InvariantCulture) + "_" + position.Id.ToString(CultureInfo.InvariantCulture);

    public static bool TryParse(string? text, out LoadPosition position)
    {
        position = default;
        var cut = text?.LastIndexOf('_') ?? -1;
        if (cut <= 0
            || !DateTime.TryParseExact(text![..cut], TimeFormat, CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out var time)
            || !long.TryParse(text[(cut + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out var id) || id <= 0)
        {
            return false;
        }

        position = new LoadPosition(new DateTimeOffset(time, TimeSpan.Zero), id);
        return true;
    }

    /// <summary>A position every load at or above <paramref name="p"/> is before (for "older than this empty page").</summary>
    internal static LoadPosition JustAbove(LoadPosition p) => p with { Id = p.Id + 1 };

    /// <summary>A position every load at or below <paramref name="p"/> is after (for "newer than this empty page").</summary>
    internal static LoadPosition JustBelow(LoadPosition p) => p with { Id = p.Id - 1 };
}

/// <summary>What a re-drive form names: loads by id (a selection, or one load), or a whole group (pipeline and kind).</summary>
public sealed record RedriveTarget(IReadOnlyList<long> Ids, string? Pipeline, string? Kind, string Back)
{
    public bool IsGroup => Pipeline is not null;

    public string GroupName => $"pipeline {Pipeline} with kind {Kind}";
}
