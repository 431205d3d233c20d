using Intake.Core.Errors;
using Intake.Core.Ports;
using Intake.Shared.Migrations;
using Intake.Warehouse.Loading;
using Npgsql;
using NpgsqlTypes;

namespace Intake.Warehouse.Postgres;

/// <summary>One PostgreSQL transaction of a load; rows go in with binary COPY.</summary>
internal sealed class PostgresSession : SqlWarehouseSession, IWarehouseSession
{
    // Any fixed number: every Intake process creating tables in this database takes the same lock.
    private const long SchemaLockKey = 0x496E74616B65_01;

    private static readonly IReadOnlyList<Migration> Migrations = Migration.Embedded("Postgres", "warehouse");

    private readonly NpgsqlConnection _connection;
    private readonly NpgsqlTransaction _transaction;
    private readonly NpgsqlDataSource _dataSource;
    private readonly string _name;
    private bool _changedSchema;

    private PostgresSession(NpgsqlDataSource dataSource, NpgsqlConnection connection, NpgsqlTransaction transaction, string name)
    {
        _dataSource = dataSource;
        _connection = connection;
        _transaction = transaction;
        _name = name;
    }

    /// <summary>
    /// COPY connections for each source (<c>load.streams</c>); 1 copies on this session's own connection. More are used
    /// only on a table whose shape this transaction has not changed, since other connections cannot see (or would wait
    /// on) an uncommitted change: <see cref="PostgresWarehouse"/> makes those changes in a transaction of their own first.
    /// </summary>
    public int Streams { get; set; } = 1;

    public bool StoresAnyType => false;

    /// <summary>
    /// A session for one step attempt of one load. Its backend carries the attempt's name in <c>application_name</c>
    /// (<see cref="Tag"/>) for as long as the transaction is open, and before anything else it ends the backends of
    /// the same load's earlier attempts.
    /// </summary>
    /// <remarks>
    /// Why: a worker killed in the middle of a long server-side statement (a merge's INSERT … SELECT, a re-run's
    /// DELETE) leaves its backend running to the statement's end, holding the schema lock and row locks, because
    /// PostgreSQL only notices the vanished client when it next writes to it. The next attempt would queue behind
    /// it for as long as that takes. A new attempt of a load exists only after the earlier one's lease was taken
    /// over (swept after it expired, or reclaimed from a stopped process), so a backend still working for that
    /// earlier attempt belongs to a worker that has lost the load: ending it rolls back work that could never be
    /// committed as the load's anyway. Only backends of this database and this role whose name is this load's with
    /// another attempt are touched: never another load's, never another program's.
    /// </remarks>
    public static async Task<PostgresSession> OpenAsync(NpgsqlDataSource dataSource, SessionTag tag, CancellationToken cancellationToken)
    {
        var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        try
        {
            var transaction = await connection.BeginTransactionAsync(cancellationToken);
            var session = new PostgresSession(dataSource, connection, transaction, Tag(tag));
            await session.NameAndEndEarlierAttemptsAsync(tag, cancellationToken);
            return session;
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
        }
    }

    /// <summary>
    /// <c>intake load 42 attempt 2 merge</c>: what pg_stat_activity shows for a session of a load's step attempt.
    /// The load and the attempt come first: PostgreSQL keeps only the first 63 bytes of the name, and those two
    /// decide which sessions are ended.
    /// </summary>
    public static string Tag(SessionTag tag) => AttemptTagPrefix(tag) + tag.Step;

    private static string LoadTagPrefix(long loadId) =>
        string.Create(System.Globalization.CultureInfo.InvariantCulture, $"intake load {loadId} ");

    private static string AttemptTagPrefix(SessionTag tag) =>
        string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{LoadTagPrefix(tag.LoadId)}attempt {tag.Attempt} ");

    private async Task NameAndEndEarlierAttemptsAsync(SessionTag tag, CancellationToken cancellationToken)
    {
        // set_config(…, true): the name lasts as long as this transaction, so a pooled connection goes back to
        // the pool under its plain name. One round trip, sent together with the transaction's BEGIN.
        // Sessions of this same attempt (another stream of it) are spared whatever their step's name.
        // Same role only: PostgreSQL lets a role end its own backends without further rights.
        await using var command = Command("""
            select set_config('application_name', @tag, true),
                   (select count(pg_terminate_backend(pid)) from pg_stat_activity
                    where datname = current_database() and usename = current_user and pid <> pg_backend_pid()
                      and left(application_name, length(@load)) = @load
                      and left(application_name, length(@attempt)) <> @attempt)
            """);
        command.Parameters.AddWithValue("tag", NpgsqlDbType.Text, Tag(tag));
        command.Parameters.AddWithValue("load", NpgsqlDbType.Text, LoadTagPrefix(tag.LoadId));
        command.Parameters.AddWithValue("attempt", NpgsqlDbType.Text, AttemptTagPrefix(tag));
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    public static string Qualified(TableName table) =>
        table.Schema is null ? SqlIdentifier.Quote(table.Name) : $"{SqlIdentifier.Quote(table.Schema)}.{SqlIdentifier.Quote(table.Name)}";

    public async Task<TableShape?> DescribeAsync(TableName table, CancellationToken cancellationToken)
    {
        // One row per column; one row of nulls for a table without columns; no row when the table is missing.
        const string sql = """
            select a.attname, t.typname, a.attnotnull, a.atthasdef
            from (select to_regclass(@name) as rel) r
            left join pg_catalog.pg_attribute a on a.attrelid = r.rel and a.attnum > 0 and not a.attisdropped
            left join pg_catalog.pg_type t on t.oid = a.atttypid
            where r.rel is not null
            order by a.attnum
            """;
        await using var command = Command(sql);
        command.Parameters.AddWithValue("name", NpgsqlDbType.Text, Qualified(table));
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var exists = false;
        var hasLoadId = false;
        var columns = new List<ExistingColumn>();
        while (await reader.ReadAsync(cancellationToken))
        {
            exists = true;
            if (reader.IsDBNull(0))
            {
                continue;
            }

            var name = reader.GetString(0);
            if (name == SqlIdentifier.LoadIdColumn)
            {
                hasLoadId = true;
                continue;
            }

            var storeType = reader.GetString(1);
            columns.Add(new ExistingColumn(name, TypeOf(storeType), storeType, Nullable: !reader.GetBoolean(2), HasDefault: reader.GetBoolean(3)));
        }

        return exists ? new TableShape(columns, hasLoadId) : null;
    }

    public async Task LockSchemaChangesAsync(CancellationToken cancellationToken)
    {
        // Two loads creating the same table (or schema) at once would otherwise race on the catalog's unique
        // indexes; the lock is released at commit or rollback, when the new table is visible to the other.
        await using var command = Command($"select pg_advisory_xact_lock({SchemaLockKey})");
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    public async Task CreateTableAsync(TableName table, IReadOnlyList<ColumnSpec> columns, CancellationToken cancellationToken)
    {
        _changedSchema = true;
        var qualified = Qualified(table);
        var definitions = string.Join(", ", columns.Select(c => $"{SqlIdentifier.Quote(c.Name)} {SqlType(c.Type)}{(c.Nullable ? "" : " not null")}"));
        var sql = $"""
            {(table.Schema is null ? "" : $"create schema if not exists {SqlIdentifier.Quote(table.Schema)};")}
            create table {qualified} ({definitions}, {SqlIdentifier.Quote(SqlIdentifier.LoadIdColumn)} bigint not null);
            """;
        await using var command = Command(sql);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    public async Task AddColumnAsync(TableName table, ColumnSpec column, CancellationToken cancellationToken)
    {
        _changedSchema = true;
        await using var command = Command($"alter table {Qualified(table)} add column if not exists {SqlIdentifier.Quote(column.Name)} {SqlType(column.Type)}");
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    public async Task CreateLoadIdIndexAsync(TableName table, CancellationToken cancellationToken)
    {
        // Unnamed: PostgreSQL picks a unique name, whatever the length of the table's.
        // BRIN, not btree: load ids grow with time and each load's rows are written together, so block ranges
        // separate loads well; the index is a few pages, costs next to nothing to maintain on bulk appends
        // (a btree over 1M rows took a fifth of the load's time), and still lets a re-run delete its own rows
        // without scanning the whole table.
        await using var command = Command($"create index on {Qualified(table)} using brin ({SqlIdentifier.Quote(SqlIdentifier.LoadIdColumn)})");
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    public async Task MigrateAsync(string warehouse, DateTimeOffset now, CancellationToken cancellationToken)
    {
        // The schema lock first: it queues this behind other processes' migrations and loads that create tables,
        // including Intake versions that created the ledger themselves under the same lock.
        await LockSchemaChangesAsync(cancellationToken);
        var target = new MigrationTarget(
            "warehouse",
            $"warehouse '{warehouse}'",
            SqlIdentifier.MigrationsTable,
            $"create table if not exists {SqlIdentifier.MigrationsTable} (version integer primary key, name text not null, applied_at timestamptz not null)",
            (parameter, utc) =>
            {
                parameter.DbType = System.Data.DbType.DateTimeOffset;
                parameter.Value = utc.ToUniversalTime();
            },
            e => PostgresErrors.Translate(e, warehouse, null) is { Kind: ErrorKind.Transient });
        await MigrationRunner.ApplyAsync(_connection, _transaction, target, Migrations, now, cancellationToken);
    }

    public async Task<long> DeleteLoadAsync(TableName table, long loadId, CancellationToken cancellationToken)
    {
        await using var command = Command($"delete from {Qualified(table)} where {SqlIdentifier.Quote(SqlIdentifier.LoadIdColumn)} = @load");
        command.Parameters.AddWithValue("load", NpgsqlDbType.Bigint, loadId);
        return await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>
    /// The load's earlier rows go only when the warehouse says there may be some: a ledger row of the load (in any
    /// table: written in the transaction that committed its rows) or a streamed row (committed before any stream's
    /// rows, <see cref="ParallelCopy"/>). Otherwise no attempt of the load ever committed a row here, and the scan is
    /// skipped: on a table without a usable index (BRIN on a small table, or its unsummarised newest ranges) finding
    /// nothing read the whole table, for every load (docs/performance.md).
    /// </summary>
    /// <remarks>One statement: the two EXISTS do not depend on the table's rows, so PostgreSQL evaluates them once,
    /// before the scan, and does not start the scan when both are false.</remarks>
    public async Task<long> DeleteEarlierAttemptAsync(TableName table, long loadId, CancellationToken cancellationToken)
    {
        await using var command = Command($"""
            delete from {Qualified(table)} where {SqlIdentifier.Quote(SqlIdentifier.LoadIdColumn)} = @load
              and (exists (select from {SqlIdentifier.LedgerTable} where load_id = @load)
                   or exists (select from {SqlIdentifier.StreamedTable} where load_id = @load))
            """);
        command.Parameters.AddWithValue("load", NpgsqlDbType.Bigint, loadId);
        return await command.ExecuteNonQueryAsync(cancellationToken);
    }

    public async Task<CopyCount> CopyAsync(TableName table, CopyPlan plan, IRowSource source, long loadId, CancellationToken cancellationToken)
    {
        var columnList = string.Join(", ", plan.Columns.Select(c => SqlIdentifier.Quote(c.Name)).Append(SqlIdentifier.Quote(SqlIdentifier.LoadIdColumn)));
        var copySql = $"copy {Qualified(table)} ({columnList}) from stdin (format binary)";
        if (Streams > 1 && !_changedSchema && !await HasUniqueIndexAsync(table, cancellationToken))
        {
            return await ParallelCopy.RunAsync(_dataSource, _name, table, copySql, plan, source, loadId, Streams, cancellationToken);
        }

        var copy = await _connection.BeginRawBinaryCopyAsync(copySql, cancellationToken);
        var completed = false;
        try
        {
            var writer = new PgBinaryCopyWriter(copy, plan, loadId);
            writer.WriteHeader();
            var read = await writer.WriteAllAsync(source, cancellationToken);
            await writer.WriteTrailerAsync(cancellationToken);
            await copy.DisposeAsync(); // completes the COPY; the server has accepted every row or thrown
            completed = true;
            return new CopyCount(read, read);
        }
        finally
        {
            if (!completed)
            {
                await CancelQuietlyAsync(copy);
            }
        }
    }

    /// <summary>
    /// Whether the table has a unique index (or an exclusion constraint, which is one). On such a table a stream's row
    /// with the key of a row this transaction deleted (an earlier attempt's, a replaced partition's) waits for this
    /// transaction, which waits for the stream: those loads copy on this session's connection instead.
    /// </summary>
    private async Task<bool> HasUniqueIndexAsync(TableName table, CancellationToken cancellationToken)
    {
        await using var command = Command("select exists (select 1 from pg_catalog.pg_index where indrelid = to_regclass(@name) and (indisunique or indisexclusion))");
        command.Parameters.AddWithValue("name", NpgsqlDbType.Text, Qualified(table));
        return await command.ExecuteScalarAsync(cancellationToken) is true;
    }

    public async Task RecordLedgerAsync(WarehouseLoadRequest request, long rowsWritten, DateTimeOffset committedAt, CancellationToken cancellationToken)
    {
        // A re-run of the same attempt (after a crash between this commit and the catalog's) overwrites its row.
        await using var command = Command($"""
            insert into {SqlIdentifier.LedgerTable} (load_id, step, attempt, table_name, rows_written, committed_at)
            values (@load, @step, @attempt, @table, @rows, @at)
            on conflict (load_id, step, attempt, table_name)
            do update set rows_written = excluded.rows_written, committed_at = excluded.committed_at
            """);
        command.Parameters.AddWithValue("load", NpgsqlDbType.Bigint, request.LoadId);
        command.Parameters.AddWithValue("step", NpgsqlDbType.Text, request.Step);
        command.Parameters.AddWithValue("attempt", NpgsqlDbType.Integer, request.Attempt);
        command.Parameters.AddWithValue("table", NpgsqlDbType.Text, request.Table);
        command.Parameters.AddWithValue("rows", NpgsqlDbType.Bigint, rowsWritten);
        command.Parameters.AddWithValue("at", NpgsqlDbType.TimestampTz, committedAt.ToUniversalTime());
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    public override string Quote(TableName table) => Qualified(table);

    protected override string LockRow => " for update";

    public Task CommitAsync(CancellationToken cancellationToken) => _transaction.CommitAsync(cancellationToken);

    public async ValueTask DisposeAsync()
    {
        // Without a commit the transaction rolls back. On a broken connection the rollback itself fails;
        // the server has rolled back already, and the original failure is the one to report.
        try
        {
            await _transaction.DisposeAsync();
        }
        catch (Exception e) when (e is NpgsqlException or IOException or InvalidOperationException)
        {
        }

        await _connection.DisposeAsync();
    }

    /// <summary>The Intake type for a PostgreSQL type name; null when there is no cast to it.</summary>
    public static ColumnType? TypeOf(string typeName) => typeName switch
    {
        "text" or "varchar" or "bpchar" or "name" or "citext" => ColumnType.Text,
        "int4" => ColumnType.Integer,
        "int8" => ColumnType.BigInt,
        "numeric" => ColumnType.Decimal,
        "float8" => ColumnType.Double,
        "bool" => ColumnType.Boolean,
        "date" => ColumnType.Date,
        "timestamp" => ColumnType.Timestamp,
        "timestamptz" => ColumnType.TimestampTz,
        "json" or "jsonb" => ColumnType.Json,
        _ => null,
    };

    private static string SqlType(ColumnType type) => type switch
    {
        ColumnType.Text => "text",
        ColumnType.Integer => "integer",
        ColumnType.BigInt => "bigint",
        ColumnType.Decimal => "numeric",
        ColumnType.Double => "double precision",
        ColumnType.Boolean => "boolean",
        ColumnType.Date => "date",
        ColumnType.Timestamp => "timestamp",
        ColumnType.TimestampTz => "timestamptz",
        ColumnType.Json => "jsonb",
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, null),
    };

    private static async Task CancelQuietlyAsync(NpgsqlRawCopyStream copy)
    {
        // Cancelling an unfinished COPY; the transaction is rolled back right after.
        try
        {
            await copy.CancelAsync();
            await copy.DisposeAsync();
        }
        catch (Exception e) when (e is NpgsqlException or IOException or InvalidOperationException)
        {
        }
    }

    protected override NpgsqlCommand Command(string sql) => new(sql, _connection, _transaction);
}

/// <summary>The load, step and attempt a warehouse session works for.</summary>
internal readonly record struct SessionTag(long LoadId, string Step, int Attempt);
