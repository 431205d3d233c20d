namespace Intake.Core.Ports;

/// <summary>Column types a pipeline can declare; text when the table comes from a CSV header.</summary>
public enum ColumnType
{
    Text,
    Integer,
    BigInt,
    Decimal,
    Double,
    Boolean,
    Date,
    Timestamp,
    TimestampTz,
    Json,
}

public sealed record ColumnSpec(string Name, ColumnType Type, bool Nullable = true);

public sealed record WarehouseLoadRequest
{
    /// <summary>Target table, optionally schema-qualified (<c>staging.properties</c>).</summary>
    public required string Table { get; init; }
    /// <summary>Declared columns; null to create text columns from the source's header.</summary>
    public IReadOnlyList<ColumnSpec>? Columns { get; init; }
    public required long LoadId { get; init; }
    /// <summary>The step record's name and attempt, written to the warehouse's ledger in the same transaction as the rows.</summary>
    public required string Step { get; init; }
    public int Attempt { get; init; } = 1;
}

public sealed record WarehouseLoadResult(long RowsRead, long RowsWritten, long RowsDeletedFromEarlierAttempts);

/// <summary>
/// Upserts one load's staging rows into an application table (the COLD importer's "import into stingray"),
/// through an optional SQL transform, in one transaction.
/// </summary>
public sealed record WarehouseMergeRequest
{
    public required string StagingTable { get; init; }
    public required long LoadId { get; init; }
    public required string TargetTable { get; init; }
    /// <summary>The upsert key: a row whose key exists is updated, others are inserted. The target needs a unique index on it.</summary>
    public required IReadOnlyList<string> KeyColumns { get; init; }
    /// <summary>
    /// A SELECT producing the target's columns from this load's staging rows; <c>{staging}</c> and <c>{load_id}</c>
    /// are replaced. Null: every staging column but <c>_intake_load_id</c>, as it is.
    /// </summary>
    public string? TransformSql { get; init; }
    /// <summary>Idempotent statements run first in the same transaction, e.g. <c>create table if not exists …</c>.</summary>
    public string? SetupSql { get; init; }
    /// <summary>
    /// A target column that orders versions of a row (the source load id, a timestamp): an existing row is
    /// updated only when the incoming value is not older, so loads merged out of order (in parallel, or an
    /// old load re-driven) never overwrite newer data. Null: the last merge wins.
    /// </summary>
    public string? VersionColumn { get; init; }
    public required string Step { get; init; }
    public int Attempt { get; init; } = 1;
}

/// <param name="RowsKeptNewer">Rows not merged because the target held a newer version (see <see cref="WarehouseMergeRequest.VersionColumn"/>).</param>
public sealed record WarehouseMergeResult(long RowsInStaging, long RowsMerged, long RowsKeptNewer = 0);

/// <summary>
/// A database that receives bulk loads. Every row carries <c>_intake_load_id</c>; a load deletes that
/// load's earlier rows and writes the new ones in one transaction, so a re-run never duplicates.
/// </summary>
public interface IWarehouse
{
    string Name { get; }

    /// <summary>
    /// Loads every row of one or more sources into one table in one transaction. A value that cannot be cast
    /// is an <see cref="Errors.ErrorKind.Schema"/> error naming the source, row and column; nothing is written then.
    /// The sources are asked for one at a time (each is disposed before the next is opened), so they can be opened
    /// lazily with I/O of their own, such as the next entry of an archive being read; cancelling stops the load even
    /// while it waits for a source's data, and nothing is written then either.
    /// </summary>
    Task<WarehouseLoadResult> LoadAsync(WarehouseLoadRequest request, IAsyncEnumerable<IRowSource> sources, CancellationToken cancellationToken);

    /// <summary>
    /// Upserts the load's staging rows into the target table in one transaction with a ledger row; safe to repeat.
    /// A key that occurs twice in one load is an <see cref="Errors.ErrorKind.Integrity"/> error; a value the target
    /// cannot take is <see cref="Errors.ErrorKind.Schema"/>; nothing is merged then.
    /// </summary>
    Task<WarehouseMergeResult> MergeAsync(WarehouseMergeRequest request, CancellationToken cancellationToken);

    /// <summary>Rows currently in the table for a load (for audit); 0 when the table does not exist.</summary>
    Task<long> CountRowsAsync(string table, long loadId, CancellationToken cancellationToken);
}
