using Intake.Core.Model;
using Intake.Engine.Runtime;
using Intake.Engine.Scheduling;

namespace Intake.Engine.Operations;

/// <summary>What one sweep changed.</summary>
/// <param name="Returned">Loads handed back to their waiting status: their worker's process stopped, or its lease expired (or failed, having used its attempts).</param>
/// <param name="TimedOut">Loads failed past their pipeline's job timeout, as they were before.</param>
public sealed record SweepResult(int Returned, IReadOnlyList<Load> TimedOut);

/// <summary>
/// The one sweeper of every host (<c>run</c> before it drains, <c>serve</c> and <c>worker</c> on a period): hands back
/// the leases of stopped local processes at once, returns expired leases (failing a load that used its own pipeline's
/// <c>max_load_attempts</c>), and fails loads past their pipeline's job timeout. Safe in every process at once: each
/// change is a compare-and-set.
/// </summary>
public sealed class Sweeper
{
    private readonly IntakeRuntime _runtime;
    private readonly Worker _reclaimer;
    private readonly JobTimeouts _timeouts;

    public Sweeper(IntakeRuntime runtime)
    {
        _runtime = runtime;
        _reclaimer = new Worker(runtime);
        _timeouts = new JobTimeouts(runtime);
    }

    public async Task<SweepResult> SweepAsync(CancellationToken cancellationToken)
    {
        var limits = _runtime.Config.Pipelines.ToDictionary(p => p.Name, p => p.MaxLoadAttempts, StringComparer.Ordinal);
        var returned = await _reclaimer.ReclaimFromStoppedProcessesAsync(cancellationToken)
            + await _runtime.Catalog.SweepExpiredLeasesAsync(_runtime.Config.Defaults.MaxLoadAttempts, limits, cancellationToken);
        var timedOut = await _timeouts.FailTimedOutAsync(cancellationToken);
        foreach (var slice in Slices.SliceRegistry.BuiltIn)
        {
            returned += await slice.SweepAsync(_runtime, cancellationToken);
        }

        return new SweepResult(returned, timedOut);
    }
}
