using Intake.Core.Model;
using Intake.Core.Ports;
using Intake.Engine.Configuration;

namespace Intake.Engine.Cubic;

/// <summary>One ODS table as an operator sees it: its current snapshot, how far that is loaded, and its change files.</summary>
/// <param name="CurrentTable">The current-state table; null when the table has no key in <c>cubic.ods.keys</c>.</param>
/// <param name="Snapshot">The current (latest) snapshot's time; null before the first <c>LOAD…1</c> file.</param>
/// <param name="ChangeFilesApplied">Change files past their ingest steps (applied, or loaded when the table has no key).</param>
/// <param name="ChangeFilesWaiting">Change files neither applied nor held (ready, ingesting, or failed).</param>
public sealed record OdsTableReport(
    string Pipeline,
    string Table,
    string? CurrentTable,
    DateTimeOffset? Snapshot,
    string? SnapshotKey,
    int Snapshots,
    int LoadFilesLoaded,
    int LoadFilesTotal,
    int ChangeFilesApplied,
    int ChangeFilesHeld,
    int ChangeFilesWaiting);

/// <summary>The ODS tables of pipelines with <c>cubic.ods</c>, for <c>intake cubic</c> and the API, written once.</summary>
public static class OdsReport
{
    public static async Task<IReadOnlyList<OdsTableReport>> BuildAsync(IntakeConfig config, CatalogPorts ports, string? pipelineName, CancellationToken cancellationToken)
    {
        var reports = new List<OdsTableReport>();
        foreach (var pipeline in config.Pipelines.Where(p => p.Cubic?.Ods is not null && (pipelineName is null || p.Name == pipelineName)))
        {
            var ods = pipeline.Cubic!.Ods!;
            var tables = await ports.Tables.ListTablesAsync([pipeline.Name], cancellationToken);
            foreach (var table in tables.Select(t => t.Table.Name).Where(n => OdsFiles.BaseOf(n) is null && ods.Covers(n)))
            {
                var snapshots = await OdsSnapshots.ListAsync(ports.Loads, pipeline.Name, table, cancellationToken);
                var current = snapshots.Count == 0 ? null : snapshots[^1];
                var changes = await ChangeLoadsAsync(ports.Loads, pipeline.Name, table + OdsFiles.ChangeSuffix, cancellationToken);
                reports.Add(new OdsTableReport(
                    pipeline.Name,
                    table,
                    ods.CurrentTableOf(table),
                    current?.Time,
                    current?.Start.SourceKey,
                    snapshots.Count,
                    current?.Loaded.Count ?? 0,
                    current?.Members.Count ?? 0,
                    changes.Count(l => l.Status is LoadStatus.ReadyForArchiving or LoadStatus.Archiving or LoadStatus.Archived),
                    changes.Count(l => l.Status == LoadStatus.Held),
                    changes.Count(l => l.Status is LoadStatus.Ready or LoadStatus.Ingesting or LoadStatus.ReadyForErroring or LoadStatus.Erroring or LoadStatus.Errored)));
            }
        }

        return reports;
    }

    private static async Task<List<Load>> ChangeLoadsAsync(ICatalog catalog, string pipeline, string table, CancellationToken cancellationToken)
    {
        var all = new List<Load>();
        long? after = null;
        while (true)
        {
            var page = await catalog.ListLoadsAsync(new LoadQuery { Pipeline = pipeline, Table = table, AfterId = after, Limit = 1000 }, cancellationToken);
            all.AddRange(page);
            if (page.Count < 1000)
            {
                return all;
            }

            after = page[^1].Id;
        }
    }
}
