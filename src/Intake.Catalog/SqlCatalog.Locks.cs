using System.Data;
using Intake.Core.Ports;

namespace Intake.Catalog;

/// <summary>Named leases (<see cref="ILockStore"/>): one row per held lock. Same rule as the rest of the class: one SQL text for both databases.</summary>
public abstract partial class SqlCatalog : ILockStore
{
    public Task<bool> TryAcquireLockAsync(string name, string owner, TimeSpan lease, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentException.ThrowIfNullOrWhiteSpace(owner);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(lease, TimeSpan.Zero);
        return RunAsync(async connection =>
        {
            // One statement: the insert wins when the lock is free; otherwise the row is taken over only when its
            // lease ran out or it is the caller's own. PostgreSQL makes a second inserter wait for the first to
            // commit and then evaluates the condition on the new row, so two callers never both get it.
            var now = Now();
            var upsert = Command(connection, """
                INSERT INTO intake_locks (name, owner, expires_at) VALUES (@name, @owner, @until)
                ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
                WHERE intake_locks.expires_at < @now OR intake_locks.owner = excluded.owner
                """);
            Add(upsert, "@name", name, DbType.String);
            Add(upsert, "@owner", owner, DbType.String);
            AddTime(upsert, "@until", now + lease);
            AddTime(upsert, "@now", now);
            return await ExecuteAsync(upsert, cancellationToken) == 1;
        }, cancellationToken);
    }

    public Task ReleaseLockAsync(string name, string owner, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentException.ThrowIfNullOrWhiteSpace(owner);
        return RunAsync(async connection =>
        {
            var delete = Command(connection, "DELETE FROM intake_locks WHERE name = @name AND owner = @owner");
            Add(delete, "@name", name, DbType.String);
            Add(delete, "@owner", owner, DbType.String);
            return await ExecuteAsync(delete, cancellationToken);
        }, cancellationToken);
    }
}
