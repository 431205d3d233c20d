using Intake.Core.Ports;

namespace Intake.Warehouse.Loading;

/// <summary>
/// One open transaction on one warehouse database: the dialect-specific primitives that
/// <see cref="LoadRunner"/> composes, so both warehouses load with exactly the same rules.
/// Disposing without <see cref="CommitAsync"/> rolls everything back.
/// </summary>
internal interface IWarehouseSession : IAsyncDisposable
{
    /// <summary>
    /// True when the database stores any value in any column (SQLite): declared types then decide the cast
    /// even when the table says otherwise, and unknown column types take text.
    /// </summary>
    bool StoresAnyType { get; }

    /// <summary>The table's columns, or null when it does not exist.</summary>
    Task<TableShape?> DescribeAsync(TableName table, CancellationToken cancellationToken);

    /// <summary>
    /// What a load starts with: the table's columns as <see cref="DescribeAsync"/>, and, where the dialect can do it in
    /// the same round trip, the load's earlier rows deleted as <see cref="DeleteEarlierAttemptAsync"/> (their count;
    /// null when not done, and the caller deletes them once it has checked the table).
    /// </summary>
    Task<(TableShape? Shape, long? EarlierRowsDeleted)> DescribeForLoadAsync(TableName table, long loadId, CancellationToken cancellationToken);

    /// <summary>
    /// Serialises schema changes among concurrent loads, held until the transaction ends; callers describe
    /// the table again afterwards, because another load may have created it meanwhile.
    /// </summary>
    Task LockSchemaChangesAsync(CancellationToken cancellationToken);

    /// <summary>Creates the table with its columns and <c>_intake_load_id</c>, without the index on it.</summary>
    Task CreateTableAsync(TableName table, IReadOnlyList<ColumnSpec> columns, CancellationToken cancellationToken);

    /// <summary>Adds a nullable column to an existing table.</summary>
    Task AddColumnAsync(TableName table, ColumnSpec column, CancellationToken cancellationToken);

    /// <summary>Sets each constant column of every row of one load to its value.</summary>
    Task SetConstantsAsync(TableName table, long loadId, IReadOnlyList<ConstantColumn> constants, CancellationToken cancellationToken);

    /// <summary>Indexes <c>_intake_load_id</c> of a table created by this session, once its first rows are in.</summary>
    Task CreateLoadIdIndexAsync(TableName table, CancellationToken cancellationToken);

    /// <summary>
    /// Applies the warehouse's migrations (its own tables: the ledger) that the database has not recorded yet, in
    /// this session's transaction, after taking the schema lock; <see cref="WarehouseMigrations"/> calls it.
    /// </summary>
    /// <param name="warehouse">The warehouse's name, for messages.</param>
    /// <param name="now">When, for the version table.</param>
    /// <param name="cancellationToken">Stops the migration; nothing of it stays.</param>
    Task MigrateAsync(string warehouse, DateTimeOffset now, CancellationToken cancellationToken);

    Task<long> DeleteLoadAsync(TableName table, long loadId, CancellationToken cancellationToken);

    /// <summary>
    /// Deletes the rows an earlier attempt of the load committed, before the load copies its own: as
    /// <see cref="DeleteLoadAsync"/>, except that a dialect may skip the table when the warehouse holds no evidence of
    /// earlier rows of the load (PostgreSQL: no ledger row, no streamed row). Not for rows this transaction wrote.
    /// </summary>
    Task<long> DeleteEarlierAttemptAsync(TableName table, long loadId, CancellationToken cancellationToken);

    /// <summary>Copies every remaining row of <paramref name="source"/>.</summary>
    Task<CopyCount> CopyAsync(TableName table, CopyPlan plan, IRowSource source, long loadId, CancellationToken cancellationToken);

    /// <summary>
    /// Records the load's ledger row in this transaction. A dialect may hold it back and send it with
    /// <see cref="CommitAsync"/>: nothing else in the transaction may depend on it.
    /// </summary>
    Task RecordLedgerAsync(WarehouseLoadRequest request, long rowsWritten, DateTimeOffset committedAt, CancellationToken cancellationToken);

    /// <summary>
    /// The load that holds a partition of a table (<c>_intake_partitions</c>), locked until the transaction ends so
    /// that loads of one partition run one after the other; when no load holds it yet, <paramref name="loadId"/> takes it.
    /// </summary>
    Task<long> ClaimPartitionAsync(string table, string partition, long loadId, DateTimeOffset now, CancellationToken cancellationToken);

    /// <summary>Makes <paramref name="loadId"/> the holder of a partition claimed in this transaction.</summary>
    Task SetPartitionAsync(string table, string partition, long loadId, DateTimeOffset now, CancellationToken cancellationToken);

    /// <summary>The rows of loads other than <paramref name="loadId"/> whose columns hold the constants' values, per load.</summary>
    Task<IReadOnlyList<(long LoadId, long Rows)>> CountOtherLoadsAsync(TableName table, IReadOnlyList<ConstantColumn> where, long loadId, CancellationToken cancellationToken);

    /// <summary>Deletes the rows that <see cref="CountOtherLoadsAsync"/> counts.</summary>
    Task<long> DeleteOtherLoadsAsync(TableName table, IReadOnlyList<ConstantColumn> where, long loadId, CancellationToken cancellationToken);

    /// <summary>Records (or records again) that a load's rows were replaced (<c>_intake_replaced</c>).</summary>
    Task RecordReplacedAsync(string table, ReplacedRows replaced, DateTimeOffset now, CancellationToken cancellationToken);

    /// <summary>Forgets an earlier record that the load's rows were replaced: it keeps its rows now.</summary>
    Task ForgetReplacedAsync(string table, long loadId, CancellationToken cancellationToken);

    /// <summary>Runs statements that return nothing (a merge's setup).</summary>
    Task ExecuteAsync(string sql, CancellationToken cancellationToken);

    /// <summary>The names of the columns a query returns, without running it for its rows.</summary>
    Task<IReadOnlyList<string>> DescribeQueryAsync(string sql, CancellationToken cancellationToken);

    /// <summary>The first row a query returns, as text, or null when it returns none.</summary>
    Task<IReadOnlyList<string?>?> DescribeFirstRowAsync(string sql, CancellationToken cancellationToken);

    /// <summary>Runs a statement and returns the rows it inserted or updated.</summary>
    Task<long> ExecuteCountAsync(string sql, CancellationToken cancellationToken);

    Task<long> CountLoadRowsAsync(TableName table, long loadId, CancellationToken cancellationToken);

    /// <summary>The table's name as this dialect writes it in SQL.</summary>
    string Quote(TableName table);

    Task CommitAsync(CancellationToken cancellationToken);
}
