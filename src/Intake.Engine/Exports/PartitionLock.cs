using Intake.Core.Ports;

namespace Intake.Engine.Exports;

/// <summary>
/// Holds a catalog lock (<see cref="ILockStore"/>) for as long as it is not disposed: waits until the lock is free,
/// then renews the lease in the background every third of it, so a long export keeps it and a dead process loses it.
/// </summary>
internal sealed class PartitionLock : IAsyncDisposable
{
    private static readonly TimeSpan FirstWait = TimeSpan.FromMilliseconds(50);
    private static readonly TimeSpan LongestWait = TimeSpan.FromSeconds(2);
    private readonly ILockStore _locks;
    private readonly string _name;
    private readonly string _owner;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _renewal;

    private PartitionLock(ILockStore locks, string name, string owner, TimeSpan lease)
    {
        _locks = locks;
        _name = name;
        _owner = owner;
        _renewal = RenewAsync(lease);
    }

    public static async Task<PartitionLock> AcquireAsync(ILockStore locks, string name, string owner, TimeSpan lease, CancellationToken cancellationToken)
    {
        // Waiting is wall-clock polling, not the pipeline's clock: the holder finishes in real time.
        var wait = FirstWait;
        while (!await locks.TryAcquireLockAsync(name, owner, lease, cancellationToken))
        {
            await Task.Delay(wait, cancellationToken);
            wait = TimeSpan.FromTicks(Math.Min(wait.Ticks * 2, LongestWait.Ticks));
        }

        return new PartitionLock(locks, name, owner, lease);
    }

    private async Task RenewAsync(TimeSpan lease)
    {
        try
        {
            while (true)
            {
                await Task.Delay(lease / 3, _stop.Token);
                await _locks.TryAcquireLockAsync(_name, _owner, lease, _stop.Token);
            }
        }
        catch (OperationCanceledException)
        {
            // released
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await _renewal;
        _stop.Dispose();
        // Released even when the export was cancelled: the next holder must not wait for the lease to run out.
        await _locks.ReleaseLockAsync(_name, _owner, CancellationToken.None);
    }
}
