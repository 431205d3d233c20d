using System.Data;
using System.Data.Common;
using System.Net.Sockets;
using Intake.Core.Errors;
using Intake.Core.Model;
using Npgsql;

namespace Intake.Catalog;

/// <summary>
/// The shared catalog for many processes on many machines. Claims lock the picked row with
/// <c>FOR UPDATE SKIP LOCKED</c>, so concurrent workers take different loads without waiting for each other.
/// </summary>
/// <remarks>Differences from SQLite: timestamps are <c>timestamptz</c>; the claim locks its row; migrations are
/// serialised by a transaction-scoped advisory lock, released by commit or rollback even if the process dies.</remarks>
public sealed class PostgresCatalog : SqlCatalog
{
    /// <summary>"Intake" in ASCII: the advisory lock key that serialises migrations across processes.</summary>
    private const long MigrationLockKey = 0x496E74616B65;

    /// <summary>
    /// Statements kept prepared per connection when the connection string does not say: the hot path uses about
    /// fifteen texts (the claim's varies with its pipeline filter), a group of stage ends one per number of loads and of
    /// attempts it writes (SqlCatalog.StageEnds.cs), the operator's and the server's calls a few tens more.
    /// </summary>
    internal const int AutoPreparedStatements = 128;

    private readonly NpgsqlDataSource _dataSource;
    private readonly NpgsqlDataSource _relaxedDataSource;

    /// <param name="connectionString">An Npgsql connection string, e.g. <c>Host=db;Database=intake;Username=intake</c>.</param>
    public PostgresCatalog(string connectionString, TimeProvider time)
        : base(time, "Postgres")
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(connectionString);
        NpgsqlConnectionStringBuilder builder;
        try
        {
            builder = new NpgsqlConnectionStringBuilder(connectionString);
        }
        catch (ArgumentException e)
        {
            // The message names the bad keyword, never the string itself: it may hold a password.
            throw IntakeException.Config($"invalid PostgreSQL catalog connection string: {e.Message}", e);
        }

        Description = $"PostgreSQL catalog {builder.Host}:{builder.Port}/{builder.Database}";
        // The catalog keeps no session state (no SET, no session locks, no temporary tables: its one advisory lock is
        // transaction-scoped), so a connection going back to the pool needs no DISCARD ALL: one round trip less per call.
        builder.NoResetOnClose = true;
        // The catalog sends the same few statements for every load: prepared once per connection (after two uses), the
        // server stops parsing and planning them on every call. Kept as the connection string says when it says.
        var given = new DbConnectionStringBuilder { ConnectionString = connectionString };
        if (!given.ContainsKey("Max Auto Prepare") && !given.ContainsKey("MaxAutoPrepare"))
        {
            builder.MaxAutoPrepare = AutoPreparedStatements;
            if (!given.ContainsKey("Auto Prepare Min Usages") && !given.ContainsKey("AutoPrepareMinUsages"))
            {
                builder.AutoPrepareMinUsages = 2;
            }
        }

        _dataSource = NpgsqlDataSource.Create(builder);
        // The hot path's commits (OpenRelaxedConnectionAsync) do not wait for the WAL flush: synchronous_commit = off
        // for that pool's sessions only. Such a commit is visible at once and survives a crash of this process; a crash
        // of the server may lose the newest of them (at most three WAL writer delays), never the database's consistency.
        var relaxed = new NpgsqlConnectionStringBuilder(builder.ConnectionString);
        relaxed.Options = string.IsNullOrWhiteSpace(relaxed.Options) ? "-c synchronous_commit=off" : relaxed.Options + " -c synchronous_commit=off";
        _relaxedDataSource = NpgsqlDataSource.Create(relaxed);
    }

    public override string Description { get; }

    /// <summary>The settings the catalog's connections are opened with (durable pool, or the hot path's relaxed one).</summary>
    internal NpgsqlConnectionStringBuilder Settings(bool relaxed) => new((relaxed ? _relaxedDataSource : _dataSource).ConnectionString);

    private protected override async Task<DbConnection> OpenConnectionAsync(CancellationToken cancellationToken) =>
        await _dataSource.OpenConnectionAsync(cancellationToken);

    private protected override async Task<DbConnection> OpenRelaxedConnectionAsync(CancellationToken cancellationToken) =>
        await _relaxedDataSource.OpenConnectionAsync(cancellationToken);

    /// <summary>Lock the picked row; a concurrent claimer skips it and takes the next one instead of waiting.</summary>
    private protected override string ClaimRowLock => "FOR UPDATE SKIP LOCKED";

    private protected override string MigrationsTableSql =>
        "CREATE TABLE IF NOT EXISTS intake_schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL)";

    /// <summary>
    /// Taken before anything else, even CREATE TABLE IF NOT EXISTS (which itself races on the system catalogs).
    /// DDL is transactional in PostgreSQL, so a failed migration leaves no trace.
    /// </summary>
    private protected override async Task<DbTransaction> BeginMigrationAsync(DbConnection connection, CancellationToken cancellationToken)
    {
        var tx = await connection.BeginTransactionAsync(cancellationToken);
        try
        {
            await using var command = new NpgsqlCommand("SELECT pg_advisory_xact_lock(@key)", (NpgsqlConnection)connection, (NpgsqlTransaction)tx);
            command.Parameters.AddWithValue("key", MigrationLockKey);
            await command.ExecuteNonQueryAsync(cancellationToken);
            return tx;
        }
        catch
        {
            await tx.DisposeAsync();
            throw;
        }
    }

    private protected override bool EndsPlainInOneStatement => true;

    private protected override void SetTime(DbParameter parameter, DateTimeOffset? utc)
    {
        // timestamptz; Npgsql accepts a DateTimeOffset only at offset zero, which the base class guarantees.
        parameter.DbType = DbType.DateTimeOffset;
        parameter.Value = utc is { } t ? t : DBNull.Value;
    }

    private protected override DateTimeOffset GetTime(DbDataReader reader, int ordinal) => reader.GetFieldValue<DateTimeOffset>(ordinal);

    /// <summary>
    /// Exact and prefix read the byte-order index on the key (LIKE with a literal prefix); a part of the key reads the
    /// trigram index (ILIKE), when migration 0010 could create pg_trgm.
    /// </summary>
    private protected override (string Clause, string Value) SourceKeySearch(SourceKeyMatch match, string text) => match switch
    {
        SourceKeyMatch.Exact => ("source_key = @source_key", text),
        SourceKeyMatch.Prefix => ("source_key LIKE @source_key ESCAPE '\\'", EscapeLike(text) + "%"),
        SourceKeyMatch.Contains => ("source_key ILIKE @source_key ESCAPE '\\'", "%" + EscapeLike(text) + "%"),
        _ => throw new ArgumentOutOfRangeException(nameof(match), match, null),
    };

    private protected override IntakeException? Translate(Exception exception)
    {
        var translated = Classify(exception);
        if (translated is { IsTransient: true })
        {
            // A server restart breaks the idle connections of both pools; each would be found broken only on its own
            // next use, as a second outage. Dropping both at the first sign makes the next calls connect afresh.
            _dataSource.Clear();
            _relaxedDataSource.Clear();
        }

        return translated;
    }

    private IntakeException? Classify(Exception exception) => exception switch
    {
        // invalid_catalog_name, invalid_authorization_specification, invalid_password: retrying cannot help.
        PostgresException { SqlState: "3D000" or "28000" or "28P01" } e => IntakeException.Config($"cannot use the {Description}: {e.Message}", e),
        // Npgsql computes IsTransient from the cause: socket, timeout, server shutting down, serialization failure.
        NpgsqlException { IsTransient: true } e => IntakeException.Transient($"the {Description} is unreachable or busy: {e.Message}", e),
        SocketException or TimeoutException => IntakeException.Transient($"the {Description} is unreachable: {exception.Message}", exception),
        _ => null,
    };

    public override async ValueTask DisposeAsync()
    {
        await _relaxedDataSource.DisposeAsync();
        await _dataSource.DisposeAsync();
    }
}
