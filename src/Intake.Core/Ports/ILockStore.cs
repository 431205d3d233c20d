namespace Intake.Core.Ports;

/// <summary>
/// Named leases in the catalog: a lock that holds across processes and machines sharing the catalog, and frees itself
/// when its holder dies (the lease runs out). The exporter holds one per partition while it reads the watermark,
/// exports the window and advances it, so two different requests on one partition never export the same rows.
/// </summary>
public interface ILockStore
{
    /// <summary>
    /// Takes the lock, or extends it when <paramref name="owner"/> holds it already; false when another owner holds an
    /// unexpired lease. Safe to call from several processes at once: exactly one of them gets it.
    /// </summary>
    Task<bool> TryAcquireLockAsync(string name, string owner, TimeSpan lease, CancellationToken cancellationToken);

    /// <summary>Gives the lock up if <paramref name="owner"/> holds it; otherwise does nothing.</summary>
    Task ReleaseLockAsync(string name, string owner, CancellationToken cancellationToken);
}
