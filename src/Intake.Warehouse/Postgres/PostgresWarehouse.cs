using Intake.Core.Errors;
using Intake.Core.Ports;
using Intake.Warehouse.Changes;
using Intake.Warehouse.Loading;
using Intake.Warehouse.Merging;
using Npgsql;
using NpgsqlTypes;

namespace Intake.Warehouse.Postgres;

/// <summary>
/// A PostgreSQL warehouse. Rows go in with binary COPY, the fastest way into PostgreSQL short of the server
/// reading files itself, inside one transaction that also deletes the load's earlier rows and writes its ledger
/// row: a re-run after any failure finds either the whole previous attempt or nothing, never a part.
/// </summary>
public sealed class PostgresWarehouse : IWarehouse, IAsyncDisposable, IDisposable
{
    // Npgsql's default is 8 KiB; a COPY sends megabytes, and bigger writes cost fewer system calls
    // (about 10% less client CPU on a 1M-row load). Applied only when the connection string leaves the default.
    private const int NpgsqlDefaultWriteBufferSize = 8192;
    private const int CopyWriteBufferSize = 128 * 1024;

    private readonly NpgsqlDataSource _dataSource;
    private readonly NpgsqlDataSource _mergeSource;
    private readonly KnownTables _knownTables = new();
    private readonly TimeProvider _clock;
    private readonly WarehouseMigrations _migrations;
    private readonly LoadGroups _groups;
    private readonly SemaphoreSlim _merging = new(1, 1);

    /// <param name="name">The warehouse's name in the configuration, used in messages.</param>
    /// <param name="connectionString">An Npgsql connection string; a malformed one is a configuration error.</param>
    /// <param name="timeProvider">The clock for ledger rows; the system clock when null.</param>
    public PostgresWarehouse(string name, string connectionString, TimeProvider? timeProvider = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        Name = name;
        _clock = timeProvider ?? TimeProvider.System;
        _migrations = new WarehouseMigrations(name, _clock);
        _groups = new LoadGroups(OpenSessionAsync, LoadAloneAsync, _knownTables, _clock);
        try
        {
            var builder = new NpgsqlConnectionStringBuilder(connectionString);
            if (builder.WriteBufferSize == NpgsqlDefaultWriteBufferSize)
            {
                builder.WriteBufferSize = CopyWriteBufferSize;
            }

            // Idle pooled connections show as "intake" in pg_stat_activity; a session names its load while it works.
            if (string.IsNullOrEmpty(builder.ApplicationName))
            {
                builder.ApplicationName = "intake";
            }

            // Merges run the pipeline's own SQL (merge.setup, merge.transform), which may change the session (a
            // search_path, a temporary table): their connections are reset as Npgsql does by default (DISCARD ALL)
            // before another use, so nothing of it reaches a load.
            _mergeSource = NpgsqlDataSource.Create(builder.ConnectionString);

            // Every other session runs only Intake's statements, which leave nothing behind in the session: the name is
            // set for the transaction only (set_config(…, true)), locks are transaction locks, there are no temporary
            // tables, prepared statements or SET. Npgsql rolls back a transaction left open whatever this setting, so
            // skipping the reset only saves its statement (DISCARD ALL, a transaction of its own) on every load.
            builder.NoResetOnClose = true;
            _dataSource = NpgsqlDataSource.Create(builder);
        }
        catch (ArgumentException e)
        {
            throw IntakeException.Config($"Warehouse '{name}': the PostgreSQL connection string is not valid: {e.Message}", e);
        }
    }

    public string Name { get; }

    /// <summary>Small loads committed together (for tests).</summary>
    internal LoadGroups Groups => _groups;

    public async Task<WarehouseLoadResult> LoadAsync(WarehouseLoadRequest request, IAsyncEnumerable<IRowSource> sources, CancellationToken cancellationToken)
    {
        LoadRunner.Validate(request);
        ArgumentNullException.ThrowIfNull(sources);
        ArgumentOutOfRangeException.ThrowIfLessThan(request.Streams, 1);
        try
        {
            if (request.Streams > 1)
            {
                return await LoadInStreamsAsync(request, sources, cancellationToken);
            }

            // A small first attempt with nothing but its rows to write: encoded at once, committed with the other small
            // loads handed over meanwhile. A retry goes alone, so that its session ends the backends of the load's
            // earlier attempts first (PostgresSession.OpenAsync).
            if (request is { Small: true, Attempt: 1, Constants.Count: 0, ReplaceWhere.Count: 0 })
            {
                return await _groups.LoadAsync(request, TableName.Parse(request.Table), sources, cancellationToken);
            }

            return await LoadAloneAsync(request, sources, cancellationToken);
        }
        catch (Exception e) when (PostgresErrors.Translate(e, Name, request.Table) is { } translated)
        {
            throw translated;
        }
    }

    /// <summary>A load in a transaction of its own, its rows streamed into one COPY per source.</summary>
    private async Task<WarehouseLoadResult> LoadAloneAsync(WarehouseLoadRequest request, IAsyncEnumerable<IRowSource> sources, CancellationToken cancellationToken)
    {
        await using var session = await OpenSessionAsync(new SessionTag(request.LoadId, request.Step, request.Attempt), cancellationToken);
        return await LoadRunner.RunAsync(session, request, sources, _clock, cancellationToken);
    }

    /// <summary>A load's session on the loads' pool, once the warehouse's migrations are applied.</summary>
    private Task<PostgresSession> OpenSessionAsync(SessionTag tag, CancellationToken cancellationToken) =>
        _migrations.OpenAsync(t => PostgresSession.OpenAsync(_dataSource, tag, t, _knownTables), cancellationToken);

    /// <summary>
    /// A load through several COPY connections (<c>load.streams</c>). The table is created or widened first, in a
    /// transaction of its own, so that the streams' connections see it; then the load runs as with one stream, its
    /// sources copied by <see cref="ParallelCopy"/> (see there for how it stays exactly once).
    /// </summary>
    private async Task<WarehouseLoadResult> LoadInStreamsAsync(WarehouseLoadRequest request, IAsyncEnumerable<IRowSource> sources, CancellationToken cancellationToken)
    {
        await using var enumerator = sources.GetAsyncEnumerator(cancellationToken);
        var first = await enumerator.MoveNextAsync() ? enumerator.Current : null;
        var handedOver = false;
        try
        {
            await using (var prepare = await _migrations.OpenAsync(t => PostgresSession.OpenAsync(_dataSource, new SessionTag(request.LoadId, request.Step, request.Attempt), t), cancellationToken))
            {
                await LoadRunner.PrepareTableAsync(prepare, request, first, cancellationToken);
            }

            await using var session = await _migrations.OpenAsync(t => PostgresSession.OpenAsync(_dataSource, new SessionTag(request.LoadId, request.Step, request.Attempt), t, _knownTables), cancellationToken);
            session.Streams = request.Streams;
            handedOver = true;
            return await LoadRunner.RunAsync(session, request, Rest(first, enumerator), _clock, cancellationToken);
        }
        finally
        {
            if (!handedOver && first is not null)
            {
                await first.DisposeAsync();
            }
        }

        static async IAsyncEnumerable<IRowSource> Rest(IRowSource? first, IAsyncEnumerator<IRowSource> rest)
        {
            if (first is null)
            {
                yield break;
            }

            yield return first;
            while (await rest.MoveNextAsync())
            {
                yield return rest.Current;
            }
        }
    }

    public async Task<WarehouseMergeResult> MergeAsync(WarehouseMergeRequest request, CancellationToken cancellationToken)
    {
        MergeRunner.Validate(request);
        // Merges run one at a time per database (MergeRunner takes the schema lock): the merges of this process wait
        // their turn here, holding no connection, rather than each holding one while it queues on the lock (with many
        // small loads in flight that ran the server out of connections).
        await _merging.WaitAsync(cancellationToken);
        try
        {
            await using var session = await _migrations.OpenAsync(t => PostgresSession.OpenAsync(_mergeSource, new SessionTag(request.LoadId, request.Step, request.Attempt), t), cancellationToken);
            return await MergeRunner.RunAsync(session, request, _clock, cancellationToken);
        }
        catch (Exception e) when (PostgresErrors.Translate(e, Name, request.TargetTable) is { } translated)
        {
            throw translated;
        }
        finally
        {
            _merging.Release();
        }
    }

    public async Task<WarehouseChangeResult> ApplyChangesAsync(WarehouseChangeRequest request, CancellationToken cancellationToken)
    {
        ChangeRunner.Validate(request);
        try
        {
            await using var session = await _migrations.OpenAsync(t => PostgresSession.OpenAsync(_dataSource, new SessionTag(request.LoadId, request.Step, request.Attempt), t), cancellationToken);
            return await ChangeRunner.RunAsync(session, request, _clock, cancellationToken);
        }
        catch (Exception e) when (PostgresErrors.Translate(e, Name, request.Target) is { } translated)
        {
            throw translated;
        }
    }

    public async Task<IReadOnlyList<WarehouseTableResult>> WriteTablesAsync(WarehouseTablesRequest request, CancellationToken cancellationToken)
    {
        TablesRunner.Validate(request);
        string? table = null;
        try
        {
            await using var session = await _migrations.OpenAsync(t => PostgresSession.OpenAsync(_dataSource, new SessionTag(request.LoadId, request.Step, request.Attempt), t, _knownTables), cancellationToken);
            return await TablesRunner.RunAsync(session, request, _clock, t => table = t, cancellationToken);
        }
        catch (Exception e) when (PostgresErrors.Translate(e, Name, table) is { } translated)
        {
            throw translated;
        }
    }

    public async Task<long> CountRowsAsync(string table, long loadId, CancellationToken cancellationToken)
    {
        var name = TableName.Parse(table);
        try
        {
            await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
            await using (var exists = new NpgsqlCommand("select to_regclass(@name) is not null", connection))
            {
                exists.Parameters.AddWithValue("name", NpgsqlDbType.Text, PostgresSession.Qualified(name));
                if (await exists.ExecuteScalarAsync(cancellationToken) is not true)
                {
                    return 0;
                }
            }

            await using var count = new NpgsqlCommand(
                $"select count(*) from {PostgresSession.Qualified(name)} where {SqlIdentifier.Quote(SqlIdentifier.LoadIdColumn)} = @load", connection);
            count.Parameters.AddWithValue("load", NpgsqlDbType.Bigint, loadId);
            return (long)(await count.ExecuteScalarAsync(cancellationToken))!;
        }
        catch (Exception e) when (PostgresErrors.Translate(e, Name, table) is { } translated)
        {
            throw translated;
        }
    }

    public async Task<ReplacedRows?> GetReplacedAsync(string table, long loadId, CancellationToken cancellationToken)
    {
        try
        {
            await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
            await using (var exists = new NpgsqlCommand($"select to_regclass('{SqlIdentifier.ReplacedTable}') is not null", connection))
            {
                if (await exists.ExecuteScalarAsync(cancellationToken) is not true)
                {
                    return null; // no load has migrated this warehouse yet
                }
            }

            await using var command = new NpgsqlCommand(
                $"select replaced_by, partition_key, rows_replaced from {SqlIdentifier.ReplacedTable} where table_name = @table and load_id = @load", connection);
            command.Parameters.AddWithValue("table", NpgsqlDbType.Text, table);
            command.Parameters.AddWithValue("load", NpgsqlDbType.Bigint, loadId);
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            return await reader.ReadAsync(cancellationToken) ? new ReplacedRows(loadId, reader.GetInt64(0), reader.GetString(1), reader.GetInt64(2)) : null;
        }
        catch (Exception e) when (PostgresErrors.Translate(e, Name, table) is { } translated)
        {
            throw translated;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _dataSource.DisposeAsync();
        await _mergeSource.DisposeAsync();
        _merging.Dispose();
    }

    public void Dispose()
    {
        _dataSource.Dispose();
        _mergeSource.Dispose();
        _merging.Dispose();
    }
}
