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

/// <summary>
/// A column every row of one load gets with the same value, which the source does not hold (the snapshot a file
/// belongs to, the day a daily file covers). <see cref="Value"/> is of the type's .NET counterpart:
/// <see cref="DateTimeOffset"/> for <see cref="ColumnType.TimestampTz"/>, <see cref="DateOnly"/> for
/// <see cref="ColumnType.Date"/>, <see cref="long"/>, <see cref="string"/>, and so on.
/// </summary>
public sealed record ConstantColumn(string Name, ColumnType Type, object Value)
{
    /// <summary>
    /// The value as text, the same wherever it is written (a replaced partition's key, a lake folder's name): a day as
    /// <c>2022-03-04</c>, a time in UTC as <c>2022-03-04T13:45:56Z</c> (with its fraction of a second when it has one).
    /// </summary>
    public string Text => Value switch
    {
        DateOnly d => d.ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture),
        DateTimeOffset t => t.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.FFFFFFF'Z'", System.Globalization.CultureInfo.InvariantCulture),
        DateTime t => t.ToString("yyyy-MM-dd'T'HH:mm:ss.FFFFFFF", System.Globalization.CultureInfo.InvariantCulture),
        bool b => b ? "true" : "false",
        IFormattable f => f.ToString(null, System.Globalization.CultureInfo.InvariantCulture),
        _ => Value.ToString() ?? "",
    };
}

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
    /// <summary>
    /// Columns written with one value for every row of this load, in the load's transaction; a table created by the
    /// load gets them (nullable), and an existing table without one gets it added.
    /// </summary>
    public IReadOnlyList<ConstantColumn> Constants { get; init; } = [];

    /// <summary>
    /// Names of <see cref="Constants"/> whose values make a partition that one load replaces whole (a daily file's day):
    /// in the load's transaction the rows of other loads with the same values are deleted before this load's rows are
    /// kept, so a re-delivered day replaces that day. The newest load wins whatever order they run in: the load with the
    /// greatest id keeps the partition, and an older load run later (a re-drive) finds its rows superseded and keeps none.
    /// Empty: rows of other loads are never touched.
    /// </summary>
    public IReadOnlyList<string> ReplaceWhere { get; init; } = [];

    /// <summary>
    /// COPY connections writing the load's rows at once (<c>load.streams</c>), for a big file into PostgreSQL: one reader
    /// parses, this many encoders and connections write. 1 (the default) writes in the load's own transaction; more
    /// commit their rows just before the load's ledger row, and a retry deletes whatever a failed attempt left.
    /// Warehouses that write through one connection ignore it.
    /// </summary>
    public int Streams { get; init; } = 1;

    /// <summary>
    /// A small load (<c>defaults.small_loads_up_to</c>): a warehouse may encode its rows in memory before it sends any and
    /// commit them in one transaction with other small loads into the same table, each load still with its own ledger
    /// row, so each is there whole or not at all. Warehouses that commit each load alone ignore it.
    /// </summary>
    public bool Small { get; init; }
}

/// <summary>Rows one load wrote that the rows of another, newer load replaced (same values of <see cref="WarehouseLoadRequest.ReplaceWhere"/>).</summary>
/// <param name="LoadId">The load whose rows were replaced.</param>
/// <param name="ReplacedBy">The newer load whose rows the partition holds instead.</param>
/// <param name="Partition">The partition as text: <c>day=2022-03-04</c> (several constants joined by <c>/</c>).</param>
/// <param name="Rows">How many of the load's rows were replaced.</param>
public sealed record ReplacedRows(long LoadId, long ReplacedBy, string Partition, long Rows);

public sealed record WarehouseLoadResult(long RowsRead, long RowsWritten, long RowsDeletedFromEarlierAttempts)
{
    /// <summary>Rows of older loads this load replaced (<see cref="WarehouseLoadRequest.ReplaceWhere"/>), one entry per load.</summary>
    public IReadOnlyList<ReplacedRows> Replaced { get; init; } = [];

    /// <summary>Set when a newer load holds the partition: this load's rows were written and replaced at once, none kept.</summary>
    public ReplacedRows? Superseded { get; init; }
}

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
/// Keeps a current-state table from a change log (change data capture): a generation's starting rows (a snapshot)
/// and then change rows, each with a sequence and an operation, applied one change load at a time in one
/// transaction with a ledger row. Per key only a change with a greater sequence wins, and a delete leaves a
/// tombstone (<c>&lt;target&gt;__deleted</c>), so change loads may be applied in any order and a late one never
/// brings back a deleted row. Sequences compare as text: give them a fixed width.
/// </summary>
public sealed record WarehouseChangeRequest
{
    /// <summary>The current-state table (created with the base table's columns, a unique index on the key and <c>_intake_change_seq</c>).</summary>
    public required string Target { get; init; }
    public required IReadOnlyList<string> KeyColumns { get; init; }
    /// <summary>Names the starting rows; later generations compare greater as text (an ISO time in UTC does).</summary>
    public required string Generation { get; init; }
    /// <summary>The table holding the generation's starting rows, and the loads whose rows they are.</summary>
    public required string BaseTable { get; init; }
    public required IReadOnlyList<long> BaseLoadIds { get; init; }
    /// <summary>Columns of the base table not copied to the target (besides <c>_intake_load_id</c>).</summary>
    public IReadOnlyList<string> ExcludedColumns { get; init; } = [];
    /// <summary>The table of the change rows; null to (re)build the generation's starting state only.</summary>
    public string? ChangeTable { get; init; }
    /// <summary>The change load to apply (its rows in <see cref="ChangeTable"/>); also the ledger row's load.</summary>
    public required long LoadId { get; init; }
    public string SequenceColumn { get; init; } = "seq";
    public string OperationColumn { get; init; } = "op";
    /// <summary>Operation values that insert or update the row (the change holds the whole row).</summary>
    public IReadOnlyList<string> UpsertOperations { get; init; } = ["I", "U"];
    public IReadOnlyList<string> DeleteOperations { get; init; } = ["D"];
    public required string Step { get; init; }
    public int Attempt { get; init; } = 1;
}

/// <summary>What applying a change load did.</summary>
public enum ChangeOutcome
{
    /// <summary>The change rows were applied.</summary>
    Applied,
    /// <summary>This change load was applied to this generation before: nothing changed.</summary>
    AlreadyApplied,
    /// <summary>The target holds a later generation: nothing changed.</summary>
    Superseded,
    /// <summary>Only the starting state was (re)built (no change table given).</summary>
    Built,
}

/// <param name="Rebuilt">Whether the target was rebuilt from the generation's starting rows in this transaction.</param>
/// <param name="RowsChanged">Rows inserted, updated or deleted by the change load.</param>
public sealed record WarehouseChangeResult(ChangeOutcome Outcome, bool Rebuilt, long RowsChanged);

/// <summary>How a table of a <see cref="WarehouseTablesRequest"/> takes the load's rows.</summary>
public enum TableWriteMode
{
    /// <summary>The load's rows are added; its rows from an earlier attempt are replaced, other loads' rows stay.</summary>
    Append,

    /// <summary>
    /// As <see cref="Append"/>, then per key (<see cref="WarehouseTableWrite.Key"/>) the newest load wins: rows of older
    /// loads with a key this load has are deleted, and this load's rows whose key a newer load has are dropped, so a
    /// re-delivered report replaces its rows and an old load re-driven never overwrites newer data. Loads are ordered by
    /// their id (the order they were registered in).
    /// </summary>
    Upsert,
}

/// <summary>One table of a <see cref="WarehouseTablesRequest"/>: where rows go, how, and the sources they come from.</summary>
public sealed record WarehouseTableWrite
{
    /// <summary>Target table, optionally schema-qualified.</summary>
    public required string Table { get; init; }

    /// <summary>Declared columns; null to create text columns from the first source's header.</summary>
    public IReadOnlyList<ColumnSpec>? Columns { get; init; }

    public TableWriteMode Mode { get; init; } = TableWriteMode.Append;

    /// <summary>The columns that identify a row for <see cref="TableWriteMode.Upsert"/> (constant columns may be among them); empty for append.</summary>
    public IReadOnlyList<string> Key { get; init; } = [];

    /// <summary>Columns with one value for every row of this load in this table (see <see cref="WarehouseLoadRequest.Constants"/>).</summary>
    public IReadOnlyList<ConstantColumn> Constants { get; init; } = [];

    /// <summary>The rows, asked for one source at a time as in <see cref="IWarehouse.LoadAsync"/>; none leaves the table as it is.</summary>
    public required IAsyncEnumerable<IRowSource> Sources { get; init; }
}

/// <summary>Rows of one load into several tables in one transaction, with a ledger row per table (a parsing module's output).</summary>
public sealed record WarehouseTablesRequest
{
    public required long LoadId { get; init; }
    public required string Step { get; init; }
    public int Attempt { get; init; } = 1;

    /// <summary>The tables, written in this order; each table at most once.</summary>
    public required IReadOnlyList<WarehouseTableWrite> Tables { get; init; }
}

/// <param name="RowsReplaced">Upsert: rows of older loads deleted because this load has their key.</param>
/// <param name="RowsKeptNewer">Upsert: rows of this load not kept because a newer load has their key.</param>
public sealed record WarehouseTableResult(string Table, long RowsRead, long RowsWritten, long RowsDeletedFromEarlierAttempts, long RowsReplaced = 0, long RowsKeptNewer = 0);

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

    /// <summary>
    /// Applies one change load to a current-state table (rebuilding it first from the generation's starting rows when
    /// it holds another generation), in one transaction with a ledger row; safe to repeat.
    /// </summary>
    Task<WarehouseChangeResult> ApplyChangesAsync(WarehouseChangeRequest request, CancellationToken cancellationToken);

    /// <summary>
    /// Writes one load's rows into several tables (<see cref="WarehouseTablesRequest.Tables"/>) in one transaction with a
    /// ledger row per table: all of them or none, so a failure in the second table leaves the first untouched, and a
    /// re-run replaces the load's earlier rows as <see cref="LoadAsync"/> does. Errors as for <see cref="LoadAsync"/>;
    /// an upsert key that occurs twice in the load, or has an empty value, is an <see cref="Errors.ErrorKind.Integrity"/> error.
    /// </summary>
    Task<IReadOnlyList<WarehouseTableResult>> WriteTablesAsync(WarehouseTablesRequest request, CancellationToken cancellationToken);

    /// <summary>Rows currently in the table for a load (for audit); 0 when the table does not exist.</summary>
    Task<long> CountRowsAsync(string table, long loadId, CancellationToken cancellationToken);

    /// <summary>
    /// The load's rows that a newer load replaced (<see cref="WarehouseLoadRequest.ReplaceWhere"/>), for audit: they are
    /// no longer in the table, by design; null when none were.
    /// </summary>
    Task<ReplacedRows?> GetReplacedAsync(string table, long loadId, CancellationToken cancellationToken);
}
