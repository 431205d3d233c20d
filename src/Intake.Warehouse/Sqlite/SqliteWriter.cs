using System.Collections.Concurrent;
using System.Globalization;
using Microsoft.Data.Sqlite;

namespace Intake.Warehouse.Sqlite;

/// <summary>
/// The write side of one SQLite warehouse file in this process: a gate that its loads pass one at a time, and the one
/// connection they write on, kept open with its statements prepared.
/// </summary>
/// <remarks>
/// A load's transaction holds the file's write lock from <c>BEGIN IMMEDIATE</c> to its commit, so two loads never write
/// at the same time anyway. Without the gate the second one found the lock taken and Microsoft.Data.Sqlite slept 150 ms
/// before trying again (the connection had no busy timeout); now threads of this process queue on the gate and go on the
/// moment the load before them ends. Another process on the same file still meets SQLite's lock, and waits for it in
/// SQLite's busy handler up to the busy timeout. Because the gate lets one load at a time through, one connection serves
/// them all: its commands, and their prepared statements, are reused by every load (the ledger row, the delete of an
/// earlier attempt, the insert, the table description), where each was parsed again for every load before.
/// </remarks>
internal sealed class SqliteWriter : IAsyncDisposable
{
    /// <summary>Shared by every warehouse object of the process on the same file, so they queue on each other too.</summary>
    private static readonly ConcurrentDictionary<string, SemaphoreSlim> Gates = new(StringComparer.Ordinal);

    private readonly string _connectionString;
    private readonly string _pragmas;
    private readonly SemaphoreSlim _gate;
    private WriterConnection? _kept; // read and written only by the gate's holder (and DisposeAsync, which takes the gate)
    private bool _disposed;

    public SqliteWriter(string databasePath, TimeSpan busyTimeout)
    {
        _connectionString = new SqliteConnectionStringBuilder
        {
            DataSource = databasePath,
            Mode = SqliteOpenMode.ReadWriteCreate,
            // Kept open by this class; without the driver's pool, closing it really closes the file.
            Pooling = false,
            DefaultTimeout = (int)Math.Ceiling(busyTimeout.TotalSeconds),
        }.ConnectionString;
        // WAL lets audits and merges read while a load writes (the mode is stored in the file); the busy timeout makes a
        // load that meets another process's write wait in SQLite's handler rather than fail or sleep 150 ms steps.
        _pragmas = string.Create(CultureInfo.InvariantCulture, $"pragma busy_timeout = {(long)busyTimeout.TotalMilliseconds}; pragma journal_mode = wal");
        _gate = Gates.GetOrAdd(databasePath, _ => new SemaphoreSlim(1, 1));
    }

    private int _statementsPrepared;

    /// <summary>How many statements the writer's connections prepared; a statement reused by a later load is not counted again.</summary>
    public int StatementsPrepared => Volatile.Read(ref _statementsPrepared);

    public void CountPrepared() => Interlocked.Increment(ref _statementsPrepared);

    /// <summary>Waits for the gate, then hands out the writer connection. Every call is matched by one <see cref="ExitAsync"/>.</summary>
    public async Task<WriterConnection> EnterAsync(CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken);
        try
        {
            if (_kept is { } kept)
            {
                _kept = null;
                return kept;
            }

            var connection = new WriterConnection(_connectionString, this);
            try
            {
                await connection.OpenAsync(cancellationToken);
                await using var pragma = connection.CreateCommand();
                pragma.CommandText = _pragmas;
                await pragma.ExecuteNonQueryAsync(cancellationToken);
                return connection;
            }
            catch
            {
                await connection.DisposeAsync();
                throw;
            }
        }
        catch
        {
            _gate.Release();
            throw;
        }
    }

    /// <summary>
    /// Gives the connection back and opens the gate. It is kept for the next load when <paramref name="reusable"/> (its
    /// transaction ended cleanly) and it is not inside a transaction; otherwise it is closed and the next load opens one.
    /// </summary>
    public async ValueTask ExitAsync(WriterConnection connection, bool reusable)
    {
        try
        {
            if (reusable && !_disposed && connection.Handle is { } handle && SQLitePCL.raw.sqlite3_get_autocommit(handle) != 0)
            {
                connection.TrimCommands();
                _kept = connection;
            }
            else
            {
                await connection.DisposeAsync();
            }
        }
        finally
        {
            _gate.Release();
        }
    }

    public async ValueTask DisposeAsync()
    {
        // Waits for a load in progress to end, then closes the kept connection, so the file can be moved or deleted.
        await _gate.WaitAsync();
        try
        {
            _disposed = true;
            if (_kept is { } kept)
            {
                _kept = null;
                await kept.DisposeAsync();
            }
        }
        finally
        {
            _gate.Release();
        }
    }
}

/// <summary>The writer's connection: its commands stay prepared across loads until it closes.</summary>
internal sealed class WriterConnection(string connectionString, SqliteWriter writer) : SqliteConnection(connectionString)
{
    /// <summary>
    /// Enough for the statements of a few tables' loads; texts that carry a load id as a literal (counts, constant columns)
    /// are new each load, so the commands are dropped, between loads, once there are more.
    /// </summary>
    private const int CommandsKept = 64;

    private readonly Dictionary<string, KeptCommand> _commands = new(StringComparer.Ordinal);

    /// <summary>False once the connection is closing: its commands are then really disposed.</summary>
    public bool Keeping { get; private set; } = true;

    /// <summary>This connection's command for <paramref name="sql"/>, in <paramref name="transaction"/>; disposing it keeps it for the next use.</summary>
    public SqliteCommand Command(string sql, SqliteTransaction? transaction)
    {
        if (!_commands.TryGetValue(sql, out var command))
        {
            command = new KeptCommand(this) { Connection = this, CommandText = sql };
            _commands.Add(sql, command);
            writer.CountPrepared();
        }

        command.Transaction = transaction;
        return command;
    }

    /// <summary>Between loads: drops every command when more than <see cref="CommandsKept"/> piled up.</summary>
    public void TrimCommands()
    {
        if (_commands.Count > CommandsKept)
        {
            Keeping = false;
            foreach (var command in _commands.Values)
            {
                command.Dispose();
            }

            _commands.Clear();
            Keeping = true;
        }
    }

    protected override void Dispose(bool disposing)
    {
        Keeping = false; // the commands' statements are finalized before the connection closes
        base.Dispose(disposing);
    }

    /// <summary>A command whose Dispose, while its connection keeps it, only forgets the values bound: its statement stays prepared.</summary>
    private sealed class KeptCommand(WriterConnection owner) : SqliteCommand
    {
        protected override void Dispose(bool disposing)
        {
            if (disposing && owner.Keeping)
            {
                Parameters.Clear();
                Transaction = null;
                return;
            }

            base.Dispose(disposing);
        }
    }
}
