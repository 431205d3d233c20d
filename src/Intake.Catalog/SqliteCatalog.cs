using System.Data;
using System.Data.Common;
using System.Globalization;
using System.Runtime.CompilerServices;
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
    /// The pragmas each pooled connection (its native handle, which the pool keeps across opens) was last set to. Setting
    /// them on every open was a statement parsed and run beside each catalog call; now only when the handle is new or
    /// was last used at the other durability. Shared by every catalog of the process, as the pool is.
    /// </summary>
    private static readonly ConditionalWeakTable<SQLitePCL.sqlite3, string> PragmasSet = [];

    private readonly string _connectionString;
    private readonly string _relaxedConnectionString;
    private int _pragmaRuns;
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
        var builder = new SqliteConnectionStringBuilder
        {
            DataSource = DatabasePath,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Pooling = true,
            ForeignKeys = true,
            // Microsoft.Data.Sqlite also retries a busy statement itself until this many seconds pass; 0 would mean forever.
            DefaultTimeout = Math.Max(1, (int)Math.Ceiling(busy.TotalSeconds)),
        };
        _connectionString = builder.ToString();
        // The pool is keyed by the connection string: the hot path's connections get a pool of their own (the default
        // value of a setting, spelled out, changes nothing else), so a pooled connection keeps one durability for life
        // and its pragmas are set once, not again each time it passes from a relaxed call to a durable one.
        builder.RecursiveTriggers = false;
        _relaxedConnectionString = builder.ToString();

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
        OpenAsync(_connectionString, _durablePragmas, cancellationToken);

    /// <summary>
    /// <c>synchronous = NORMAL</c> in WAL mode: the commit is in the WAL in the operating system's cache, with no fsync;
    /// a SIGKILL of the process loses nothing committed (the kernel still writes the file), a power loss may lose the
    /// newest such commits, never the database's consistency (SQLite's documented WAL guarantee). The WAL is synced
    /// at the next FULL commit or checkpoint.
    /// </summary>
    private protected override Task<DbConnection> OpenRelaxedConnectionAsync(CancellationToken cancellationToken) =>
        OpenAsync(_relaxedConnectionString, _relaxedPragmas, cancellationToken);

    /// <summary>How many times this catalog set its pragmas on a connection it opened.</summary>
    internal int PragmaRuns => Volatile.Read(ref _pragmaRuns);

    /// <summary>The <c>synchronous</c> level (1 NORMAL, 2 FULL) a durable or a relaxed connection runs at, as the pool hands it out.</summary>
    internal async Task<long> SynchronousLevelAsync(bool relaxed, CancellationToken cancellationToken)
    {
        await using var connection = relaxed ? await OpenRelaxedConnectionAsync(cancellationToken) : await OpenConnectionAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = "PRAGMA synchronous";
        return Convert.ToInt64(await command.ExecuteScalarAsync(cancellationToken), CultureInfo.InvariantCulture);
    }

    private async Task<DbConnection> OpenAsync(string connectionString, string pragmas, CancellationToken cancellationToken)
    {
        var connection = new SqliteConnection(connectionString);
        try
        {
            await connection.OpenAsync(cancellationToken);
            // Per connection: a pooled connection keeps both, but a new one starts at busy timeout 0 (fail at once),
            // and a pooled one may come back with the other durability: both are set, in one statement, unless this
            // handle was last set to exactly these (a handle serves one connection at a time, so nothing changes them between).
            var handle = connection.Handle;
            if (handle is null || !PragmasSet.TryGetValue(handle, out var set) || !string.Equals(set, pragmas, StringComparison.Ordinal))
            {
                await using var command = connection.CreateCommand();
                command.CommandText = pragmas;
                await command.ExecuteNonQueryAsync(cancellationToken);
                Interlocked.Increment(ref _pragmaRuns);
                if (handle is not null)
                {
                    PragmasSet.AddOrUpdate(handle, pragmas);
                }
            }

            return connection;
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
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

    public override ValueTask DisposeAsync()
    {
        // Pooled connections keep the file open; release them so the file can be moved or deleted.
        using var connection = new SqliteConnection(_connectionString);
        SqliteConnection.ClearPool(connection);
        using var relaxed = new SqliteConnection(_relaxedConnectionString);
        SqliteConnection.ClearPool(relaxed);
        return ValueTask.CompletedTask;
    }
}
