using System.Collections.Concurrent;
using Intake.Engine.Tests.Support;
using Microsoft.Extensions.Logging;

namespace Intake.Engine.Tests;

/// <summary>The one backoff of a process for catalog outages: daemons wait them out, logged once; one-shot commands give up.</summary>
public sealed class OutageBackoffTests
{
    private readonly InstantTimeProvider _time = new();
    private readonly CapturingLogs _logs = new();

    private static IntakeException Down() => IntakeException.Transient("the PostgreSQL catalog db:5432/intake is unreachable or busy: 57P03: the database system is shutting down");

    [Fact]
    public async Task Daemon_RetriesATransientFailureUntilItSucceeds_AndLogsTheOutageOnceAndItsEndOnce()
    {
        var backoff = new OutageBackoff(OutageOptions.Daemon, _time, _logs);
        var calls = 0;

        var result = await backoff.RunAsync(_ => ++calls <= 6 ? throw Down() : Task.FromResult(42), default);

        result.ShouldBe(42);
        calls.ShouldBe(7);
        _logs.Count(60).ShouldBe(1);
        _logs.Count(61).ShouldBe(1);
        _logs.Lines.ShouldContain(l => l.Contains("57P03", StringComparison.Ordinal));
        backoff.DownSince.ShouldBeNull();
        _time.Delays.Count.ShouldBe(6);
        _time.Delays.ShouldAllBe(d => d > TimeSpan.Zero && d <= OutageOptions.Daemon.MaxDelay);
    }

    [Fact]
    public async Task Daemon_ManyLoopsMeetingOneOutage_LogItOnce()
    {
        var backoff = new OutageBackoff(OutageOptions.Daemon, _time, _logs);
        var retried = 0;
        var allRetried = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        // Four loops each fail twice: one outage, seen by every loop. A loop's third try comes only after the
        // backoff took its second failure, so once all four are at their third try every failure has been seen,
        // and only then does the first success end the outage (a failure arriving after it would be a new one).
        var loops = Enumerable.Range(0, 4).Select(_ => Task.Run(async () =>
        {
            var mine = 0;
            await backoff.RunAsync(async _ =>
            {
                if (++mine <= 2)
                {
                    throw Down();
                }

                if (Interlocked.Increment(ref retried) == 4)
                {
                    allRetried.SetResult();
                }

                await allRetried.Task;
            }, default);
        }));
        await Task.WhenAll(loops);

        _logs.Count(60).ShouldBe(1);
        _logs.Count(61).ShouldBe(1);
    }

    [Fact]
    public async Task Daemon_ALoopThatDidNotMeetTheOutage_DoesNotEndIt_SoItIsLoggedOnce()
    {
        // The serve daemon's discovery lists an empty folder without asking the catalog: its turn succeeds while the
        // catalog is still down, and must not end the outage the worker loop is waiting out.
        var backoff = new OutageBackoff(OutageOptions.Daemon, _time, _logs);
        var workerTries = 0;
        var discoveryRan = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        // The worker's first two tries fail (the catalog is down); the discovery's turn comes between them.
        var worker = backoff.RunAsync(async _ =>
        {
            if (++workerTries == 2)
            {
                await discoveryRan.Task;
            }

            if (workerTries <= 2)
            {
                throw Down();
            }
        }, default);
        for (var i = 0; i < 500 && backoff.DownSince is null; i++)
        {
            await Task.Delay(10);
        }

        backoff.DownSince.ShouldNotBeNull();
        await backoff.RunAsync(_ => Task.CompletedTask, default);
        backoff.DownSince.ShouldNotBeNull();
        discoveryRan.SetResult();
        await worker;

        workerTries.ShouldBe(3);
        _logs.Count(60).ShouldBe(1);
        _logs.Count(61).ShouldBe(1);
        backoff.DownSince.ShouldBeNull();
    }

    [Fact]
    public async Task Daemon_AnOutageOnlyTheHeartbeatMet_EndsWhenTheCatalogAnswersAnyCall()
    {
        // A lease renewal failed (an outage began) and every later call got through at its first try: the catalog's
        // own answer ends the outage, so the next one is logged again.
        await using var project = new EmbeddedProject("intake-outage-");
        var runtime = await project.OpenAsync(OutageOptions.Daemon, logs: _logs);
        runtime.Outage.NoteFailure(Down());
        runtime.Outage.DownSince.ShouldNotBeNull();

        await runtime.Catalog.GetLoadAsync(1, default);

        runtime.Outage.DownSince.ShouldBeNull();
        runtime.Outage.NoteFailure(Down());
        _logs.Count(60).ShouldBe(2);
        _logs.Count(61).ShouldBe(1);
    }

    [Fact]
    public async Task Daemon_DuringAnOutage_SaysSinceWhen()
    {
        var backoff = new OutageBackoff(OutageOptions.Daemon, _time, _logs);
        var observed = new List<DateTimeOffset?>();

        await backoff.RunAsync(_ =>
        {
            observed.Add(backoff.DownSince);
            return observed.Count < 3 ? throw Down() : Task.CompletedTask;
        }, default);

        observed[0].ShouldBeNull();
        observed[1].ShouldNotBeNull();
        observed[2].ShouldBe(observed[1]);
        backoff.DownSince.ShouldBeNull();
    }

    [Fact]
    public async Task OneShot_GivesUpAtTheFirstTransientFailure()
    {
        var backoff = new OutageBackoff(OutageOptions.OneShot, _time, _logs);
        var calls = 0;

        var e = await Should.ThrowAsync<IntakeException>(() => backoff.RunAsync(_ => ++calls > 0 ? throw Down() : Task.CompletedTask, default));

        e.IsTransient.ShouldBeTrue();
        calls.ShouldBe(1);
        _time.Delays.ShouldBeEmpty();
    }

    [Fact]
    public async Task Daemon_DoesNotWaitOutAFailureThatIsNotTransient()
    {
        var backoff = new OutageBackoff(OutageOptions.Daemon, _time, _logs);
        var calls = 0;

        var e = await Should.ThrowAsync<IntakeException>(() => backoff.RunAsync(_ => ++calls > 0 ? throw IntakeException.Config("password authentication failed") : Task.CompletedTask, default));

        e.Kind.ShouldBe(ErrorKind.Config);
        calls.ShouldBe(1);
        _logs.Count(60).ShouldBe(0);
    }

    [Fact]
    public async Task Daemon_StopsWaitingWhenTheProcessStops()
    {
        var backoff = new OutageBackoff(OutageOptions.Daemon, _time, _logs);
        using var stop = new CancellationTokenSource();
        var calls = 0;

        await Should.ThrowAsync<OperationCanceledException>(() => backoff.RunAsync(_ =>
        {
            if (++calls == 3)
            {
                stop.Cancel();
            }

            throw Down();
        }, stop.Token));

        calls.ShouldBe(3);
    }

    [Fact]
    public void Options_ReportEveryProblemAtOnce()
    {
        var problems = new OutageOptions { FirstDelay = TimeSpan.Zero, MaxDelay = TimeSpan.FromSeconds(-1) }.Validate();

        problems.Count.ShouldBe(2);
        Should.Throw<ArgumentException>(() => new OutageBackoff(new OutageOptions { FirstDelay = TimeSpan.Zero }, _time, _logs));
    }
}

/// <summary>
/// A clock whose one-shot timers fire at once (so backoff waits take no time) and remembers the waits asked for.
/// Periodic timers (a lease heartbeat) never fire.
/// </summary>
internal sealed class InstantTimeProvider : TimeProvider
{
    public ConcurrentQueue<TimeSpan> Delays { get; } = new();

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        if (period != Timeout.InfiniteTimeSpan || dueTime == Timeout.InfiniteTimeSpan)
        {
            return System.CreateTimer(callback, state, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        }

        Delays.Enqueue(dueTime);
        return System.CreateTimer(callback, state, TimeSpan.Zero, Timeout.InfiniteTimeSpan);
    }
}

/// <summary>Keeps every log line with its event id.</summary>
internal sealed class CapturingLogs : ILoggerFactory, ILogger
{
    private readonly ConcurrentQueue<(int EventId, string Line)> _entries = new();

    public IReadOnlyList<string> Lines => _entries.Select(e => e.Line).ToList();

    public int Count(int eventId) => _entries.Count(e => e.EventId == eventId);

    public ILogger CreateLogger(string categoryName) => this;

    public void AddProvider(ILoggerProvider provider)
    {
    }

    public void Dispose()
    {
    }

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
        _entries.Enqueue((eventId.Id, formatter(state, exception)));
}
