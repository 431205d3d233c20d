using Intake.Core.Errors;

namespace Intake.Engine.Runtime;

/// <summary>
/// Keeps a lease in the catalog alive while work runs under it: renews it every third of its length, and cancels
/// <see cref="Lost"/> when the catalog answers that the lease is no longer this holder's (it expired and someone
/// else took it) or when no renewal has succeeded for a whole lease (the catalog was unreachable that long, so
/// another process may hold it now). Work that must not run without the lease takes <see cref="Lost"/> as its
/// cancellation token and checks it before any write that the lease protects.
/// </summary>
/// <remarks>
/// A third of the lease: two renewals can be missed (a GC pause, a slow or restarting catalog) before another
/// holder may take over. A renewal that throws (the catalog is unreachable) is not a loss by itself: the lease is
/// still ours until it runs out. A holder whose every write is a compare-and-set on its lease (the worker) may keep
/// going through a longer outage (<c>holdThroughOutage</c>): the catalog refuses its writes once another took over,
/// and the first renewal that gets through says so.
/// </remarks>
public sealed class LeaseKeeper : IAsyncDisposable
{
    private static readonly TimeSpan ShortestPeriod = TimeSpan.FromMilliseconds(200);
    private readonly Func<CancellationToken, Task<bool>> _renew;
    private readonly TimeSpan _lease;
    private readonly TimeProvider _time;
    private readonly bool _holdThroughOutage;
    private readonly OutageBackoff? _outage;
    private readonly CancellationTokenSource _lost;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _renewal;

    /// <param name="renew">Extends the lease; false when the holder no longer has it.</param>
    /// <param name="lease">The lease's length, as granted.</param>
    /// <param name="time">The clock the renewals are timed by.</param>
    /// <param name="cancellationToken">The caller's own cancellation, folded into <see cref="Lost"/>.</param>
    /// <param name="holdThroughOutage">Keep the lease through an outage longer than the lease (see the remarks).</param>
    /// <param name="outage">The process's outage backoff, told of each renewal the catalog could not answer (to log an
    /// outage once; the catalog itself tells it when it answers again).</param>
    public LeaseKeeper(Func<CancellationToken, Task<bool>> renew, TimeSpan lease, TimeProvider time, CancellationToken cancellationToken,
        bool holdThroughOutage = false, OutageBackoff? outage = null)
    {
        ArgumentNullException.ThrowIfNull(renew);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(lease, TimeSpan.Zero);
        _renew = renew;
        _lease = lease;
        _time = time;
        _holdThroughOutage = holdThroughOutage;
        _outage = outage;
        _lost = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        _renewal = KeepAsync();
    }

    /// <summary>Cancelled once the lease is lost (or the caller cancelled).</summary>
    public CancellationToken Lost => _lost.Token;

    /// <summary>True when the lease was lost: not merely that the caller cancelled.</summary>
    public bool IsLost { get; private set; }

    private async Task KeepAsync()
    {
        var period = TimeSpan.FromTicks(Math.Max(ShortestPeriod.Ticks, _lease.Ticks / 3));
        var lastRenewed = _time.GetTimestamp();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token, _lost.Token);
        using var timer = new PeriodicTimer(period, _time);
        try
        {
            while (await timer.WaitForNextTickAsync(stop.Token))
            {
                bool held;
                try
                {
                    held = await _renew(stop.Token);
                }
                catch (IntakeException e) when (e.IsTransient)
                {
                    // Unreachable for now: the lease is ours until it runs out, so keep trying until then.
                    _outage?.NoteFailure(e);
                    if (_holdThroughOutage || _time.GetElapsedTime(lastRenewed) < _lease)
                    {
                        continue;
                    }

                    held = false;
                }

                if (!held)
                {
                    IsLost = true;
                    await _lost.CancelAsync();
                    return;
                }

                lastRenewed = _time.GetTimestamp();
            }
        }
        catch (OperationCanceledException)
        {
            // stopped by the holder, or the caller cancelled
        }
    }

    /// <summary>Stops renewing; the caller releases the lease itself where it has a way to.</summary>
    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await _renewal;
        _stop.Dispose();
        _lost.Dispose();
    }
}
