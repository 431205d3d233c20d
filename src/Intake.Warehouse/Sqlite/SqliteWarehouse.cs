using Intake.Core.Errors;
using Intake.Core.Ports;
using Intake.Warehouse.Changes;
using Intake.Warehouse.Loading;
using Intake.Warehouse.Merging;
using Microsoft.Data.Sqlite;

namespace Intake.Warehouse.Sqlite;

/// <summary>
/// An embedded warehouse in one SQLite file, for a single machine and for trying Intake without a server.
/// It follows the same rules as PostgreSQL (one transaction per load, rows tagged with their load id, a ledger
/// row in the same transaction), so a pipeline can move from one to the other unchanged.
/// </summary>
public sealed class SqliteWarehouse : IWarehouse, IAsyncDisposable
{
    private readonly string _connectionString;
    private readonly SqliteWriter _writer;
    private readonly TimeProvider _clock;
    private readonly WarehouseMigrations _migrations;

    /// <param name="name">The warehouse's name in the configuration, used in messages.</param>
    /// <param name="databasePath">The database file; it and its directory are created when missing.</param>
    /// <param name="timeProvider">The clock for ledger rows; the system clock when null.</param>
    /// <param name="busyTimeout">
    /// How long a load waits for another writer of the same file before failing as transient; 30 seconds when null.
    /// </param>
    public SqliteWarehouse(string name, string databasePath, TimeProvider? timeProvider = null, TimeSpan? busyTimeout = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentException.ThrowIfNullOrWhiteSpace(databasePath);
        Name = name;
        DatabasePath = Path.GetFullPath(databasePath);
        _clock = timeProvider ?? TimeProvider.System;
        _migrations = new WarehouseMigrations(name, _clock);
        var busy = busyTimeout ?? TimeSpan.FromSeconds(30);
        _connectionString = new SqliteConnectionStringBuilder
        {
            DataSource = DatabasePath,
            Mode = SqliteOpenMode.ReadWriteCreate,
            // Microsoft.Data.Sqlite retries a busy database for the command timeout before failing.
            DefaultTimeout = (int)Math.Ceiling(busy.TotalSeconds),
        }.ConnectionString;
        _writer = new SqliteWriter(DatabasePath, busy);
    }

    public string Name { get; }

    public string DatabasePath { get; }

    public async Task<WarehouseLoadResult> LoadAsync(WarehouseLoadRequest request, IAsyncEnumerable<IRowSource> sources, CancellationToken cancellationToken)
    {
        LoadRunner.Validate(request);
        ArgumentNullException.ThrowIfNull(sources);
        try
        {
            if (Path.GetDirectoryName(DatabasePath) is { Length: > 0 } directory)
            {
                Directory.CreateDirectory(directory);
            }

            await using var session = await _migrations.OpenAsync(t => SqliteSession.OpenAsync(_writer, t), cancellationToken);
            return await LoadRunner.RunAsync(session, request, sources, _clock, cancellationToken);
        }
        catch (Exception e) when (SqliteErrors.Translate(e, Name, request.Table) is { } translated)
        {
            throw translated;
        }
    }

    public async Task<WarehouseMergeResult> MergeAsync(WarehouseMergeRequest request, CancellationToken cancellationToken)
    {
        MergeRunner.Validate(request);
        try
        {
            await using var session = await _migrations.OpenAsync(t => SqliteSession.OpenAsync(_writer, t), cancellationToken);
            return await MergeRunner.RunAsync(session, request, _clock, cancellationToken);
        }
        catch (Exception e) when (SqliteErrors.Translate(e, Name, request.TargetTable) is { } translated)
        {
            throw translated;
        }
    }

    public async Task<WarehouseChangeResult> ApplyChangesAsync(WarehouseChangeRequest request, CancellationToken cancellationToken)
    {
        ChangeRunner.Validate(request);
        try
        {
            await using var session = await _migrations.OpenAsync(t => SqliteSession.OpenAsync(_writer, t), cancellationToken);
            return await ChangeRunner.RunAsync(session, request, _clock, cancellationToken);
        }
        catch (Exception e) when (SqliteErrors.Translate(e, Name, request.Target) is { } translated)
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
            if (Path.GetDirectoryName(DatabasePath) is { Length: > 0 } directory)
            {
                Directory.CreateDirectory(directory);
            }

            await using var session = await _migrations.OpenAsync(t => SqliteSession.OpenAsync(_writer, t), cancellationToken);
            return await TablesRunner.RunAsync(session, request, _clock, t => table = t, cancellationToken);
        }
        catch (Exception e) when (SqliteErrors.Translate(e, Name, table) is { } translated)
        {
            throw translated;
        }
    }

    public async Task<long> CountRowsAsync(string table, long loadId, CancellationToken cancellationToken)
    {
        var name = TableName.Parse(table);
        if (!File.Exists(DatabasePath))
        {
            return 0;
        }

        try
        {
            await using var connection = await SqliteSession.OpenConnectionAsync(_connectionString, cancellationToken);
            if (await SqliteSession.DescribeAsync(connection, null, name, cancellationToken) is null)
            {
                return 0;
            }

            await using var command = connection.CreateCommand();
            command.CommandText = $"SELECT count(*) FROM {SqliteSession.Quoted(name)} WHERE {SqlIdentifier.Quote(SqlIdentifier.LoadIdColumn)} = $load";
            command.Parameters.AddWithValue("$load", loadId);
            return (long)(await command.ExecuteScalarAsync(cancellationToken))!;
        }
        catch (Exception e) when (SqliteErrors.Translate(e, Name, table) is { } translated)
        {
            throw translated;
        }
    }

    public async Task<ReplacedRows?> GetReplacedAsync(string table, long loadId, CancellationToken cancellationToken)
    {
        if (!File.Exists(DatabasePath))
        {
            return null;
        }

        try
        {
            await using var connection = await SqliteSession.OpenConnectionAsync(_connectionString, cancellationToken);
            if (await SqliteSession.DescribeAsync(connection, null, TableName.Parse(SqlIdentifier.ReplacedTable), cancellationToken) is null)
            {
                return null; // no load has migrated this warehouse yet
            }

            await using var command = connection.CreateCommand();
            command.CommandText = $"SELECT replaced_by, partition_key, rows_replaced FROM {SqlIdentifier.ReplacedTable} WHERE table_name = $table AND load_id = $load";
            command.Parameters.AddWithValue("$table", table);
            command.Parameters.AddWithValue("$load", loadId);
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            return await reader.ReadAsync(cancellationToken) ? new ReplacedRows(loadId, reader.GetInt64(0), reader.GetString(1), reader.GetInt64(2)) : null;
        }
        catch (Exception e) when (SqliteErrors.Translate(e, Name, table) is { } translated)
        {
            throw translated;
        }
    }

    /// <summary>How many statements this warehouse's loads prepared; one reused by a later load is not counted again.</summary>
    internal int StatementsPrepared => _writer.StatementsPrepared;

    public async ValueTask DisposeAsync()
    {
        // The writer's connection and the pooled readers keep the file open; close them so it can be moved or deleted.
        await _writer.DisposeAsync();
        using var connection = new SqliteConnection(_connectionString);
        SqliteConnection.ClearPool(connection);
    }
}
