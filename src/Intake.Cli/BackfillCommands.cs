using System.CommandLine;
using System.Globalization;
using Intake.Core.Model;
using Intake.Engine.Http;
using Spectre.Console;

namespace Intake.Cli;

/// <summary><c>intake backfill PIPELINE --from DAY --to DAY</c> for HTTP API pipelines.</summary>
internal static class BackfillCommands
{
    public static Command Build()
    {
        var pipeline = new Argument<string>("PIPELINE") { Description = "An HTTP API pipeline (source.kind: http)" };
        var from = new Option<string>("--from") { Description = "First day, yyyy-MM-dd (UTC)", Required = true };
        var to = new Option<string>("--to") { Description = "Last day, yyyy-MM-dd (UTC), included", Required = true };
        var rerun = new Option<bool>("--rerun") { Description = "Pull archived days again too, replacing their parts" };
        var workers = new Option<int?>("--workers", "-w") { Description = "Loads processed at once (default: the source's parallel)" };
        var cmd = new Command("backfill", "Pull each missing or failed (event, day) of a date range once, then stop. Exit 3 when a day ended errored.")
        {
            pipeline, from, to, rerun, workers,
        };
        cmd.SetAction((parse, ct) => Commands.WithRuntimeAsync(parse, async (runtime, json) =>
        {
            if (!TryDay(parse.GetValue(from)!, "--from", out var first) || !TryDay(parse.GetValue(to)!, "--to", out var last))
            {
                return ExitCodes.Usage;
            }

            var name = parse.GetValue(pipeline)!;
            if (runtime.Config.FindPipeline(name) is not { } p)
            {
                Console.Error.WriteLine($"intake: no pipeline named '{name}' (pipelines: {string.Join(", ", runtime.Config.Pipelines.Select(x => x.Name))})");
                return ExitCodes.NotFound;
            }

            var plan = await Backfill.PlanAsync(runtime, p, first, last, parse.GetValue(rerun), ct);
            var finished = await Backfill.RunAsync(runtime, p, parse.GetValue(workers) ?? p.Source.Http!.Parallel, null, ct);
            var byId = new Dictionary<long, Load>();
            foreach (var d in plan)
            {
                if (await runtime.Catalog.GetLoadAsync(d.LoadId, ct) is { } l)
                {
                    byId[d.LoadId] = l;
                }
            }

            var errored = plan.Count(d => byId.TryGetValue(d.LoadId, out var l) && l.Status == LoadStatus.Errored);
            if (json)
            {
                Json.Write(new
                {
                    pipeline = p.Name,
                    days = plan.Select(d => new
                    {
                        @event = d.Event,
                        day = d.Day.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture),
                        load = d.LoadId,
                        action = d.Action.ToString().ToLowerInvariant(),
                        status = byId.TryGetValue(d.LoadId, out var l) ? l.Status.ToWord() : null,
                        error = byId.TryGetValue(d.LoadId, out var le) ? le.ErrorMessage : null,
                    }),
                    processed = finished.Count,
                    errored,
                });
            }
            else
            {
                var table = new Table().AddColumns("event", "day", "load", "action", "status", "error");
                foreach (var d in plan)
                {
                    byId.TryGetValue(d.LoadId, out var l);
                    table.AddRow(
                        Markup.Escape(d.Event),
                        d.Day.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture),
                        d.LoadId.ToString(CultureInfo.InvariantCulture),
                        d.Action.ToString().ToLowerInvariant(),
                        l?.Status.ToWord() ?? "",
                        Markup.Escape(l?.ErrorMessage ?? ""));
                }

                Terminal.Out.Write(table);
                Terminal.Out.WriteLine($"{plan.Count(d => d.Action is BackfillAction.Registered or BackfillAction.Rerun)} day(s) registered, {plan.Count(d => d.Action == BackfillAction.Redriven)} re-driven, {plan.Count(d => d.Action == BackfillAction.Skipped)} already archived; {finished.Count} load(s) processed, {errored} errored.");
            }

            return errored > 0 ? ExitCodes.LoadsFailed : ExitCodes.Ok;
        }, ct));
        return cmd;
    }

    private static bool TryDay(string text, string option, out DateOnly day)
    {
        if (DateOnly.TryParseExact(text, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out day))
        {
            return true;
        }

        Console.Error.WriteLine($"intake: {option} '{text}' is not a day (yyyy-MM-dd)");
        return false;
    }
}
