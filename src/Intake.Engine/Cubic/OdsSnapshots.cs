using Intake.Core.Model;
using Intake.Core.Ports;
using Intake.Engine.Configuration;
using Intake.Engine.Steps;

namespace Intake.Engine.Cubic;

/// <summary>What an ODS load is to the slice: a snapshot file or a change file of a base table.</summary>
public enum OdsRole
{
    /// <summary>A <c>LOAD…</c> file: rows of a snapshot.</summary>
    Snapshot,

    /// <summary>A file of the base table's change table (<c>__ct</c>).</summary>
    Change,
}

/// <summary>A snapshot of a base table: its first <c>LOAD…1</c> load, its time, and its <c>LOAD</c> loads so far.</summary>
/// <param name="Loaded">Members whose rows are in the warehouse (their load step succeeded).</param>
public sealed record OdsSnapshot(string BaseTable, Load Start, DateTimeOffset Time, IReadOnlyList<Load> Members, IReadOnlyList<Load> Loaded)
{
    public bool Complete => Loaded.Count == Members.Count;

    public string Text => OdsFiles.Text(Time);
}

/// <summary>The slice's answer for one load: its snapshot (null while it has none) and, when it must wait, why.</summary>
public sealed record OdsDecision(OdsRole Role, string BaseTable, OdsSnapshot? Snapshot, string? HeldReason);

/// <summary>
/// Which snapshot an ODS load belongs to, decided from the loads of its base table in the catalog (their ids are the
/// order discovery registered them in):
/// <list type="bullet">
/// <item>a <c>LOAD…</c> file numbered 1 starts a snapshot, timed by its object's listed modification time (when
/// collection started); other <c>LOAD</c> files join the snapshot of the last <c>LOAD…1</c> registered before them;</item>
/// <item>a change file belongs to the snapshot current when it was registered (the last <c>LOAD…1</c> before it), or,
/// when it came before any, to the first snapshot that arrives; it waits (<c>held</c>) until every <c>LOAD</c> file of
/// that snapshot is loaded.</item>
/// </list>
/// Computing it again gives the same answer, so the step, the release after a <c>LOAD</c> load and the sweeper agree.
/// </summary>
public static class OdsSnapshots
{
    /// <summary>The role of a load of this pipeline's ODS tables; null for a load the slice leaves alone.</summary>
    public static (OdsRole Role, string BaseTable)? RoleOf(PipelineConfig pipeline, Load load)
    {
        if (pipeline.Cubic?.Ods is not { } ods || load.Table is not { } table)
        {
            return null;
        }

        if (OdsFiles.BaseOf(table) is { } baseTable && ods.Covers(baseTable) && OdsFiles.IsChangeFile(load.SourceKey))
        {
            return (OdsRole.Change, baseTable);
        }

        return ods.Covers(table) && OdsFiles.LoadNumber(load.SourceKey) is not null ? (OdsRole.Snapshot, table) : null;
    }

    public static async Task<OdsDecision?> DecideAsync(PipelineConfig pipeline, Load load, ICatalog catalog, CancellationToken cancellationToken)
    {
        if (RoleOf(pipeline, load) is not var (role, baseTable))
        {
            return null;
        }

        var loads = await LoadFilesAsync(catalog, pipeline.Name, baseTable, cancellationToken);
        var starts = loads.Where(l => OdsFiles.LoadNumber(l.SourceKey) == 1).ToList();
        var start = starts.LastOrDefault(s => s.Id <= load.Id) ?? (role == OdsRole.Change ? starts.FirstOrDefault() : null);
        if (start is null)
        {
            var what = role == OdsRole.Change ? "a snapshot" : "the first LOAD file of its snapshot";
            return new OdsDecision(role, baseTable, null, $"waiting for {what} of {baseTable}: no LOAD…1 file yet");
        }

        var snapshot = await SnapshotAsync(catalog, baseTable, start, loads, cancellationToken);
        if (role == OdsRole.Snapshot || snapshot.Complete)
        {
            return new OdsDecision(role, baseTable, snapshot, null);
        }

        var failed = snapshot.Members.Count(m => m.Status is LoadStatus.Errored or LoadStatus.ReadyForErroring or LoadStatus.Erroring);
        return new OdsDecision(role, baseTable, snapshot,
            $"waiting for snapshot {OdsFiles.Display(snapshot.Time)} of {baseTable}: {snapshot.Loaded.Count} of {snapshot.Members.Count} LOAD files loaded"
            + (failed > 0 ? $" ({failed} failed: re-drive them)" : ""));
    }

    /// <summary>The snapshots of a base table, oldest first, each with its members.</summary>
    public static async Task<IReadOnlyList<OdsSnapshot>> ListAsync(ICatalog catalog, string pipeline, string baseTable, CancellationToken cancellationToken)
    {
        var loads = await LoadFilesAsync(catalog, pipeline, baseTable, cancellationToken);
        var list = new List<OdsSnapshot>();
        foreach (var start in loads.Where(l => OdsFiles.LoadNumber(l.SourceKey) == 1))
        {
            list.Add(await SnapshotAsync(catalog, baseTable, start, loads, cancellationToken));
        }

        return list;
    }

    private static async Task<OdsSnapshot> SnapshotAsync(ICatalog catalog, string baseTable, Load start, IReadOnlyList<Load> loads, CancellationToken cancellationToken)
    {
        var next = loads.FirstOrDefault(l => l.Id > start.Id && OdsFiles.LoadNumber(l.SourceKey) == 1);
        var members = loads.Where(l => l.Id >= start.Id && (next is null || l.Id < next.Id)).ToList();
        var loaded = new List<Load>();
        foreach (var member in members)
        {
            if (await IsLoadedAsync(catalog, member, cancellationToken))
            {
                loaded.Add(member);
            }
        }

        return new OdsSnapshot(baseTable, start, start.SourceModified ?? start.CreatedAt, members, loaded);
    }

    /// <summary>Whether a load's rows are in the warehouse: past its ingest steps, or its load step succeeded.</summary>
    private static async Task<bool> IsLoadedAsync(ICatalog catalog, Load load, CancellationToken cancellationToken)
    {
        if (load.Status is LoadStatus.ReadyForArchiving or LoadStatus.Archiving or LoadStatus.Archived)
        {
            return true;
        }

        if (load.Status is not (LoadStatus.Ingesting or LoadStatus.Ready))
        {
            return false;
        }

        var steps = await catalog.GetStepsAsync(load.Id, cancellationToken);
        return steps.Any(s => s.Step == StepDescriptor.Load.Name && s.Outcome == StepOutcome.Succeeded);
    }

    /// <summary>The <c>LOAD…</c> loads of a base table, in registration order.</summary>
    private static async Task<IReadOnlyList<Load>> LoadFilesAsync(ICatalog catalog, string pipeline, string baseTable, CancellationToken cancellationToken)
    {
        var all = new List<Load>();
        long? after = null;
        while (true)
        {
            var page = await catalog.ListLoadsAsync(new LoadQuery { Pipeline = pipeline, Table = baseTable, AfterId = after, Limit = 1000 }, cancellationToken);
            all.AddRange(page.Where(l => OdsFiles.LoadNumber(l.SourceKey) is not null));
            if (page.Count < 1000)
            {
                return all;
            }

            after = page[^1].Id;
        }
    }
}
