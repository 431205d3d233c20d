namespace Intake.Warehouse.Loading;

/// <summary>
/// Keeps a warehouse's own tables (the ledger) at the newest of its versioned migrations (<c>Migrations/&lt;Dialect&gt;</c>):
/// before the first load or merge of a warehouse object, the pending migrations are applied in a transaction of
/// their own, so a load never fails half-way for a missing ledger and never carries the migration's lock.
/// </summary>
internal sealed class WarehouseMigrations(string warehouse, TimeProvider clock)
{
    // Set once the database is current. Until then the callers of this process share one migration (the others wait
    // for it holding no connection); other processes queue on the session's schema lock, and all but the first find
    // nothing left to apply. A migration that failed is tried again by the next caller.
    private readonly Lock _gate = new();
    private Task? _migration;
    private volatile bool _current;

    /// <summary>A session of <paramref name="open"/>, once the warehouse's tables are current.</summary>
    public async Task<TSession> OpenAsync<TSession>(Func<CancellationToken, Task<TSession>> open, CancellationToken cancellationToken)
        where TSession : IWarehouseSession
    {
        if (!_current)
        {
            Task migration;
            lock (_gate)
            {
                // Not any one caller's cancellation: the others wait for the same migration (its statements still time out).
                migration = _migration ??= Task.Run(() => MigrateAsync(open), CancellationToken.None);
            }

            try
            {
                await migration.WaitAsync(cancellationToken);
            }
            catch (Exception) when (migration.IsFaulted)
            {
                lock (_gate)
                {
                    if (_migration == migration)
                    {
                        _migration = null;
                    }
                }

                throw;
            }
        }

        return await open(cancellationToken);
    }

    private async Task MigrateAsync<TSession>(Func<CancellationToken, Task<TSession>> open)
        where TSession : IWarehouseSession
    {
        await using (var session = await open(CancellationToken.None))
        {
            await session.MigrateAsync(warehouse, clock.GetUtcNow(), CancellationToken.None);
            await session.CommitAsync(CancellationToken.None);
        }

        _current = true;
    }
}
