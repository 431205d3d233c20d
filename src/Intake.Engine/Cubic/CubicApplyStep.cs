using Intake.Core.Ports;
using Intake.Core.Model;
using Intake.Engine.Steps;

namespace Intake.Engine.Cubic;

/// <summary>
/// <c>cubic_apply</c>, after <c>load</c> in a pipeline with <c>cubic.ods</c>. For a table with a declared key it keeps
/// the current-state table: a <c>LOAD</c> load that completes its snapshot rebuilds it from the snapshot's rows; a change
/// file is applied in one transaction with its ledger row (rebuilding first when the table holds an older snapshot).
/// Then, for a <c>LOAD</c> load, the table's held loads whose snapshot is now loaded are released (the sweeper does the
/// same, so a crash between the load step and this one strands nothing).
/// </summary>
/// <remarks>
/// Change files are not applied strictly in name order: the warehouse applies each with a sequence guard and
/// tombstones (<see cref="IWarehouse.ApplyChangesAsync"/>), so any order gives the table that applying every change in
/// <c>header__change_seq</c> order gives. That spares a head-of-line wait (one slow or failed file holding back all
/// later ones), lets several workers apply at once, and makes a late re-drive of an old file harmless.
/// </remarks>
public sealed class CubicApplyStep : IStep
{
    public string Name => CubicSlice.Apply.Name;

    public async Task<StepResult> RunAsync(StepContext context, CancellationToken cancellationToken)
    {
        var pipeline = context.Pipeline;
        var decision = await OdsSnapshots.DecideAsync(pipeline, context.Load, context.Catalog, cancellationToken);
        if (decision is null)
        {
            return new StepResult { Message = "not an ODS file of cubic.ods.tables: nothing to apply" };
        }

        if (decision.HeldReason is { } reason)
        {
            return StepResult.Held(reason); // its snapshot lost a LOAD file meanwhile (re-driven): wait for it again
        }

        var snapshot = decision.Snapshot!;
        var current = pipeline.Cubic!.Ods!.CurrentTableOf(decision.BaseTable);
        var result = new StepResult { Message = $"{decision.BaseTable} has no key in cubic.ods.keys: no current-state table" };
        if (current is not null && (decision.Role == OdsRole.Change || snapshot.Complete))
        {
            var warehouse = StepContext.Required(context.Warehouse, "warehouse for the load step");
            var applied = await warehouse.ApplyChangesAsync(
                new WarehouseChangeRequest
                {
                    Target = current,
                    KeyColumns = pipeline.Cubic.Ods.Keys[decision.BaseTable],
                    Generation = snapshot.Text,
                    BaseTable = pipeline.Load!.For(snapshot.Start).Table,
                    BaseLoadIds = [.. snapshot.Members.Select(m => m.Id)],
                    ExcludedColumns = [OdsFiles.SnapshotColumn],
                    ChangeTable = decision.Role == OdsRole.Change ? pipeline.Load.For(context.Load).Table : null,
                    LoadId = context.Load.Id,
                    SequenceColumn = OdsFiles.SequenceColumn,
                    OperationColumn = OdsFiles.OperationColumn,
                    Step = Name,
                    Attempt = context.Attempt,
                },
                cancellationToken);
            result = new StepResult
            {
                RowsOut = applied.RowsChanged,
                Outputs = [$"{warehouse.Name}:{current}"],
                Message = Describe(applied, current, snapshot),
            };
        }
        else if (current is not null)
        {
            result = new StepResult { Message = $"snapshot {OdsFiles.Display(snapshot.Time)} of {decision.BaseTable}: {snapshot.Loaded.Count} of {snapshot.Members.Count} LOAD files loaded; {current} is built when all are" };
        }

        if (decision.Role == OdsRole.Snapshot)
        {
            var released = await OdsRelease.ReleaseAsync(pipeline, decision.BaseTable, context.Catalog, cancellationToken);
            if (released > 0)
            {
                result = result with { Message = $"{result.Message}; released {released} held load(s)" };
            }
        }

        return result;
    }

    private static string Describe(WarehouseChangeResult applied, string current, OdsSnapshot snapshot) => applied.Outcome switch
    {
        ChangeOutcome.Built => $"{current} built from snapshot {OdsFiles.Display(snapshot.Time)} ({snapshot.Members.Count} LOAD files)",
        ChangeOutcome.AlreadyApplied => $"already applied to {current}: nothing changed",
        ChangeOutcome.Superseded => $"{current} holds a later snapshot than {OdsFiles.Display(snapshot.Time)}: nothing changed",
        _ => $"{applied.RowsChanged} row(s) changed in {current}" + (applied.Rebuilt ? $", rebuilt first from snapshot {OdsFiles.Display(snapshot.Time)}" : ""),
    };
}
