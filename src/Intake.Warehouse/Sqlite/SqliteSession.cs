using Intake.Core.Errors;
using Intake.Core.Ports;
using Intake.Shared.Migrations;
using Intake.Warehouse.Loading;
using System.Data.Common;
using Microsoft.Data.Sqlite;

namespace Intake.Warehouse.Sqlite;

/// <summary>
/// One SQLite transaction of a load. The transaction is <c>BEGIN IMMEDIATE</c>: it takes the database's write
/// lock up front, so two loads never both read and then deadlock upgrading to write.
/// </summary>
internal sealed class SqliteSession : SqlWarehouseSession, IWarehouseSession
{
    private static readonly IReadOnlyList<Migration> Migrations = Migration.Embedded("Sqlite", "warehouse");

    private readonly SqliteWriter _writer;
    private readonly WriterConnection _connection;
    private readonly SqliteTransaction _transaction;

    private SqliteSession(SqliteWriter writer, WriterConnection connection, SqliteTransaction transaction)
    {
        _writer = writer;
        _connection = connection;
        _transaction = transaction;
    }

    public bool StoresAnyType => true;

    /// <summary>A load's transaction on the writer's connection, once the loads of this process before it have ended.</summary>
    public static async Task<SqliteSession> OpenAsync(SqliteWriter writer, CancellationToken cancellationToken)
    {
        var connection = await writer.EnterAsync(cancellationToken);
        try
        {
            var transaction = connection.BeginTransaction(deferred: false);
            return new SqliteSession(writer, connection, transaction);
        }
        catch
        {
            await writer.ExitAsync(connection, reusable: false);
            throw;
        }
    }

    public static async Task<SqliteConnection> OpenConnectionAsync(string connectionString, CancellationToken cancellationToken)
    {
        var connection = new SqliteConnection(connectionString);
        try
        {
            await connection.OpenAsync(cancellationToken);
            // WAL lets audits and merges read while a load writes. The mode is stored in the file; setting it again is a no-op.
            await using var pragma = connection.CreateCommand();
            pragma.CommandText = "pragma journal_mode = wal";
            await pragma.ExecuteNonQueryAsync(cancellationToken);
            return connection;
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
        }
    }

    /// <summary>
    /// SQLite has no schemas inside one file, so <c>staging.things</c> is kept whole as one table name: the
    /// pipeline's name works unchanged, and two schemas' tables cannot collide. <c>main.</c> is SQLite's own.
    /// </summary>
    public static string PlainName(TableName table) =>
        table.Schema is null || string.Equals(table.Schema, "main", StringComparison.OrdinalIgnoreCase) ? table.Name : $"{table.Schema}.{table.Name}";

    public static string Quoted(TableName table) => SqlIdentifier.Quote(PlainName(table));

    private const string DescribeSql = """select name, type, "notnull", dflt_value from pragma_table_info($name) order by cid""";

    public async Task<TableShape?> DescribeAsync(TableName table, CancellationToken cancellationToken)
    {
        await using var command = Command(DescribeSql);
        return await DescribeAsync(command, table, cancellationToken);
    }

    /// <summary>SQLite runs in this process: a separate delete costs no round trip, so it is left to the caller.</summary>
    public async Task<(TableShape? Shape, long? EarlierRowsDeleted)> DescribeForLoadAsync(TableName table, long loadId, CancellationToken cancellationToken) =>
        (await DescribeAsync(table, cancellationToken), null);

    public static async Task<TableShape?> DescribeAsync(SqliteConnection connection, SqliteTransaction? transaction, TableName table, CancellationToken cancellationToken)
    {
        await using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = DescribeSql;
        return await DescribeAsync(command, table, cancellationToken);
    }

    private static async Task<TableShape?> DescribeAsync(SqliteCommand command, TableName table, CancellationToken cancellationToken)
    {
        command.Parameters.AddWithValue("$name", PlainName(table));
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var exists = false;
        var hasLoadId = false;
        var columns = new List<ExistingColumn>();
        while (await reader.ReadAsync(cancellationToken))
        {
            exists = true;
            var name = reader.GetString(0);
            if (string.Equals(name, SqlIdentifier.LoadIdColumn, StringComparison.OrdinalIgnoreCase))
            {
                hasLoadId = true;
                continue;
            }

            var storeType = reader.GetString(1);
            columns.Add(new ExistingColumn(name, TypeOf(storeType), storeType, Nullable: reader.GetInt64(2) == 0, HasDefault: !reader.IsDBNull(3)));
        }

        return exists ? new TableShape(columns, hasLoadId) : null;
    }

    // BEGIN IMMEDIATE already serialises every writer of the file.
    public Task LockSchemaChangesAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public async Task CreateTableAsync(TableName table, IReadOnlyList<ColumnSpec> columns, CancellationToken cancellationToken)
    {
        var loadId = SqlIdentifier.Quote(SqlIdentifier.LoadIdColumn);
        var definitions = string.Join(", ", columns.Select(c => $"{SqlIdentifier.Quote(c.Name)} {SqlType(c.Type)}{(c.Nullable ? "" : " NOT NULL")}"));
        await ExecuteAsync($"CREATE TABLE {Quoted(table)} ({definitions}, {loadId} INTEGER NOT NULL)", cancellationToken);
    }

    public Task AddColumnAsync(TableName table, ColumnSpec column, CancellationToken cancellationToken) =>
        ExecuteAsync($"ALTER TABLE {Quoted(table)} ADD COLUMN {SqlIdentifier.Quote(column.Name)} {SqlType(column.Type)}", cancellationToken);

    public Task CreateLoadIdIndexAsync(TableName table, CancellationToken cancellationToken) =>
        ExecuteAsync(
            $"CREATE INDEX {SqlIdentifier.Quote(PlainName(table) + "__intake_load_id")} ON {Quoted(table)} ({SqlIdentifier.Quote(SqlIdentifier.LoadIdColumn)})",
            cancellationToken);

    /// <summary>Needs no lock of its own: the session's transaction holds the database's write lock (BEGIN IMMEDIATE).</summary>
    public Task MigrateAsync(string warehouse, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var target = new MigrationTarget(
            "warehouse",
            $"warehouse '{warehouse}'",
            SqlIdentifier.MigrationsTable,
            $"CREATE TABLE IF NOT EXISTS {SqlIdentifier.MigrationsTable} (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)",
            (parameter, utc) => parameter.Value = utc.ToUniversalTime(),
            e => SqliteErrors.Translate(e, warehouse, null) is { Kind: ErrorKind.Transient });
        return MigrationRunner.ApplyAsync(_connection, _transaction, target, Migrations, now, cancellationToken);
    }

    public async Task<long> DeleteLoadAsync(TableName table, long loadId, CancellationToken cancellationToken)
    {
        await using var command = Command($"DELETE FROM {Quoted(table)} WHERE {SqlIdentifier.Quote(SqlIdentifier.LoadIdColumn)} = $load");
        command.Parameters.AddWithValue("$load", loadId);
        return await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>SQLite's load id index is a B-tree: finding no earlier rows costs a lookup, so nothing to skip.</summary>
    public Task<long> DeleteEarlierAttemptAsync(TableName table, long loadId, CancellationToken cancellationToken) =>
        DeleteLoadAsync(table, loadId, cancellationToken);

    public async Task<CopyCount> CopyAsync(TableName table, CopyPlan plan, IRowSource source, long loadId, CancellationToken cancellationToken)
    {
        var names = plan.Columns.Select(c => SqlIdentifier.Quote(c.Name)).Append(SqlIdentifier.Quote(SqlIdentifier.LoadIdColumn));
        var placeholders = Enumerable.Range(0, plan.Columns.Count).Select(i => $"$p{i}").Append("$load");
        await using var command = Command($"INSERT INTO {Quoted(table)} ({string.Join(", ", names)}) VALUES ({string.Join(", ", placeholders)})");
        var parameters = new SqliteParameter[plan.Columns.Count];
        for (var i = 0; i < parameters.Length; i++)
        {
            parameters[i] = command.Parameters.Add(new SqliteParameter { ParameterName = $"$p{i}" });
        }

        command.Parameters.AddWithValue("$load", loadId);
        command.Prepare(); // no asynchronous form: SQLite prepares in process
        var read = await SqliteRowWriter.WriteAllAsync(command, parameters, plan, source, cancellationToken);
        return new CopyCount(read, read);
    }

    public async Task RecordLedgerAsync(WarehouseLoadRequest request, long rowsWritten, DateTimeOffset committedAt, CancellationToken cancellationToken)
    {
        await using var command = Command($"""
            INSERT INTO {SqlIdentifier.LedgerTable} (load_id, step, attempt, table_name, rows_written, committed_at)
            VALUES ($load, $step, $attempt, $table, $rows, $at)
            ON CONFLICT (load_id, step, attempt, table_name)
            DO UPDATE SET rows_written = excluded.rows_written, committed_at = excluded.committed_at
            """);
        command.Parameters.AddWithValue("$load", request.LoadId);
        command.Parameters.AddWithValue("$step", request.Step);
        command.Parameters.AddWithValue("$attempt", request.Attempt);
        command.Parameters.AddWithValue("$table", request.Table);
        command.Parameters.AddWithValue("$rows", rowsWritten);
        command.Parameters.AddWithValue("$at", committedAt.ToUniversalTime());
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    public override string Quote(TableName table) => Quoted(table);

    // BEGIN IMMEDIATE holds the database's write lock already.
    protected override string LockRow => "";

    public Task CommitAsync(CancellationToken cancellationToken) => _transaction.CommitAsync(cancellationToken);

    public async ValueTask DisposeAsync()
    {
        // Without a commit the transaction rolls back; a failing rollback must not hide the original failure (and the
        // connection, in a state nobody knows, is then closed rather than kept).
        var ended = true;
        try
        {
            await _transaction.DisposeAsync();
        }
        catch (SqliteException)
        {
            ended = false;
        }

        await _writer.ExitAsync(_connection, reusable: ended);
    }

    /// <summary>
    /// The declared type of each Intake type. SQLite derives a column's affinity from its declared type's
    /// name, so decimals and JSON are declared with TEXT in the name: NUMERIC affinity would turn
    /// "12345678901234567.89" into a 15-digit REAL and JSON "1.0" into a number.
    /// </summary>
    private static string SqlType(ColumnType type) => type switch
    {
        ColumnType.Text => "TEXT",
        ColumnType.Integer => "INTEGER",
        ColumnType.BigInt => "BIGINT",
        ColumnType.Decimal => "DECIMAL_TEXT",
        ColumnType.Double => "DOUBLE",
        ColumnType.Boolean => "BOOLEAN",
        ColumnType.Date => "DATE",
        ColumnType.Timestamp => "TIMESTAMP",
        ColumnType.TimestampTz => "TIMESTAMPTZ",
        ColumnType.Json => "JSON_TEXT",
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, null),
    };

    /// <summary>The Intake type for a declared SQLite type (the ones <see cref="SqlType"/> writes, and common synonyms).</summary>
    private static ColumnType? TypeOf(string declared) => declared.ToUpperInvariant() switch
    {
        "TEXT" or "VARCHAR" or "" => ColumnType.Text,
        "INTEGER" or "INT" => ColumnType.Integer,
        "BIGINT" => ColumnType.BigInt,
        "DECIMAL_TEXT" or "DECIMAL" or "NUMERIC" => ColumnType.Decimal,
        "DOUBLE" or "REAL" or "FLOAT" => ColumnType.Double,
        "BOOLEAN" => ColumnType.Boolean,
        "DATE" => ColumnType.Date,
        "TIMESTAMP" or "DATETIME" => ColumnType.Timestamp,
        "TIMESTAMPTZ" => ColumnType.TimestampTz,
        "JSON_TEXT" or "JSON" => ColumnType.Json,
        _ => null,
    };

    /// <summary>The writer connection's command for this text, prepared by the first load that ran it.</summary>
    private SqliteCommand Command(string sql) => _connection.Command(sql, _transaction);

    protected override ValueTask<DbCommand> CommandAsync(string sql, CancellationToken cancellationToken) => new(Command(sql));
}
