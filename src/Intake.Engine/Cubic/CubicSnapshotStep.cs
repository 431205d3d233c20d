using Intake.Core.Model;
using Intake.Engine.Steps;

namespace Intake.Engine.Cubic;

/// <summary>
/// <c>cubic_snapshot</c>, before <c>load</c> in a pipeline with <c>cubic.ods</c>: decides the snapshot an ODS load
/// belongs to (<see cref="OdsSnapshots"/>) and records it in the catalog, so the load step gives its rows that
/// <c>snapshot</c>; a change file whose snapshot is not yet loaded, or a <c>LOAD</c> file before its <c>LOAD…1</c>, is
/// held with the reason. Loads of other tables pass through. Safe to repeat: the records are upserts.
/// </summary>
public sealed class CubicSnapshotStep : IStep
{
    public string Name => CubicSlice.Snapshot.Name;

    public async Task<StepResult> RunAsync(StepContext context, CancellationToken cancellationToken)
    {
        var decision = await OdsSnapshots.DecideAsync(context.Pipeline, context.Load, context.Catalog, cancellationToken);
        if (decision is null)
        {
            return new StepResult { Message = "not an ODS file of cubic.ods.tables: nothing to decide" };
        }

        if (decision.HeldReason is { } reason)
        {
            return StepResult.Held(reason);
        }

        var snapshot = decision.Snapshot!;
        var cubic = StepContext.Required(context.Cubic, "catalog of Cubic snapshots");
        await cubic.RecordSnapshotAsync(context.Pipeline.Name, decision.BaseTable, snapshot.Time, snapshot.Start.SourceKey, cancellationToken);
        await cubic.RecordLoadSnapshotAsync(context.Load.Id, snapshot.Time, cancellationToken);
        return new StepResult { Message = $"snapshot {OdsFiles.Display(snapshot.Time)} of {decision.BaseTable} (started by {snapshot.Start.SourceKey})" };
    }
}
