using Intake.Core.Ports;
using Intake.Engine.Runtime;

namespace Intake.Engine.Exports;

/// <summary>
/// Holds a catalog lock (<see cref="ILockStore"/>) for as long as it is not disposed: waits until the lock is free,
/// then keeps its lease with a <see cref="LeaseKeeper"/>, so a long export keeps it and a dead process loses it.
/// Work under the lock takes <see cref="Lost"/> as its token: a lock that was lost stops the export before it
/// records anything, and the partition fails (its watermark unmoved) instead of advancing beside the new holder.
/// </summary>
internal sealed class PartitionLock : IAsyncDisposable
{
    private static readonly TimeSpan FirstWait = TimeSpan.FromMilliseconds(50);
    private static readonly TimeSpan LongestWait = TimeSpan.FromSeconds(2);
    private readonly ILockStore _locks;
    private readonly string _name;
    private readonly string _owner;
    private readonly LeaseKeeper _keeper;

    private PartitionLock(ILockStore locks, string name, string owner, TimeSpan lease, TimeProvider time, CancellationToken cancellationToken)
    {
        _locks = locks;
        _name = name;
        _owner = owner;
        _keeper = new LeaseKeeper(token => locks.TryAcquireLockAsync(name, owner, lease, token), lease, time, cancellationToken);
    }

    /// <summary>Cancelled when the lock's lease was lost, or the caller cancelled.</summary>
    public CancellationToken Lost => _keeper.Lost;

    public static async Task<PartitionLock> AcquireAsync(ILockStore locks, string name, string owner, TimeSpan lease, TimeProvider time, CancellationToken cancellationToken)
    {
        // Waiting is wall-clock polling, not the pipeline's clock: the holder finishes in real time.
        var wait = FirstWait;
        while (!await locks.TryAcquireLockAsync(name, owner, lease, cancellationToken))
        {
            await Task.Delay(wait, cancellationToken);
            wait = TimeSpan.FromTicks(Math.Min(wait.Ticks * 2, LongestWait.Ticks));
        }

        return new PartitionLock(locks, name, owner, lease, time, cancellationToken);
    }

    public async ValueTask DisposeAsync()
    {
        await _keeper.DisposeAsync();
        // Released even when the export was cancelled: the next holder must not wait for the lease to run out.
        await _locks.ReleaseLockAsync(_name, _owner, CancellationToken.None);
    }
}
