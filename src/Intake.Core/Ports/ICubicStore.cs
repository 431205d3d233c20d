namespace Intake.Core.Ports;

/// <summary>A snapshot of a source table: when collection started (the first LOAD file's modification time) and that file's key.</summary>
public sealed record CubicSnapshot(string Table, DateTimeOffset Snapshot, string SnapshotKey, DateTimeOffset CreatedAt);

/// <summary>
/// The Cubic slice's ODS snapshots, as the Cubic design lists them: one row per snapshot of a source table
/// (<c>cubic_table_snapshots</c>) and the snapshot each load was ingested under (<c>cubic_load_snapshots</c>). Which
/// snapshot a load belongs to is decided by the engine from the loads of the table; these rows record it, so operators
/// and queries see the same answer.
/// </summary>
public interface ICubicStore
{
    /// <summary>
    /// Records a snapshot of a registered source table unless it is there already (a re-drive of its first LOAD
    /// file); safe from several processes at once.
    /// </summary>
    /// <exception cref="InvalidOperationException">The table is not registered for the pipeline.</exception>
    Task RecordSnapshotAsync(string pipeline, string table, DateTimeOffset snapshot, string snapshotKey, CancellationToken cancellationToken);

    /// <summary>Records (or replaces) the snapshot a load belongs to.</summary>
    Task RecordLoadSnapshotAsync(long loadId, DateTimeOffset snapshot, CancellationToken cancellationToken);

    /// <summary>The snapshot a load was recorded under; null when none was.</summary>
    Task<DateTimeOffset?> GetLoadSnapshotAsync(long loadId, CancellationToken cancellationToken);

    /// <summary>The snapshots of a pipeline's tables (of one table when given), oldest first per table.</summary>
    Task<IReadOnlyList<CubicSnapshot>> ListSnapshotsAsync(string pipeline, string? table, CancellationToken cancellationToken);
}
