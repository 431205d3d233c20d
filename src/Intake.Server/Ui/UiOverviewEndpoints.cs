using System.Globalization;
using Intake.Core.Model;
using Intake.Core.Ports;
using Intake.Engine.Configuration;
using Intake.Engine.Scheduling;
using Intake.Server.Api;
using Intake.Server.Auth;
using Intake.Server.Hosting;
using Intake.Server.Ui.Components;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Intake.Server.Ui;

/// <summary>One pipeline's line on the overview: its counts per status, runs and today's figures.</summary>
public sealed record OverviewRow(
    PipelineConfig Pipeline,
    IReadOnlyList<LoadCount> Counts,
    bool Paused,
    DateTimeOffset? LastScheduledRun,
    DateTimeOffset? NextRun,
    PipelineActivity? Activity);

/// <summary>The rows-per-hour chart: <see cref="Hours"/> consecutive UTC hours ending with the current one.</summary>
public sealed record RowsChart(DateTimeOffset First, int Hours, IReadOnlyList<HourlyRows> Rows);

/// <summary>A recent message of a mail pipeline: its load and what the route step said about it.</summary>
public sealed record MailMessageRow(Load Load, string? Route);

/// <summary>
/// The web UI's Overview (<c>/ui/</c>), Pipelines, Exports, Streams and Mail pages. Each endpoint does what the API's
/// endpoint does (the same <see cref="Caller"/> rules and lookups in <see cref="PipelineEndpoints"/>,
/// <see cref="ExportEndpoints"/> and <see cref="StreamsEndpoints"/>, the catalog's aggregates, never a count over the
/// loads) and hands the result to a component that only draws it.
/// </summary>
internal static class UiOverviewEndpoints
{
    /// <summary>The chart's span: the last 7 days, hour by hour (the current hour included).</summary>
    public const int ChartHours = 7 * 24;

    private const int PageSize = 50;

    public static void Map(RouteGroupBuilder pages, RouteGroupBuilder write)
    {
        pages.MapGet("/", OverviewAsync);
        pages.MapGet("/pipelines", PipelinesAsync);
        pages.MapGet("/pipelines/{name}", PipelineAsync);
        pages.MapGet("/exports", ExportsAsync);
        pages.MapGet("/streams", Streams);
        pages.MapGet("/mail", MailAsync);
        write.MapPost("/pipelines/{name}/pause", PauseAsync);
        write.MapPost("/pipelines/{name}/resume", ResumeAsync);
        write.MapPost("/pipelines/{name}/run", RunAsync);
    }

    /// <summary>The pipelines of the configuration this key may see, by name.</summary>
    internal static List<PipelineConfig> Visible(ServerState state, Caller caller) =>
        state.Config.Pipelines.Where(p => caller.CanSee(p.Customer)).OrderBy(p => p.Name, StringComparer.Ordinal).ToList();

    internal static bool IsMail(PipelineConfig p) => p.Source.Kind.Name == "mail";

    private static async Task<IResult> OverviewAsync(HttpContext http, ServerState state, CancellationToken ct)
    {
        var caller = http.Features.Get<Caller>()!;
        var pipelines = Visible(state, caller);
        var names = pipelines.Select(p => p.Name).ToHashSet(StringComparer.Ordinal);
        var now = state.Time.GetUtcNow();
        var thisHour = new DateTimeOffset(now.UtcDateTime.Year, now.UtcDateTime.Month, now.UtcDateTime.Day, now.UtcDateTime.Hour, 0, 0, TimeSpan.Zero);
        var first = thisHour.AddHours(-(ChartHours - 1));

        // The catalog's rollups, filtered to the key's customer as the API filters: never a count over the loads.
        var counts = await state.Queries.CountByPipelineAndStatusAsync(caller.CustomerFilter, ct);
        var activity = await state.Queries.GetPipelineActivityAsync(caller.CustomerFilter, ct);
        var hourly = await state.Queries.GetRowsPerHourAsync(caller.CustomerFilter, first, ct);
        var paused = await state.Schedules.GetPausedPipelinesAsync(ct);

        var rows = new List<OverviewRow>();
        foreach (var p in pipelines)
        {
            var last = p.Schedule is null ? null : await state.Schedules.GetLastScheduledRunAsync(p.Name, ct);
            var isPaused = paused.ContainsKey(p.Name);
            rows.Add(new OverviewRow(
                p,
                counts.Where(c => c.Pipeline == p.Name).ToList(),
                isPaused,
                last?.ScheduledFor,
                isPaused ? null : Scheduler.NextRun(p, now),
                activity.FirstOrDefault(a => a.Pipeline == p.Name)));
        }

        return UiEndpoints.Page<OverviewPage>(http, new Dictionary<string, object?>
        {
            ["Rows"] = rows,
            ["Chart"] = new RowsChart(first, ChartHours, hourly.Where(h => names.Contains(h.Pipeline) && h.Hour >= first).ToList()),
        });
    }

    private static async Task<IResult> PipelinesAsync(HttpContext http, ServerState state, CancellationToken ct)
    {
        var caller = http.Features.Get<Caller>()!;
        var paused = await state.Schedules.GetPausedPipelinesAsync(ct);
        var items = Visible(state, caller).Select(p => PipelineEndpoints.ToDto(state, p, paused.GetValueOrDefault(p.Name), null, null)).ToList();
        return UiEndpoints.Page<PipelinesPage>(http, new Dictionary<string, object?> { ["Pipelines"] = items });
    }

    private static async Task<IResult> PipelineAsync(string name, HttpContext http, ServerState state, CancellationToken ct)
    {
        var caller = http.Features.Get<Caller>()!;
        if (PipelineEndpoints.Find(state, caller, name) is not { } p)
        {
            return NoSuchPipeline(http, name);
        }

        return UiEndpoints.Page<PipelinePage>(http, new Dictionary<string, object?>
        {
            ["Pipeline"] = await PipelineEndpoints.DescribeAsync(state, p, ct),
            ["Config"] = p,
        });
    }

    private static async Task<IResult> PauseAsync(string name, HttpContext http, ServerState state, CancellationToken ct)
    {
        var caller = http.Features.Get<Caller>()!;
        if (PipelineEndpoints.Find(state, caller, name) is not { } p)
        {
            return NoSuchPipeline(http, name);
        }

        await PipelineEndpoints.PauseForAsync(state, caller, p, ct);
        return Back(http, p, new Flash(true, $"Pipeline {p.Name} paused: no scheduled runs and no new claims of its loads until it is resumed (loads in progress finish)."));
    }

    private static async Task<IResult> ResumeAsync(string name, HttpContext http, ServerState state, CancellationToken ct)
    {
        var caller = http.Features.Get<Caller>()!;
        if (PipelineEndpoints.Find(state, caller, name) is not { } p)
        {
            return NoSuchPipeline(http, name);
        }

        await PipelineEndpoints.ResumeForAsync(state, caller, p, ct);
        return Back(http, p, new Flash(true, $"Pipeline {p.Name} resumed: its loads are claimed again, and a scheduled run missed while it was paused runs once."));
    }

    /// <summary>Run now, as <c>POST /api/v1/pipelines/{name}/run</c> without parameters: discovers the whole source and queues new loads.</summary>
    private static async Task<IResult> RunAsync(string name, HttpContext http, ServerState state, CancellationToken ct)
    {
        var caller = http.Features.Get<Caller>()!;
        if (PipelineEndpoints.Find(state, caller, name) is not { } p)
        {
            return NoSuchPipeline(http, name);
        }

        if ((await state.Schedules.GetPausedPipelinesAsync(ct)).ContainsKey(p.Name))
        {
            return Back(http, p, new Flash(false, $"Pipeline {p.Name} is paused; resume it first, then run it."));
        }

        ServerLog.PipelineAction(state.Log, p.Name, "run", caller.KeyId);
        var result = await state.Runs.RunAsync(p, null, "ui", ct);
        var found = result.New == 1 ? "1 new file" : $"{result.New.ToString(CultureInfo.InvariantCulture)} new files";
        return Back(http, p, new Flash(true, $"Pipeline {p.Name} ran: {found} queued as loads, {result.Seen.ToString(CultureInfo.InvariantCulture)} seen in its source."));
    }

    private static async Task<IResult> ExportsAsync(HttpContext http, ServerState state, string? before, CancellationToken ct)
    {
        var caller = http.Features.Get<Caller>()!;
        long? beforeId = long.TryParse(before, NumberStyles.None, CultureInfo.InvariantCulture, out var b) ? b : null;
        var names = Visible(state, caller).Select(p => p.Name).ToList();
        // The export endpoint's and the watermark endpoint's lookups: requests of the key's customer, newest first; watermarks of its pipelines.
        var requests = await state.Runtime.Ports.Exports.ListExportRequestsAsync(null, caller.CustomerFilter, beforeId, PageSize + 1, ct);
        var marks = await state.Queries.ListWatermarksAsync(names, ct);
        return UiEndpoints.Page<ExportsPage>(http, new Dictionary<string, object?>
        {
            ["Requests"] = requests.Take(PageSize).ToList(),
            ["Older"] = requests.Count > PageSize ? requests[PageSize - 1].Id : (long?)null,
            ["Watermarks"] = marks.OrderBy(m => m.Pipeline, StringComparer.Ordinal).ThenBy(m => m.Partition, StringComparer.Ordinal).ToList(),
        });
    }

    private static IResult Streams(HttpContext http, ServerState state, StreamsHostedService host)
    {
        var caller = http.Features.Get<Caller>()!;
        var streams = state.Config.Streams
            .Where(s => StreamsEndpoints.Find(state, caller, s.Name) is not null)
            .OrderBy(s => s.Name, StringComparer.Ordinal)
            .Select(s => StreamsEndpoints.ToDto(state, host, s))
            .ToList();
        return streams.Count == 0
            ? UiEndpoints.StatusPageResult(http, StatusCodes.Status404NotFound, "No streams", "No stream of this key's pipelines is configured (a stream is a 'streams:' entry of the configuration).")
            : UiEndpoints.Page<StreamsPage>(http, new Dictionary<string, object?> { ["Streams"] = streams });
    }

    /// <summary>The newest messages of the key's mail pipelines: their loads, and the route each was matched to.</summary>
    private static async Task<IResult> MailAsync(HttpContext http, ServerState state, CancellationToken ct)
    {
        var caller = http.Features.Get<Caller>()!;
        var mail = Visible(state, caller).Where(IsMail).ToList();
        if (mail.Count == 0)
        {
            return UiEndpoints.StatusPageResult(http, StatusCodes.Status404NotFound, "No mail pipelines", "No pipeline of this key has a mail source.");
        }

        var messages = new List<MailMessageRow>();
        foreach (var p in mail)
        {
            var loads = await state.Runtime.Catalog.ListLoadsAsync(new LoadQuery { Pipeline = p.Name, Customer = caller.CustomerFilter, NewestFirst = true, Limit = 20 }, ct);
            foreach (var load in loads)
            {
                var steps = await state.Runtime.Catalog.GetStepsAsync(load.Id, ct);
                var route = steps.LastOrDefault(s => s.Step == Engine.Mail.MailSlice.Route.Name && s.Outcome == StepOutcome.Succeeded);
                messages.Add(new MailMessageRow(load, route?.Message));
            }
        }

        return UiEndpoints.Page<MailPage>(http, new Dictionary<string, object?>
        {
            ["Pipelines"] = mail.Select(p => p.Name).ToList(),
            ["Messages"] = messages.OrderByDescending(m => m.Load.Id).Take(PageSize).ToList(),
            ["Text"] = state.ClientText,
        });
    }

    /// <summary>Post, redirect, get: the pipeline's page shows the action's result.</summary>
    private static IResult Back(HttpContext http, PipelineConfig p, Flash flash)
    {
        UiSession.SetFlash(http, flash);
        return new UiEndpoints.SeeOther($"{UiSession.Root}/pipelines/{Uri.EscapeDataString(p.Name)}");
    }

    private static IResult NoSuchPipeline(HttpContext http, string name) =>
        UiEndpoints.StatusPageResult(http, StatusCodes.Status404NotFound, "No such pipeline", $"There is no pipeline named '{name}' for this key; the Pipelines page lists them.");
}
