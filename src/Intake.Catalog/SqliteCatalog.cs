using System.Data;
using System.Data.Common;
using System.Globalization;
using System.Collections.Concurrent;
using Intake.Core.Errors;
using Intake.Core.Model;
using Microsoft.Data.Sqlite;

namespace Intake.Catalog;

/// <summary>
/// The embedded default catalog: one SQLite file, no server. Several processes on the same machine may
/// share the file: WAL mode lets readers run beside the one writer, and a writer waits up to the busy
/// timeout for another instead of failing. For many machines, use <see cref="PostgresCatalog"/>.
/// </summary>
/// <remarks>Differences from PostgreSQL: timestamps are fixed-width UTC ISO-8601 text; the claim needs no row
/// lock because every write statement holds the database's single write lock; migrations are serialised by
/// <c>BEGIN IMMEDIATE</c>.</remarks>
public sealed class SqliteCatalog : SqlCatalog
{
    /// <summary>Fixed width, so comparing the text compares the times (used by lease expiry and the creation window of a load listing).</summary>
    private const string TimeFormat = "yyyy-MM-dd'T'HH:mm:ss.fff'Z'";

    /// <summary>Long enough to ride out another process's write (each is one short statement), short enough to surface a stuck lock.</summary>
    public static readonly TimeSpan DefaultBusyTimeout = TimeSpan.FromSeconds(5);

    /// <summary>
    /// How many idle connections of each durability the catalog keeps open. A worker's call holds one for a few statements,
    /// so a handful serves a process's workers, sweeper and server; more in use at once are opened and closed as needed.
    /// </summary>
    private const int IdleConnectionsKept = 8;

    /// <summary>How many statements a connection keeps prepared: the hot path uses about a dozen; listings build more variants.</summary>
    private const int PreparedStatementsKept = 64;

    /// <summary>
    /// One in-process writer gate per catalog file, shared by every catalog of the process on that file. SQLite lets one
    /// connection write at a time; a second one that finds the lock taken sleeps in SQLite's busy handler (1, 2, 5, 10 ms…)
    /// even when the writer is done after a tenth of a millisecond. Threads of this process queue here instead and go on
    /// the moment the writer before them ends; other processes on the same file still meet SQLite's lock and busy timeout.
    /// </summary>
    private static readonly ConcurrentDictionary<string, SemaphoreSlim> WriterGates = new(StringComparer.Ordinal);

    private readonly string _connectionString;
    private readonly SemaphoreSlim _writerGate;
    private readonly Stack<CatalogConnection> _idleDurable = new();
    private readonly Stack<CatalogConnection> _idleRelaxed = new();
    private volatile bool _disposed;
    private int _pragmaRuns;
    private int _statementsPrepared;
    private readonly string _busyTimeoutPragma;
    private readonly string _durablePragmas;
    private readonly string _relaxedPragmas;

    /// <summary>Opens (creating it and its directory when missing) the catalog file at <paramref name="databasePath"/>.</summary>
    /// <param name="busyTimeout">How long a statement waits for another process's write lock before failing as transient.</param>
    public SqliteCatalog(string databasePath, TimeProvider time, TimeSpan? busyTimeout = null)
        : base(time, "Sqlite")
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(databasePath);
        var busy = busyTimeout ?? DefaultBusyTimeout;
        ArgumentOutOfRangeException.ThrowIfLessThan(busy, TimeSpan.Zero, nameof(busyTimeout));

        DatabasePath = Path.GetFullPath(databasePath);
        _busyTimeoutPragma = string.Create(CultureInfo.InvariantCulture, $"PRAGMA busy_timeout = {(long)busy.TotalMilliseconds}");
        _durablePragmas = _busyTimeoutPragma + "; PRAGMA synchronous = FULL";
        _relaxedPragmas = _busyTimeoutPragma + "; PRAGMA synchronous = NORMAL";
        _connectionString = new SqliteConnectionStringBuilder
        {
            DataSource = DatabasePath,
            Mode = SqliteOpenMode.ReadWriteCreate,
            // The catalog keeps its own connections open (below), each with its prepared statements, which the driver's
            // pool would finalize on every close; without the driver's pool, disposing the catalog really closes the file.
            Pooling = false,
            ForeignKeys = true,
            // Microsoft.Data.Sqlite also retries a busy statement itself until this many seconds pass; 0 would mean forever.
            DefaultTimeout = Math.Max(1, (int)Math.Ceiling(busy.TotalSeconds)),
        }.ToString();
        _writerGate = WriterGates.GetOrAdd(DatabasePath, _ => new SemaphoreSlim(1, 1));

        try
        {
            Directory.CreateDirectory(Path.GetDirectoryName(DatabasePath)!);
            using var connection = new SqliteConnection(_connectionString);
            connection.Open();
            using var command = connection.CreateCommand();
            // WAL is a property of the file, kept across connections and processes: readers no longer block the writer.
            command.CommandText = $"{_busyTimeoutPragma}; PRAGMA journal_mode = WAL;";
            command.ExecuteNonQuery();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or SqliteException)
        {
            throw Translate(e) ?? IntakeException.Config($"cannot open the SQLite catalog {DatabasePath}: {e.Message}", e);
        }
    }

    /// <summary>The full path of the catalog file.</summary>
    public string DatabasePath { get; }

    public override string Description => $"SQLite catalog {DatabasePath}";

    /// <summary>
    /// <c>synchronous = FULL</c>: the commit returns once the WAL is on disk (an fsync per commit). A FULL commit also
    /// makes every earlier commit in the WAL durable.
    /// </summary>
    private protected override Task<DbConnection> OpenConnectionAsync(CancellationToken cancellationToken) =>
        RentConnectionAsync(relaxed: false, cancellationToken);

    /// <summary>
    /// <c>synchronous = NORMAL</c> in WAL mode: the commit is in the WAL in the operating system's cache, with no fsync;
    /// a SIGKILL of the process loses nothing committed (the kernel still writes the file), a power loss may lose the
    /// newest such commits, never the database's consistency (SQLite's documented WAL guarantee). The WAL is synced
    /// at the next FULL commit or checkpoint.
    /// </summary>
    private protected override Task<DbConnection> OpenRelaxedConnectionAsync(CancellationToken cancellationToken) =>
        RentConnectionAsync(relaxed: true, cancellationToken);

    /// <summary>How many times this catalog set its pragmas on a connection it opened.</summary>
    internal int PragmaRuns => Volatile.Read(ref _pragmaRuns);

    /// <summary>How many statements this catalog's connections prepared (parsed and planned); reused ones are not counted again.</summary>
    internal int StatementsPrepared => Volatile.Read(ref _statementsPrepared);

    /// <summary>The <c>synchronous</c> level (1 NORMAL, 2 FULL) a durable or a relaxed connection runs at, as the pool hands it out.</summary>
    internal Task<long> SynchronousLevelAsync(bool relaxed, CancellationToken cancellationToken) => RunAsync(async connection =>
    {
        await using var command = connection.CreateCommand();
        command.CommandText = "PRAGMA synchronous";
        return Convert.ToInt64(await command.ExecuteScalarAsync(cancellationToken), CultureInfo.InvariantCulture);
    }, relaxed, cancellationToken);

    /// <summary>
    /// An idle connection of this durability, or a new one. A connection keeps one durability for life, so its pragmas are
    /// set once, when it opens: a durable call can never run at the relaxed level.
    /// </summary>
    private async Task<DbConnection> RentConnectionAsync(bool relaxed, CancellationToken cancellationToken)
    {
        var idle = relaxed ? _idleRelaxed : _idleDurable;
        lock (idle)
        {
            // After DisposeAsync nothing is kept: a late call still works, on a connection closed when it ends.
            if (idle.TryPop(out var kept))
            {
                return kept;
            }
        }

        var connection = new CatalogConnection(_connectionString, this);
        try
        {
            await connection.OpenAsync(cancellationToken);
            // A new connection starts at busy timeout 0 (fail at once): both pragmas, in one statement.
            await using var command = connection.CreateCommand();
            command.CommandText = relaxed ? _relaxedPragmas : _durablePragmas;
            await command.ExecuteNonQueryAsync(cancellationToken);
            Interlocked.Increment(ref _pragmaRuns);
            connection.Relaxed = relaxed;
            return connection;
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
        }
    }

    private protected override async ValueTask ReleaseConnectionAsync(DbConnection connection, bool completed)
    {
        var kept = (CatalogConnection)connection;
        kept.ReleaseWriterGate();
        // A failed call may have left the connection in a state no later call should inherit (a statement or transaction
        // still open): it is closed, and the next call opens a fresh one.
        if (completed && kept.State == ConnectionState.Open && kept.Handle is { } handle && SQLitePCL.raw.sqlite3_get_autocommit(handle) != 0)
        {
            var idle = kept.Relaxed ? _idleRelaxed : _idleDurable;
            lock (idle)
            {
                if (!_disposed && idle.Count < IdleConnectionsKept)
                {
                    idle.Push(kept);
                    return;
                }
            }
        }

        await kept.DisposeAsync();
    }

    private protected override async ValueTask<DbCommand> RentCommandAsync(DbCommand command, CancellationToken cancellationToken)
    {
        var connection = (CatalogConnection)command.Connection!;
        var prepared = connection.PreparedFor(command.CommandText, out var writes);
        if (writes)
        {
            // Held until the call ends: its later statements, and a transaction it begins, find the gate already theirs.
            await connection.EnterWriterGateAsync(cancellationToken);
        }

        if (prepared is null)
        {
            return command;
        }

        prepared.Transaction = (SqliteTransaction?)command.Transaction;
        var parameters = new SqliteParameter[command.Parameters.Count];
        command.Parameters.CopyTo(parameters, 0);
        command.Parameters.Clear();
        prepared.Parameters.AddRange(parameters);
        return prepared;
    }

    private protected override ValueTask ReturnCommandAsync(DbCommand command, DbCommand rented)
    {
        if (!ReferenceEquals(command, rented))
        {
            // Kept with its prepared statement; the values bound go, so the command holds nothing of this call.
            rented.Parameters.Clear();
            rented.Transaction = null;
        }

        return command.DisposeAsync();
    }

    /// <summary>
    /// A connection the catalog keeps open across calls, with the commands it ran, each keeping its statement prepared
    /// (Microsoft.Data.Sqlite finalizes a command's statements when the connection closes, so they live as long as this).
    /// </summary>
    private sealed class CatalogConnection(string connectionString, SqliteCatalog catalog) : SqliteConnection(connectionString)
    {
        private readonly Dictionary<string, (SqliteCommand Command, bool Writes)> _prepared = new(StringComparer.Ordinal);
        private bool _holdsWriterGate;

        public bool Relaxed { get; set; }

        /// <summary>This connection's command for <paramref name="sql"/>, prepared when first run; null when no more are kept.</summary>
        public SqliteCommand? PreparedFor(string sql, out bool writes)
        {
            if (_prepared.TryGetValue(sql, out var kept))
            {
                writes = kept.Writes;
                return kept.Command;
            }

            writes = Writes(sql);
            if (_prepared.Count >= PreparedStatementsKept)
            {
                return null;
            }

            var command = CreateCommand();
            command.CommandText = sql;
            _prepared.Add(sql, (command, writes));
            Interlocked.Increment(ref catalog._statementsPrepared);
            return command;
        }

        /// <summary>Whatever does not only read: the catalog's reads all begin with SELECT (or PRAGMA).</summary>
        private static bool Writes(string sql)
        {
            var text = sql.AsSpan().TrimStart();
            return !(text.StartsWith("SELECT", StringComparison.OrdinalIgnoreCase) || text.StartsWith("PRAGMA", StringComparison.OrdinalIgnoreCase));
        }

        public async ValueTask EnterWriterGateAsync(CancellationToken cancellationToken)
        {
            if (!_holdsWriterGate)
            {
                await catalog._writerGate.WaitAsync(cancellationToken);
                _holdsWriterGate = true;
            }
        }

        public void ReleaseWriterGate()
        {
            if (_holdsWriterGate)
            {
                _holdsWriterGate = false;
                catalog._writerGate.Release();
            }
        }

        // Every transaction of the catalog writes (BEGIN IMMEDIATE takes the write lock): it queues at the gate first.
        protected override async ValueTask<DbTransaction> BeginDbTransactionAsync(IsolationLevel isolationLevel, CancellationToken cancellationToken)
        {
            await EnterWriterGateAsync(cancellationToken);
            return BeginTransaction(isolationLevel);
        }

        public override SqliteTransaction BeginTransaction(IsolationLevel isolationLevel, bool deferred)
        {
            if (!_holdsWriterGate)
            {
                catalog._writerGate.Wait();
                _holdsWriterGate = true;
            }

            return base.BeginTransaction(isolationLevel, deferred);
        }
    }

    /// <summary>None: a write statement holds the database write lock from before it reads until it ends.</summary>
    private protected override string ClaimRowLock => "";

    private protected override string MigrationsTableSql =>
        "CREATE TABLE IF NOT EXISTS intake_schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL) STRICT";

    /// <summary>BEGIN IMMEDIATE takes the write lock at once, so a second process waits here instead of reading a stale version list.</summary>
    private protected override Task<DbTransaction> BeginMigrationAsync(DbConnection connection, CancellationToken cancellationToken) =>
        Task.FromResult<DbTransaction>(((SqliteConnection)connection).BeginTransaction(deferred: false));

    private protected override void SetTime(DbParameter parameter, DateTimeOffset? utc)
    {
        parameter.DbType = DbType.String;
        parameter.Value = utc is { } t ? t.ToString(TimeFormat, CultureInfo.InvariantCulture) : DBNull.Value;
    }

    private protected override DateTimeOffset GetTime(DbDataReader reader, int ordinal) =>
        DateTimeOffset.ParseExact(reader.GetString(ordinal), TimeFormat, CultureInfo.InvariantCulture,
            DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal);

    /// <summary>
    /// Exact, and prefix with GLOB (case-sensitive like the other two databases' exact and prefix, and able to read the
    /// index on the key); a part of the key with LIKE, which ignores the case of ASCII letters.
    /// </summary>
    private protected override (string Clause, string Value) SourceKeySearch(SourceKeyMatch match, string text) => match switch
    {
        SourceKeyMatch.Exact => ("source_key = @source_key", text),
        SourceKeyMatch.Prefix => ("source_key GLOB @source_key", EscapeGlob(text) + "*"),
        SourceKeyMatch.Contains => ("source_key LIKE @source_key ESCAPE '\\'", "%" + EscapeLike(text) + "%"),
        _ => throw new ArgumentOutOfRangeException(nameof(match), match, null),
    };

    /// <summary>GLOB has no escape character: a wildcard stands for itself inside brackets.</summary>
    private static string EscapeGlob(string text) =>
        text.Replace("[", "[[]", StringComparison.Ordinal).Replace("*", "[*]", StringComparison.Ordinal).Replace("?", "[?]", StringComparison.Ordinal);

    private protected override IntakeException? Translate(Exception exception) => exception switch
    {
        // SQLITE_BUSY, SQLITE_LOCKED: another process held the lock past the busy timeout.
        SqliteException { SqliteErrorCode: 5 or 6 } e => IntakeException.Transient($"the {Description} is busy: {e.Message}", e),
        // SQLITE_CANTOPEN: a path that cannot work (missing permission, a directory).
        SqliteException { SqliteErrorCode: 14 } e => IntakeException.Config($"cannot open the {Description}: {e.Message}", e),
        _ => null,
    };

    public override async ValueTask DisposeAsync()
    {
        // The kept connections hold the file open; close them so the file can be moved or deleted. One still in use
        // is closed when its call hands it back.
        var closing = new List<CatalogConnection>();
        foreach (var idle in new[] { _idleDurable, _idleRelaxed })
        {
            lock (idle)
            {
                _disposed = true;
                closing.AddRange(idle);
                idle.Clear();
            }
        }

        foreach (var connection in closing)
        {
            await connection.DisposeAsync();
        }
    }
}
