using Intake.Core.Model;
using Intake.Engine.Configuration;
using Intake.Engine.Runtime;

namespace Intake.Engine.Http;

/// <summary>What a backfill did with one (event, day).</summary>
public enum BackfillAction
{
    /// <summary>Registered now: the day was never pulled.</summary>
    Registered,
    /// <summary>It had failed (errored or held) and was sent through its steps again.</summary>
    Redriven,
    /// <summary>Already archived: left alone (a backfill runs each day once).</summary>
    Skipped,
    /// <summary>Already waiting or being worked on; the drain takes it with the others.</summary>
    Waiting,
    /// <summary>Registered again under a new fingerprint (<c>--rerun</c>): the day is pulled again and its parts replaced.</summary>
    Rerun,
}

public sealed record BackfillDay(string Event, DateOnly Day, long LoadId, BackfillAction Action);

/// <summary>
/// <c>intake backfill PIPELINE --from DAY --to DAY</c>: registers each missing (event, day), re-drives the failed ones and
/// skips the archived ones, then drains the pipeline's waiting loads like <c>run --once</c> (without the scheduled
/// day's discovery). A second backfill of the same days therefore does nothing.
/// </summary>
public static class Backfill
{
    public const int MaxDays = 3660;

    public static async Task<IReadOnlyList<BackfillDay>> PlanAsync(IntakeRuntime runtime, PipelineConfig pipeline, DateOnly from, DateOnly to, bool rerun, CancellationToken cancellationToken)
    {
        var config = pipeline.Source.Http ?? throw new ArgumentException($"pipeline '{pipeline.Name}' does not read an HTTP API (source.kind: http); backfill applies to API pipelines only");
        if (to < from)
        {
            throw new ArgumentException($"--to {to:yyyy-MM-dd} is before --from {from:yyyy-MM-dd}");
        }

        if (to.DayNumber - from.DayNumber >= MaxDays)
        {
            throw new ArgumentException($"at most {MaxDays} days at once");
        }

        var plan = new List<BackfillDay>();
        var stamp = runtime.Time.GetUtcNow().ToUnixTimeMilliseconds();
        for (var day = from; day <= to; day = day.AddDays(1))
        {
            foreach (var e in config.Events)
            {
                var key = HttpLoads.SourceKey(e, day);
                var registered = await runtime.Catalog.RegisterLoadAsync(new NewLoad(pipeline.Name, pipeline.Customer, key, HttpLoads.DayFingerprint), cancellationToken);
                var load = registered.Load;
                BackfillAction action;
                if (registered.Created)
                {
                    action = BackfillAction.Registered;
                }
                else if (rerun && load.Status == LoadStatus.Archived)
                {
                    var again = await runtime.Catalog.RegisterLoadAsync(new NewLoad(pipeline.Name, pipeline.Customer, key, $"rerun:{stamp}"), cancellationToken);
                    load = again.Load;
                    action = BackfillAction.Rerun;
                }
                else if (load.Status is LoadStatus.Errored or LoadStatus.Held)
                {
                    var redriven = await runtime.Catalog.TransitionAsync(load.Id, load.Status, LoadStatus.Ready, new TransitionDetails { ClearError = true, ResetAttempts = true }, cancellationToken);
                    action = redriven ? BackfillAction.Redriven : BackfillAction.Waiting;
                }
                else
                {
                    action = load.Status == LoadStatus.Archived ? BackfillAction.Skipped : BackfillAction.Waiting;
                }

                plan.Add(new BackfillDay(e, day, load.Id, action));
            }
        }

        return plan;
    }

    /// <summary>Drains the pipeline's waiting loads with <paramref name="workers"/> workers; returns the loads that reached a final status.</summary>
    public static Task<IReadOnlyList<Load>> RunAsync(IntakeRuntime runtime, PipelineConfig pipeline, int workers, IRunObserver? observer, CancellationToken cancellationToken) =>
        new Runner(runtime, observer).DrainAsync([pipeline.Name], workers, cancellationToken);
}
