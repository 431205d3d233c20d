using Intake.Core.Ports;
using Intake.Engine.Configuration;
using Intake.Engine.Runtime;
using Microsoft.Extensions.Logging;

namespace Intake.Engine.Scheduling;

/// <summary>
/// Fires each scheduled pipeline's runs. Every server process runs one; the catalog's
/// <see cref="IScheduleStore.TryClaimScheduledRunAsync"/> lets exactly one of them take each run.
/// </summary>
/// <remarks>
/// Rules: the run due is the latest tick after the last run taken (by any process) and not after now, so after
/// downtime the missed ticks collapse into one run. A pipeline that never ran starts at the first tick after
/// this process first saw it (deploying at 08:00 a "0 7 * * *" pipeline does not run at once). A paused
/// pipeline's ticks are not taken: on resume, the latest missed one runs once. Delivery is at most once per
/// tick: a run that fails (source unreachable) is logged and the next tick tries again.
/// </remarks>
public sealed class Scheduler
{
    private readonly IntakeRuntime _runtime;
    private readonly IScheduleStore _store;
    private readonly PipelineRuns _runs;
    private readonly ILogger _log;
    private readonly Dictionary<string, DateTimeOffset> _firstSeen = new(StringComparer.Ordinal);
    // Earliest time anything can be due per pipeline, so an idle check costs no catalog query.
    private readonly Dictionary<string, DateTimeOffset> _notBefore = new(StringComparer.Ordinal);

    public Scheduler(IntakeRuntime runtime, IScheduleStore store, PipelineRuns runs, string owner)
    {
        _runtime = runtime;
        _store = store;
        _runs = runs;
        Owner = owner;
        _log = runtime.Logs.CreateLogger("Intake.Scheduler");
    }

    /// <summary>This process, as recorded on the runs it takes.</summary>
    public string Owner { get; }

    /// <summary>Raised after this process took and ran a scheduled run (for metrics).</summary>
    public event Action<PipelineConfig, DateTimeOffset, PipelineRunResult?>? Fired;

    /// <summary>Checks every scheduled pipeline once, now; runs (and awaits) the runs this process takes. Returns their times.</summary>
    public async Task<IReadOnlyList<ScheduledRun>> TickAsync(CancellationToken cancellationToken)
    {
        var now = _runtime.Time.GetUtcNow();
        var fired = new List<ScheduledRun>();
        var scheduled = _runtime.Config.Pipelines.Where(p => p.Schedule is not null).ToList();
        if (scheduled.Count == 0)
        {
            return fired;
        }

        IReadOnlyDictionary<string, PipelinePause>? paused = null;
        foreach (var pipeline in scheduled)
        {
            var schedule = pipeline.Schedule!;
            if (!_firstSeen.TryGetValue(pipeline.Name, out var firstSeen))
            {
                firstSeen = now;
                _firstSeen[pipeline.Name] = now;
            }

            if (_notBefore.TryGetValue(pipeline.Name, out var notBefore) && now < notBefore)
            {
                continue;
            }

            paused ??= await _store.GetPausedPipelinesAsync(cancellationToken);
            if (paused.ContainsKey(pipeline.Name))
            {
                continue;
            }

            // The last run may have been taken by another process: always ask the catalog once something may be due.
            var last = await _store.GetLastScheduledRunAsync(pipeline.Name, cancellationToken);
            var after = last?.ScheduledFor ?? firstSeen;
            var due = schedule.Latest(after, now);
            _notBefore[pipeline.Name] = schedule.Next(now);
            if (due is null)
            {
                continue;
            }

            if (!await _store.TryClaimScheduledRunAsync(pipeline.Name, due.Value, Owner, cancellationToken))
            {
                continue; // another process took this run
            }

            SchedulingLog.Fired(_log, pipeline.Name, due.Value, Owner);
            fired.Add(new ScheduledRun(pipeline.Name, due.Value, Owner, now));
            PipelineRunResult? result = null;
            try
            {
                result = await _runs.RunAsync(pipeline, null, "schedule", cancellationToken);
            }
            catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                SchedulingLog.RunFailed(_log, e, pipeline.Name, due.Value);
            }

            Fired?.Invoke(pipeline, due.Value, result);
        }

        return fired;
    }

    /// <summary>The next time the pipeline's schedule fires after <paramref name="now"/>; null when it has no schedule.</summary>
    public static DateTimeOffset? NextRun(PipelineConfig pipeline, DateTimeOffset now) => pipeline.Schedule?.Next(now);
}
