using Intake.Engine.Operations;
using Intake.Engine.Runtime;
using Intake.Engine.Scheduling;
using Microsoft.Extensions.Hosting;

namespace Intake.Server.Hosting;

/// <summary>
/// Runs a periodic job until shutdown. A catalog outage is waited out with the process's one backoff (logged once
/// per outage); any other failure is logged and the job goes on at its next period.
/// </summary>
internal abstract class PeriodicService : BackgroundService
{
    protected PeriodicService(ServerState state) => State = state;

    protected ServerState State { get; }

    protected abstract TimeSpan Period { get; }

    protected abstract Task RunOnceAsync(CancellationToken cancellationToken);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await Task.Yield();
        using var timer = new PeriodicTimer(Period, State.Time);
        do
        {
            try
            {
                await State.Runtime.Outage.RunAsync(RunOnceAsync, stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                ServerLog.ServiceFailed(State.Log, e, GetType().Name, Period);
            }
        }
        while (await WaitAsync(timer, stoppingToken));
    }

    private static async Task<bool> WaitAsync(PeriodicTimer timer, CancellationToken ct)
    {
        try
        {
            return await timer.WaitForNextTickAsync(ct);
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }
}

/// <summary>
/// Returns loads whose lease expired (or whose worker on this machine stopped) to their waiting status, and
/// fails loads past their pipeline's job timeout. Safe in every process at once: each change is a compare-and-set.
/// </summary>
internal sealed class SweeperService : PeriodicService
{
    private Sweeper? _sweeper;

    public SweeperService(ServerState state) : base(state) { }

    protected override TimeSpan Period => State.Options.SweepEvery;

    protected override async Task RunOnceAsync(CancellationToken cancellationToken)
    {
        _sweeper ??= new Sweeper(State.Runtime);
        var (returned, timedOut) = await _sweeper.SweepAsync(cancellationToken);
        if (returned > 0)
        {
            ServerLog.Swept(State.Log, returned);
        }

        foreach (var load in timedOut)
        {
            State.Metrics.JobTimedOut(load.Pipeline);
        }

        if (returned > 0 || timedOut.Count > 0)
        {
            State.Work.Pulse();
        }
    }
}

/// <summary>Fires cron runs (exactly one process per run) and discovers unscheduled pipelines every <see cref="ServerOptions.DiscoverEvery"/>.</summary>
internal sealed class SchedulerService : PeriodicService
{
    private readonly Dictionary<string, DateTimeOffset> _lastPoll = new(StringComparer.Ordinal);

    public SchedulerService(ServerState state) : base(state) { }

    protected override TimeSpan Period => State.Options.ScheduleEvery;

    protected override async Task RunOnceAsync(CancellationToken cancellationToken)
    {
        await State.Scheduler.TickAsync(cancellationToken);

        var now = State.Time.GetUtcNow();
        var unscheduled = State.Config.Pipelines.Where(p => p.Schedule is null && !p.TriggeredOnly).ToList();
        if (unscheduled.Count == 0)
        {
            return;
        }

        var active = await State.ActivePipelinesAsync(cancellationToken);
        foreach (var pipeline in unscheduled)
        {
            if (!active.Contains(pipeline.Name) || (_lastPoll.TryGetValue(pipeline.Name, out var last) && now - last < State.Options.DiscoverEvery))
            {
                continue;
            }

            _lastPoll[pipeline.Name] = now;
            try
            {
                await State.Runs.RunAsync(pipeline, null, "poll", cancellationToken);
            }
            catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                if (e is Core.Errors.IntakeException { IsTransient: true } && !await State.CatalogAnswersAsync(cancellationToken))
                {
                    throw; // the catalog's outage, not this pipeline's source: waited out (and logged once) by the caller
                }

                ServerLog.ServiceFailed(State.Log, e, $"discovery of {pipeline.Name}", State.Options.DiscoverEvery);
            }
        }
    }
}

/// <summary>
/// The process's workers: each claims a load of an unpaused pipeline (errors and archiving first), carries it
/// through its stage, and waits for a pulse or the poll interval when nothing is waiting. A catalog outage is
/// waited out with the process's one backoff, shared by all workers (logged once per outage, not per worker or try).
/// </summary>
internal sealed class WorkerPoolService : BackgroundService
{
    private readonly ServerState _state;

    public WorkerPoolService(ServerState state) => _state = state;

    protected override Task ExecuteAsync(CancellationToken stoppingToken)
    {
        // The process's workers, then its small-load workers (defaults.small_load_workers), each in a loop of its own.
        var pool = Worker.Pool(_state.Runtime, _state.Options.Workers, _state.Options.SmallLoadWorkers, _state.Metrics);
        WorkerThreads.Reserve(pool.Sum(w => w.Batch)); // a thread for each load in flight
        return Task.WhenAll(pool.Select(worker => Task.Run(() => LoopAsync(worker, stoppingToken), CancellationToken.None)));
    }

    private async Task LoopAsync(Worker worker, CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            try
            {
                var claimed = await _state.Runtime.Outage.RunAsync(async token =>
                {
                    var pipelines = await _state.ActivePipelinesAsync(token);
                    return await worker.RunSomeAsync(pipelines, token);
                }, ct);
                if (claimed.Count == 0)
                {
                    await _state.Work.WaitAsync(_state.Options.Poll, _state.Time, ct);
                }
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                ServerLog.ServiceFailed(_state.Log, e, "worker", _state.Options.Poll);
                try
                {
                    await Task.Delay(_state.Options.Poll, _state.Time, ct);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }
}
