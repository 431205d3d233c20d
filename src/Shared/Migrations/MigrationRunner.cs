using System.Data;
using System.Data.Common;
using Intake.Core.Errors;

namespace Intake.Shared.Migrations;

/// <summary>What differs between the databases a <see cref="MigrationRunner"/> applies migrations to.</summary>
/// <param name="Subject">What the migrations build, for messages: "catalog", "warehouse".</param>
/// <param name="Description">The database as named in messages, without secrets.</param>
/// <param name="VersionTable">The table that records the versions applied.</param>
/// <param name="VersionTableSql">Its <c>CREATE TABLE IF NOT EXISTS</c> in the dialect's types (version, name, applied_at).</param>
/// <param name="SetTime">Binds <c>applied_at</c> as the dialect stores times.</param>
/// <param name="IsConnectionFailure">
/// True for a failure of the connection rather than of a migration's SQL: it leaves unwrapped, for the caller to
/// classify (usually transient), instead of being reported as a broken migration.
/// </param>
internal sealed record MigrationTarget(
    string Subject,
    string Description,
    string VersionTable,
    string VersionTableSql,
    Action<DbParameter, DateTimeOffset> SetTime,
    Func<Exception, bool> IsConnectionFailure);

/// <summary>
/// Applies versioned SQL files (<see cref="Migration"/>) that a database has not recorded yet. The catalog and the
/// warehouses share it (as source: adapters never reference each other), each with its own files and version table.
/// </summary>
internal static class MigrationRunner
{
    /// <summary>
    /// Applies, in version order, the <paramref name="migrations"/> not recorded in the target's version table, and
    /// records each. The caller owns <paramref name="transaction"/>: it began it so that no other process can be
    /// migrating at the same time (SQLite: <c>BEGIN IMMEDIATE</c>; PostgreSQL: an advisory lock taken first), and
    /// commits it; so either every pending migration is applied or, on failure, none is.
    /// </summary>
    /// <exception cref="IntakeException">
    /// Config: the database records a version newer than the newest known here, or a migration failed (its file
    /// name, the database's error and its SQL in the message).
    /// </exception>
    public static async Task ApplyAsync(
        DbConnection connection, DbTransaction transaction, MigrationTarget target, IReadOnlyList<Migration> migrations, DateTimeOffset now, CancellationToken cancellationToken)
    {
        await ExecuteAsync(Command(connection, transaction, target.VersionTableSql), cancellationToken);

        var applied = new HashSet<int>();
        await using (var select = Command(connection, transaction, $"SELECT version FROM {target.VersionTable}"))
        await using (var reader = await select.ExecuteReaderAsync(cancellationToken))
        {
            while (await reader.ReadAsync(cancellationToken))
            {
                applied.Add(reader.GetInt32(0));
            }
        }

        var newest = migrations.Count == 0 ? 0 : migrations.Max(m => m.Version);
        if (applied.Count > 0 && applied.Max() > newest)
        {
            throw IntakeException.Config(
                $"the {target.Description} has schema version {applied.Max()}, newer than this Intake knows ({newest}): upgrade Intake");
        }

        foreach (var migration in migrations.Where(m => !applied.Contains(m.Version)).OrderBy(m => m.Version))
        {
            try
            {
                await ExecuteAsync(Command(connection, transaction, migration.Sql), cancellationToken);
            }
            catch (DbException e) when (!target.IsConnectionFailure(e))
            {
                // The caller's transaction rolls back: the database stays at the version it had.
                throw IntakeException.Config(
                    $"{target.Subject} migration {migration.Name} failed on {target.Description}: {e.Message}{Environment.NewLine}{migration.Sql}", e);
            }

            var record = Command(connection, transaction, $"INSERT INTO {target.VersionTable} (version, name, applied_at) VALUES (@version, @name, @now)");
            Add(record, "@version", DbType.Int32).Value = migration.Version;
            Add(record, "@name", DbType.String).Value = migration.Name;
            target.SetTime(Add(record, "@now", null), now);
            await ExecuteAsync(record, cancellationToken);
        }
    }

    /// <summary>
    /// Whether the target records exactly the versions of <paramref name="migrations"/>: read without a transaction or a
    /// lock, so the usual start (nothing to apply) costs one SELECT instead of a serialised migration transaction, which
    /// short processes such as Postfix's <c>intake mail</c>, several at once, would otherwise queue on. False when the
    /// table is missing, a version is missing or one is newer: then <see cref="ApplyAsync"/> decides, under its lock.
    /// </summary>
    public static async Task<bool> IsCurrentAsync(DbConnection connection, MigrationTarget target, IReadOnlyList<Migration> migrations, CancellationToken cancellationToken)
    {
        var applied = new HashSet<int>();
        try
        {
            await using var select = connection.CreateCommand();
            select.CommandText = $"SELECT version FROM {target.VersionTable}";
            await using var reader = await select.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                applied.Add(reader.GetInt32(0));
            }
        }
        catch (DbException e) when (!target.IsConnectionFailure(e))
        {
            return false; // no version table yet: a new database
        }

        return applied.SetEquals(migrations.Select(m => m.Version));
    }

    // The SQL comes from the embedded files and the dialect's constants; values always go through parameters.
#pragma warning disable CA2100
    private static DbCommand Command(DbConnection connection, DbTransaction transaction, string sql)
    {
        var command = connection.CreateCommand();
        command.CommandText = sql;
        command.Transaction = transaction;
        return command;
    }
#pragma warning restore CA2100

    private static DbParameter Add(DbCommand command, string name, DbType? type)
    {
        var parameter = command.CreateParameter();
        parameter.ParameterName = name;
        if (type is { } t)
        {
            parameter.DbType = t;
        }

        command.Parameters.Add(parameter);
        return parameter;
    }

    private static async Task ExecuteAsync(DbCommand command, CancellationToken cancellationToken)
    {
        await using (command)
        {
            await command.ExecuteNonQueryAsync(cancellationToken);
        }
    }
}
