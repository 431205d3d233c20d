namespace Intake.Warehouse.Loading;

/// <summary>
/// Keeps a warehouse's own tables (the ledger) at the newest of its versioned migrations (<c>Migrations/&lt;Dialect&gt;</c>):
/// before the first load or merge of a warehouse object, the pending migrations are applied in a transaction of
/// their own, so a load never fails half-way for a missing ledger and never carries the migration's lock.
/// </summary>
internal sealed class WarehouseMigrations(string warehouse, TimeProvider clock)
{
    // Set once the database is current. Until then every caller migrates: concurrent ones (threads or processes)
    // queue on the session's schema lock, and all but the first find nothing left to apply.
    private volatile bool _current;

    /// <summary>A session of <paramref name="open"/>, once the warehouse's tables are current.</summary>
    public async Task<TSession> OpenAsync<TSession>(Func<CancellationToken, Task<TSession>> open, CancellationToken cancellationToken)
        where TSession : IWarehouseSession
    {
        if (!_current)
        {
            await using (var session = await open(cancellationToken))
            {
                await session.MigrateAsync(warehouse, clock.GetUtcNow(), cancellationToken);
                await session.CommitAsync(cancellationToken);
            }

            _current = true;
        }

        return await open(cancellationToken);
    }
}
