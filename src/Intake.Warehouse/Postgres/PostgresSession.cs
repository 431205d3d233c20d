using Intake.Core.Errors;
using Intake.Core.Ports;
using Intake.Shared.Migrations;
using Intake.Warehouse.Loading;
using System.Data.Common;
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
    private readonly NpgsqlDataSource _dataSource;
    private readonly SessionTag _tag;
    private readonly string _name;
    private readonly KnownTables? _knownTables;

    // Statements held back to go with the COMMIT in one round trip (the ledger rows).
    private readonly List<NpgsqlBatchCommand> _withCommit = [];
    private NpgsqlTransaction _transaction;
    private bool _named;
    private bool _changedSchema;

    private PostgresSession(NpgsqlDataSource dataSource, NpgsqlConnection connection, NpgsqlTransaction transaction, SessionTag tag, KnownTables? knownTables)
    {
        _dataSource = dataSource;
        _connection = connection;
        _transaction = transaction;
        _tag = tag;
        _name = Tag(tag);
        _knownTables = knownTables;
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
    /// (<see cref="Tag"/>) for as long as the transaction is open, and a second or later attempt ends the backends of
    /// the same load's other attempts before anything else. Nothing is sent yet: the name goes with the session's first
    /// statement, in the same round trip as the transaction's BEGIN.
    /// </summary>
    /// <param name="knownTables">
    /// Tables this process has seen with their load id column, so that a load's first round trip can also delete the
    /// load's earlier rows (<see cref="DescribeForLoadAsync"/>); null for sessions that do not load.
    /// </param>
    /// <remarks>
    /// Why: a worker killed in the middle of a long server-side statement (a merge's INSERT … SELECT, a re-run's
    /// DELETE) leaves its backend running to the statement's end, holding the schema lock and row locks, because
    /// PostgreSQL only notices the vanished client when it next writes to it. The next attempt would queue behind
    /// it for as long as that takes. A new attempt of a load exists only after the earlier one's lease was taken
    /// over (swept after it expired, or reclaimed from a stopped process), so a backend still working for that
    /// earlier attempt belongs to a worker that has lost the load: ending it rolls back work that could never be
    /// committed as the load's anyway. Only backends of this database and this role whose name is this load's with
    /// another attempt are touched: never another load's, never another program's.
    /// <para>
    /// Only attempts after the first look: the worker numbers a step's attempts by the records the load has of that
    /// step, and a killed attempt leaves its record, so the attempt that takes a load over from a killed worker is
    /// always the step's second or later. A first attempt follows only steps that ended (their transactions ended with
    /// them), so it has nobody to end, and the search of <c>pg_stat_activity</c> (every backend's entry) is saved on
    /// the common path. Every attempt still names itself, so that a later one can find it.
    /// </para>
    /// </remarks>
    public static async Task<PostgresSession> OpenAsync(NpgsqlDataSource dataSource, SessionTag tag, CancellationToken cancellationToken, KnownTables? knownTables = null)
    {
        var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        try
        {
            // Npgsql sends the BEGIN with the first statement; nothing goes to the server here.
            var transaction = await connection.BeginTransactionAsync(cancellationToken);
            return new PostgresSession(dataSource, connection, transaction, tag, knownTables);
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

    /// <summary>The statement that names this session and, from the second attempt on, ends the load's other attempts' backends.</summary>
    private NpgsqlBatchCommand NameCommand()
    {
        // set_config(…, true): the name lasts as long as this transaction, so a pooled connection goes back to
        // the pool under its plain name. Sessions of this same attempt (another stream of it) are spared whatever
        // their step's name. Same role only: PostgreSQL lets a role end its own backends without further rights.
        var command = new NpgsqlBatchCommand(_tag.Attempt > 1
            ? """
              select set_config('application_name', $1, true),
                     (select count(pg_terminate_backend(pid)) from pg_stat_activity
                      where datname = current_database() and usename = current_user and pid <> pg_backend_pid()
                        and left(application_name, length($2)) = $2
                        and left(application_name, length($3)) <> $3)
              """
            : "select set_config('application_name', $1, true)");
        command.Parameters.Add(new NpgsqlParameter<string> { NpgsqlDbType = NpgsqlDbType.Text, TypedValue = _name });
        if (_tag.Attempt > 1)
        {
            command.Parameters.Add(new NpgsqlParameter<string> { NpgsqlDbType = NpgsqlDbType.Text, TypedValue = LoadTagPrefix(_tag.LoadId) });
            command.Parameters.Add(new NpgsqlParameter<string> { NpgsqlDbType = NpgsqlDbType.Text, TypedValue = AttemptTagPrefix(_tag) });
        }

        return command;
    }

    /// <summary>Names the session (<see cref="NameCommand"/>) unless its first statement did already; before any other statement.</summary>
    private async Task NameAsync(CancellationToken cancellationToken)
    {
        if (_named)
        {
            return;
        }

        await using var batch = new NpgsqlBatch(_connection, _transaction) { BatchCommands = { NameCommand() } };
        await PrepareAsync(batch, cancellationToken);
        await batch.ExecuteNonQueryAsync(cancellationToken);
        _named = true;
    }

    public static string Qualified(TableName table) =>
        table.Schema is null ? SqlIdentifier.Quote(table.Name) : $"{SqlIdentifier.Quote(table.Schema)}.{SqlIdentifier.Quote(table.Name)}";

    public async Task<TableShape?> DescribeAsync(TableName table, CancellationToken cancellationToken) =>
        (await DescribeAndDeleteAsync(table, null, cancellationToken)).Shape;

    /// <summary>
    /// One round trip for what every load starts with: the session's name, the table's columns, and, when this process
    /// has seen the table with its load id column before, the load's earlier rows deleted
    /// (<see cref="DeleteEarlierAttemptAsync"/>). Only as the session's first statement: should the table have gone
    /// (or lost that column) since, the failed delete costs this transaction nothing but its BEGIN, so it starts over.
    /// </summary>
    public async Task<(TableShape? Shape, long? EarlierRowsDeleted)> DescribeForLoadAsync(TableName table, long loadId, CancellationToken cancellationToken)
    {
        var first = !_named && _knownTables is not null;
        if (!first || !_knownTables!.Contains(table))
        {
            var shape = await DescribeAsync(table, cancellationToken);
            _knownTables?.Update(table, shape);
            return (shape, null);
        }

        try
        {
            var (shape, deleted) = await DescribeAndDeleteAsync(table, loadId, cancellationToken);
            _knownTables.Update(table, shape);
            return (shape, deleted);
        }
        catch (PostgresException e) when (e.SqlState is PostgresErrorCodes.UndefinedTable or PostgresErrorCodes.UndefinedColumn)
        {
            // Dropped (or made again without _intake_load_id) since this process last saw it.
            _knownTables.Forget(table);
            await _transaction.RollbackAsync(cancellationToken);
            await _transaction.DisposeAsync();
            _transaction = await _connection.BeginTransactionAsync(cancellationToken);
            _named = false;
            return await DescribeForLoadAsync(table, loadId, cancellationToken);
        }
    }

    /// <summary>The table's shape (null when missing), after the session's name when not sent yet, and the earlier rows of <paramref name="deleteLoad"/> deleted in the same round trip.</summary>
    private async Task<(TableShape? Shape, long? EarlierRowsDeleted)> DescribeAndDeleteAsync(TableName table, long? deleteLoad, CancellationToken cancellationToken)
    {
        var delete = deleteLoad is { } loadId ? DeleteEarlierCommand(table, loadId) : null;
        var shape = await DescribeThenAsync(table, delete, null, cancellationToken);
        return (shape, delete?.RecordsAffected);
    }

    /// <summary>
    /// The first round trip of a group of small loads into one table (<see cref="LoadGroups"/>): the session's name, the
    /// table's columns, and the earlier rows of every load of the group deleted, with how many each load had (none given:
    /// the columns alone).
    /// </summary>
    public async Task<(TableShape? Shape, IReadOnlyDictionary<long, long> EarlierRowsDeleted)> DescribeForGroupAsync(
        TableName table, IReadOnlyList<long> loadIds, CancellationToken cancellationToken)
    {
        // As DeleteEarlierCommand for many loads: the EXISTS test (no row of the table in it) runs once, before the scan,
        // and skips it when no load of the group ever committed a row here, the usual case.
        var delete = loadIds.Count == 0 ? null : new NpgsqlBatchCommand($"""
            with d as (
              delete from {Qualified(table)} where {SqlIdentifier.Quote(SqlIdentifier.LoadIdColumn)} = any($1)
                and (exists (select from {SqlIdentifier.LedgerTable} where load_id = any($1))
                     or exists (select from {SqlIdentifier.StreamedTable} where load_id = any($1)))
              returning {SqlIdentifier.Quote(SqlIdentifier.LoadIdColumn)})
            select {SqlIdentifier.Quote(SqlIdentifier.LoadIdColumn)}, count(*) from d group by 1
            """)
        {
            Parameters = { new NpgsqlParameter<long[]> { NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Bigint, TypedValue = [.. loadIds] } },
        };
        var deleted = new Dictionary<long, long>();
        try
        {
            var shape = await DescribeThenAsync(table, delete, async reader =>
            {
                while (await reader.ReadAsync(cancellationToken))
                {
                    deleted[reader.GetInt64(0)] = reader.GetInt64(1);
                }
            }, cancellationToken);
            _knownTables?.Update(table, shape);
            return (shape, deleted);
        }
        catch (PostgresException e) when (e.SqlState is PostgresErrorCodes.UndefinedTable or PostgresErrorCodes.UndefinedColumn)
        {
            // Dropped (or made again without _intake_load_id) since this process last saw it: the transaction is spent,
            // and the group's loads, encoded for the table that was, cannot go in.
            _knownTables?.Forget(table);
            return (null, deleted);
        }
    }

    /// <summary>
    /// The table's shape (null when missing), after the session's name when not sent yet, with <paramref name="then"/> in
    /// the same round trip (its rows, if any, given to <paramref name="readThen"/>).
    /// </summary>
    private async Task<TableShape?> DescribeThenAsync(
        TableName table, NpgsqlBatchCommand? then, Func<NpgsqlDataReader, Task>? readThen, CancellationToken cancellationToken)
    {
        // One row per column; one row of nulls for a table without columns; no row when the table is missing.
        // The type's name by a subquery rather than a join: prepared, the statement runs a generic plan, which would
        // hash the whole of pg_type (600 rows) for a join; the subquery looks up each column's type by its index.
        const string sql = """
            select a.attname, (select t.typname from pg_catalog.pg_type t where t.oid = a.atttypid), a.attnotnull, a.atthasdef
            from (select to_regclass($1) as rel) r
            left join pg_catalog.pg_attribute a on a.attrelid = r.rel and a.attnum > 0 and not a.attisdropped
            where r.rel is not null
            order by a.attnum
            """;
        await using var batch = new NpgsqlBatch(_connection, _transaction);
        var naming = !_named;
        if (naming)
        {
            batch.BatchCommands.Add(NameCommand());
        }

        var describe = new NpgsqlBatchCommand(sql) { Parameters = { new NpgsqlParameter<string> { NpgsqlDbType = NpgsqlDbType.Text, TypedValue = Qualified(table) } } };
        batch.BatchCommands.Add(describe);
        if (then is not null)
        {
            batch.BatchCommands.Add(then);
        }

        if (naming)
        {
            // Prepared only as the transaction's first statement. Later in a transaction (after waiting for the schema
            // lock, when another load may just have created the table) the prepared describe was seen to miss a table
            // committed meanwhile (42P07 on the create that followed): it takes no new lock, so the backend's
            // catalog caches are not brought up to date before it runs; a statement parsed anew sees the table.
            await PrepareAsync(batch, cancellationToken);
        }

        var exists = false;
        var hasLoadId = false;
        var columns = new List<ExistingColumn>();
        await using (var reader = await batch.ExecuteReaderAsync(cancellationToken))
        {
            if (naming)
            {
                await reader.NextResultAsync(cancellationToken);
            }

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

            if (await reader.NextResultAsync(cancellationToken) && readThen is not null)
            {
                await readThen(reader);
            }

            while (await reader.NextResultAsync(cancellationToken))
            {
            }
        }

        _named = true;
        return exists ? new TableShape(columns, hasLoadId) : null;
    }

    public async Task LockSchemaChangesAsync(CancellationToken cancellationToken)
    {
        // Two loads creating the same table (or schema) at once would otherwise race on the catalog's unique
        // indexes; the lock is released at commit or rollback, when the new table is visible to the other.
        await using var command = await PgCommandAsync($"select pg_advisory_xact_lock({SchemaLockKey})", cancellationToken);
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
        await using var command = await PgCommandAsync(sql, cancellationToken);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    public async Task AddColumnAsync(TableName table, ColumnSpec column, CancellationToken cancellationToken)
    {
        _changedSchema = true;
        await using var command = await PgCommandAsync($"alter table {Qualified(table)} add column if not exists {SqlIdentifier.Quote(column.Name)} {SqlType(column.Type)}", cancellationToken);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    public async Task CreateLoadIdIndexAsync(TableName table, CancellationToken cancellationToken)
    {
        // Unnamed: PostgreSQL picks a unique name, whatever the length of the table's.
        // BRIN, not btree: load ids grow with time and each load's rows are written together, so block ranges
        // separate loads well; the index is a few pages, costs next to nothing to maintain on bulk appends
        // (a btree over 1M rows took a fifth of the load's time), and still lets a re-run delete its own rows
        // without scanning the whole table.
        await using var command = await PgCommandAsync($"create index on {Qualified(table)} using brin ({SqlIdentifier.Quote(SqlIdentifier.LoadIdColumn)})", cancellationToken);
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
        await using var command = await PgCommandAsync($"delete from {Qualified(table)} where {SqlIdentifier.Quote(SqlIdentifier.LoadIdColumn)} = @load", cancellationToken);
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
        await NameAsync(cancellationToken);
        await using var batch = new NpgsqlBatch(_connection, _transaction) { BatchCommands = { DeleteEarlierCommand(table, loadId) } };
        await PrepareAsync(batch, cancellationToken);
        return await batch.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>
    /// Prepares the statements every load runs (the name, the describe, the delete of earlier rows, the ledger row and
    /// the commit) on this connection. Npgsql keeps them with the pooled connection: only its first load sends them to
    /// be parsed (one round trip), every later load runs them without the server parsing and planning them again.
    /// </summary>
    /// <remarks>
    /// Only statements whose result columns are fixed (they read the catalog, or return nothing): a prepared statement
    /// whose result type changes with a table (a user's ALTER) fails with "cached plan must not change result type",
    /// which is why this is not Npgsql's automatic preparation of every statement. Safe without resetting the
    /// connection: a prepared plan is planned again when a table it names changes.
    /// </remarks>
    private static Task PrepareAsync(NpgsqlBatch batch, CancellationToken cancellationToken) => batch.PrepareAsync(cancellationToken);

    private static NpgsqlBatchCommand DeleteEarlierCommand(TableName table, long loadId) => new($"""
        delete from {Qualified(table)} where {SqlIdentifier.Quote(SqlIdentifier.LoadIdColumn)} = $1
          and (exists (select from {SqlIdentifier.LedgerTable} where load_id = $1)
               or exists (select from {SqlIdentifier.StreamedTable} where load_id = $1))
        """)
    {
        Parameters = { new NpgsqlParameter<long> { NpgsqlDbType = NpgsqlDbType.Bigint, TypedValue = loadId } },
    };

    /// <summary>The binary COPY statement for a plan's columns and the load id.</summary>
    public static string CopySql(TableName table, CopyPlan plan)
    {
        var columnList = string.Join(", ", plan.Columns.Select(c => SqlIdentifier.Quote(c.Name)).Append(SqlIdentifier.Quote(SqlIdentifier.LoadIdColumn)));
        return $"copy {Qualified(table)} ({columnList}) from stdin (format binary)";
    }

    /// <summary>
    /// Opens a binary COPY (<see cref="CopySql"/>) on this session's connection with its header written, for rows
    /// encoded elsewhere (<see cref="PgBinaryCopyWriter"/> without its header); <see cref="EndCopyAsync"/> completes it.
    /// </summary>
    public async Task<NpgsqlRawCopyStream> BeginCopyAsync(string copySql, CancellationToken cancellationToken)
    {
        await NameAsync(cancellationToken);
        var copy = await _connection.BeginRawBinaryCopyAsync(copySql, cancellationToken);
        try
        {
            await copy.WriteAsync(PgBinaryCopyWriter.HeaderBytes, cancellationToken);
            return copy;
        }
        catch
        {
            await CancelQuietlyAsync(copy);
            throw;
        }
    }

    /// <summary>Writes the trailer and completes a COPY <see cref="BeginCopyAsync"/> opened; the server has then accepted every row, or thrown.</summary>
    public static async Task EndCopyAsync(NpgsqlRawCopyStream copy, CancellationToken cancellationToken)
    {
        var completed = false;
        try
        {
            await copy.WriteAsync(PgBinaryCopyWriter.TrailerBytes, cancellationToken);
            await copy.DisposeAsync();
            completed = true;
        }
        finally
        {
            if (!completed)
            {
                await CancelQuietlyAsync(copy);
            }
        }
    }

    /// <summary>One COPY of rows encoded already (each part a whole number of rows), in this session's transaction.</summary>
    public async Task CopyEncodedAsync(string copySql, IEnumerable<ReadOnlyMemory<byte>> parts, CancellationToken cancellationToken)
    {
        var copy = await BeginCopyAsync(copySql, cancellationToken);
        var written = false;
        try
        {
            foreach (var part in parts)
            {
                await copy.WriteAsync(part, cancellationToken);
            }

            written = true;
        }
        finally
        {
            if (!written)
            {
                await CancelQuietlyAsync(copy);
            }
        }

        await EndCopyAsync(copy, cancellationToken);
    }

    public async Task<CopyCount> CopyAsync(TableName table, CopyPlan plan, IRowSource source, long loadId, CancellationToken cancellationToken)
    {
        var copySql = CopySql(table, plan);
        if (Streams > 1 && !_changedSchema && !await HasUniqueIndexAsync(table, cancellationToken))
        {
            return await ParallelCopy.RunAsync(_dataSource, _name, table, copySql, plan, source, loadId, Streams, cancellationToken);
        }

        await NameAsync(cancellationToken);
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
        await using var command = await PgCommandAsync("select exists (select 1 from pg_catalog.pg_index where indrelid = to_regclass(@name) and (indisunique or indisexclusion))", cancellationToken);
        command.Parameters.AddWithValue("name", NpgsqlDbType.Text, Qualified(table));
        return await command.ExecuteScalarAsync(cancellationToken) is true;
    }

    /// <summary>
    /// Held back and sent with the COMMIT, in its round trip: nothing in the transaction reads this load's own ledger
    /// rows (the search for earlier rows looks for other transactions' rows), and should the insert fail the COMMIT
    /// behind it is not run, so the transaction rolls back as it would have.
    /// </summary>
    public Task RecordLedgerAsync(WarehouseLoadRequest request, long rowsWritten, DateTimeOffset committedAt, CancellationToken cancellationToken)
    {
        // A re-run of the same attempt (after a crash between this commit and the catalog's) overwrites its row.
        _withCommit.Add(new NpgsqlBatchCommand($"""
            insert into {SqlIdentifier.LedgerTable} (load_id, step, attempt, table_name, rows_written, committed_at)
            values ($1, $2, $3, $4, $5, $6)
            on conflict (load_id, step, attempt, table_name)
            do update set rows_written = excluded.rows_written, committed_at = excluded.committed_at
            """)
        {
            Parameters =
            {
                new NpgsqlParameter<long> { NpgsqlDbType = NpgsqlDbType.Bigint, TypedValue = request.LoadId },
                new NpgsqlParameter<string> { NpgsqlDbType = NpgsqlDbType.Text, TypedValue = request.Step },
                new NpgsqlParameter<int> { NpgsqlDbType = NpgsqlDbType.Integer, TypedValue = request.Attempt },
                new NpgsqlParameter<string> { NpgsqlDbType = NpgsqlDbType.Text, TypedValue = request.Table },
                new NpgsqlParameter<long> { NpgsqlDbType = NpgsqlDbType.Bigint, TypedValue = rowsWritten },
                new NpgsqlParameter<DateTime> { NpgsqlDbType = NpgsqlDbType.TimestampTz, TypedValue = committedAt.UtcDateTime },
            },
        });
        return Task.CompletedTask;
    }

    public override string Quote(TableName table) => Qualified(table);

    protected override string LockRow => " for update";

    /// <summary>
    /// Commits, with the statements held back for it (<see cref="RecordLedgerAsync"/>) in the same round trip: they run
    /// in order and the server skips the COMMIT when one of them fails, leaving the transaction to roll back.
    /// </summary>
    public async Task CommitAsync(CancellationToken cancellationToken)
    {
        if (_withCommit.Count == 0)
        {
            await _transaction.CommitAsync(cancellationToken);
            return;
        }

        await NameAsync(cancellationToken);
        await using var batch = new NpgsqlBatch(_connection, _transaction);
        foreach (var command in _withCommit)
        {
            batch.BatchCommands.Add(command);
        }

        // Npgsql follows the transaction's state from the server's answers: once this COMMIT is through, the
        // NpgsqlTransaction counts as completed and disposing it sends nothing.
        batch.BatchCommands.Add(new NpgsqlBatchCommand("commit"));
        _withCommit.Clear();
        await PrepareAsync(batch, cancellationToken);
        await batch.ExecuteNonQueryAsync(cancellationToken);
    }

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

    protected override async ValueTask<DbCommand> CommandAsync(string sql, CancellationToken cancellationToken) => await PgCommandAsync(sql, cancellationToken);

    /// <summary>A command in this session's transaction, once the session is named (<see cref="NameAsync"/>).</summary>
    private async ValueTask<NpgsqlCommand> PgCommandAsync(string sql, CancellationToken cancellationToken)
    {
        await NameAsync(cancellationToken);
        return new NpgsqlCommand(sql, _connection, _transaction);
    }
}

/// <summary>The load, step and attempt a warehouse session works for.</summary>
internal readonly record struct SessionTag(long LoadId, string Step, int Attempt);
