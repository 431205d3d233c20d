using Intake.Core.Errors;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Polly;
using Polly.Retry;

namespace Intake.Engine.Runtime;

/// <summary>
/// How a process meets an outage of the catalog (a PostgreSQL restart, a failover, a network cut): wait and try
/// again, or give up. One policy for every long-running process, so <c>intake serve</c>, <c>intake worker</c> and
/// <c>intake run</c> without <c>--once</c> behave alike; see <see cref="OutageBackoff"/>.
/// </summary>
public sealed class OutageOptions
{
    /// <summary>
    /// Wait for the catalog to answer again, however long it takes (daemons), instead of failing at once with the
    /// transient error (commands that run once, which exit 4 so their caller decides). Default: false.
    /// </summary>
    public bool WaitForRecovery { get; init; }

    /// <summary>
    /// The wait after the first failure. Default 200 ms: a restart of PostgreSQL is often over in less than a second,
    /// so the second try usually gets through.
    /// </summary>
    public TimeSpan FirstDelay { get; init; } = TimeSpan.FromMilliseconds(200);

    /// <summary>
    /// The longest wait between two tries; waits double (with jitter) up to it. Default 10 s: a daemon carries on within
    /// seconds of a long outage's end, while a hundred of them knock on a recovering server only ten times a second.
    /// </summary>
    public TimeSpan MaxDelay { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>For daemons: wait out any outage with the default delays.</summary>
    public static OutageOptions Daemon => new() { WaitForRecovery = true };

    /// <summary>For commands that run once: fail at the first unreachable catalog.</summary>
    public static OutageOptions OneShot => new();

    /// <summary>Every problem at once; empty when the options are usable.</summary>
    public IReadOnlyList<string> Validate()
    {
        var problems = new List<string>();
        if (FirstDelay <= TimeSpan.Zero)
        {
            problems.Add($"the first delay after an outage must be above zero (it is {FirstDelay})");
        }

        if (MaxDelay < FirstDelay)
        {
            problems.Add($"the longest delay between tries ({MaxDelay}) must not be shorter than the first ({FirstDelay})");
        }

        return problems;
    }
}

/// <summary>
/// The one backoff of a process for catalog outages, shared by all its loops (workers, heartbeats, sweeper,
/// scheduler, the <c>run</c> loop): every call wrapped in <see cref="RunAsync{T}"/> is tried again after a transient
/// failure with growing waits until it succeeds or the caller stops, when <see cref="OutageOptions.WaitForRecovery"/>
/// is set. The outage is logged once when it begins and once when it ends, however many loops and tries it touches.
/// </summary>
/// <remarks>
/// Only transient failures (<see cref="IntakeException.IsTransient"/>, decided where the catalog translates its
/// driver's errors) are waited out; anything else goes to the caller at once. Calls retried here must be safe to
/// repeat: reads, compare-and-set transitions and step records the worker reconciles (see <see cref="Worker"/>).
/// </remarks>
public sealed class OutageBackoff
{
    private readonly TimeProvider _time;
    private readonly ILogger _log;
    private readonly ResiliencePipeline? _retry;
    private Outage? _current;

    public OutageBackoff(OutageOptions options, TimeProvider time, ILoggerFactory? logs = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(time);
        if (options.Validate() is { Count: > 0 } problems)
        {
            throw new ArgumentException(string.Join("; ", problems), nameof(options));
        }

        Options = options;
        _time = time;
        _log = (logs ?? NullLoggerFactory.Instance).CreateLogger("Intake.Outage");
        // Only a process that waits out outages retries; a command that runs once (one `intake mail` per message) does
        // not pay for building the pipeline (and loading its library).
        _retry = options.WaitForRecovery ? BuildRetry(options, time) : null;
    }

    private ResiliencePipeline BuildRetry(OutageOptions options, TimeProvider time) =>
        new ResiliencePipelineBuilder { TimeProvider = time }
            .AddRetry(new RetryStrategyOptions
            {
                ShouldHandle = new PredicateBuilder().Handle<IntakeException>(e => e.IsTransient),
                MaxRetryAttempts = int.MaxValue, // until the catalog answers or the caller stops
                BackoffType = DelayBackoffType.Exponential,
                // Jitter spreads the tries of many processes that lost the catalog at the same moment.
                UseJitter = true,
                Delay = options.FirstDelay,
                MaxDelay = options.MaxDelay,
                OnRetry = args =>
                {
                    if (args.Outcome.Exception is IntakeException e)
                    {
                        NoteFailure(e);
                    }

                    return ValueTask.CompletedTask;
                },
            })
            .Build();

    public OutageOptions Options { get; }

    /// <summary>When the current outage began (as this process saw it), or null while the catalog answers.</summary>
    public DateTimeOffset? DownSince => Volatile.Read(ref _current)?.Since;

    /// <summary>The failure that began the current outage, or null while the catalog answers.</summary>
    public string? Reason => Volatile.Read(ref _current)?.Reason;

    /// <summary>
    /// Runs <paramref name="action"/>; after a transient failure waits and runs it again until it succeeds (with
    /// <see cref="OutageOptions.WaitForRecovery"/>), or lets the failure through at once (without).
    /// <paramref name="cancellationToken"/> stops the waiting and is passed to the action.
    /// </summary>
    public async Task<T> RunAsync<T>(Func<CancellationToken, Task<T>> action, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(action);
        return _retry is null ? await action(cancellationToken) : await RetryAsync(_retry, action, cancellationToken);
    }

    private async Task<T> RetryAsync<T>(ResiliencePipeline retry, Func<CancellationToken, Task<T>> action, CancellationToken cancellationToken)
    {
        // Only a call that met the outage itself may end it: a loop whose turn did not reach the catalog at all (a
        // discovery that listed no files) succeeds during an outage too, and ending it then would log a second one at
        // the next failure.
        var met = false;
        var result = await retry.ExecuteAsync(async token =>
        {
            try
            {
                return await action(token);
            }
            catch (IntakeException e) when (e.IsTransient)
            {
                met = true;
                throw;
            }
        }, cancellationToken);
        if (met)
        {
            NoteSuccess();
        }

        return result;
    }

    /// <inheritdoc cref="RunAsync{T}"/>
    public Task RunAsync(Func<CancellationToken, Task> action, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(action);
        return RunAsync(async token =>
        {
            await action(token);
            return true;
        }, cancellationToken);
    }

    /// <summary>
    /// For a loop that tries again by itself (the lease heartbeat): a transient failure begins an outage (logged
    /// once for all loops of the process).
    /// </summary>
    public void NoteFailure(IntakeException failure)
    {
        ArgumentNullException.ThrowIfNull(failure);
        var outage = new Outage(_time.GetUtcNow(), failure.Message);
        if (Interlocked.CompareExchange(ref _current, outage, null) is null)
        {
            Log.OutageBegan(_log, failure.Message, Options.MaxDelay);
        }
    }

    /// <summary>
    /// The catalog answered (told by the catalog itself after each answer, and by a call that met the outage once it
    /// got through): ends the current outage, if any (logged once).
    /// </summary>
    public void NoteSuccess()
    {
        if (Volatile.Read(ref _current) is null)
        {
            return;
        }

        if (Interlocked.Exchange(ref _current, null) is { } ended)
        {
            Log.OutageEnded(_log, _time.GetUtcNow() - ended.Since);
        }
    }

    private sealed record Outage(DateTimeOffset Since, string Reason);
}
