using Intake.Core.Model;
using Intake.Core.Errors;
using Microsoft.Extensions.Logging;

namespace Intake.Engine.Runtime;

public sealed record RunOptions
{
    /// <summary>Discover and drain once, then return; otherwise poll until cancelled.</summary>
    public bool Once { get; init; } = true;
    /// <summary>Only these pipelines; null for all.</summary>
    public IReadOnlyCollection<string>? Pipelines { get; init; }
    public int Workers { get; init; } = 2;
    /// <summary>Workers that take only small loads, beside <see cref="Workers"/>; null for the configuration's (<c>defaults.small_load_workers</c>).</summary>
    public int? SmallLoadWorkers { get; init; }
    public TimeSpan PollInterval { get; init; } = TimeSpan.FromSeconds(10);
}

/// <param name="Discovered">What discovery found, per pipeline.</param>
/// <param name="Finished">The loads this run ended (archived, errored) or left held, in the order it did; a load held and then released may appear twice.</param>
public sealed record RunSummary(IReadOnlyList<DiscoveryResult> Discovered, IReadOnlyList<Load> Finished)
{
    public int Count(LoadStatus status) => Finished.Count(l => l.Status == status);
}

/// <summary>Discovery, the sweeper and a pool of workers: what <c>intake run</c> does.</summary>
public sealed class Runner
{
    private readonly IntakeRuntime _runtime;
    private readonly IRunObserver _observer;
    private readonly ILogger _log;

    public Runner(IntakeRuntime runtime, IRunObserver? observer = null)
    {
        _runtime = runtime;
        _observer = observer ?? NullRunObserver.Instance;
        _log = runtime.Logs.CreateLogger("Intake.Runner");
    }

    /// <summary>
    /// Carries every waiting load of <paramref name="pipelines"/> through its stages with <paramref name="workers"/>
    /// workers, without discovery (a backfill, whose loads are already registered); returns the loads that ended.
    /// </summary>
    public async Task<IReadOnlyList<Load>> DrainAsync(IReadOnlyCollection<string> pipelines, int workers, CancellationToken cancellationToken)
    {
        var pool = Worker.Pool(_runtime, workers, smallLoadWorkers: 0, _observer);
        var finished = new List<Load>();
        await DrainAsync(pool, pipelines, finished, cancellationToken);
        return finished;
    }

    /// <summary>
    /// Drains, waiting out a catalog outage when the runtime's policy says so (<c>intake run</c> without
    /// <c>--once</c>); a one-shot run lets the outage through and exits 4. While <paramref name="discovering"/> runs,
    /// a worker that finds nothing to claim waits for the next batch it registers instead of stopping.
    /// </summary>
    private Task DrainAsync(List<Worker> workers, IReadOnlyCollection<string> names, List<Load> finished, CancellationToken cancellationToken, Task? discovering = null) =>
        _runtime.Outage.RunAsync(ct => DrainOnceAsync(workers, names, finished, discovering ?? Task.CompletedTask, ct), cancellationToken);

    private async Task DrainOnceAsync(List<Worker> workers, IReadOnlyCollection<string> names, List<Load> finished, Task discovering, CancellationToken cancellationToken)
    {
        var swept = await new Operations.Sweeper(_runtime).SweepAsync(cancellationToken);
        if (swept.Returned > 0)
        {
            Log.Swept(_log, swept.Returned);
        }

        // Each worker drains until nothing is claimable; a load moves ready → ingesting → ready_for_archiving and on
        // into archiving with the worker that ingested it (one that was handed back is claimed by whichever is free).
        await Task.WhenAll(workers.Select(w => Task.Run(async () =>
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                // Read before the claim: a claim that finds nothing after discovery ended means nothing is left.
                var discovered = discovering.IsCompleted;
                var loads = await w.RunSomeAsync(names, cancellationToken);
                if (loads.Count == 0)
                {
                    if (discovered)
                    {
                        return;
                    }

                    // Discovery registers its files batch by batch: the next batch, or its end, is worth another claim.
                    await Task.WhenAny(discovering, Task.Delay(DiscoveryPoll, _runtime.Time, cancellationToken));
                    continue;
                }

                // Held loads too: this run is done with them until their prerequisite arrives (they may come back, released).
                lock (finished)
                {
                    finished.AddRange(loads.Where(load => LoadStateMachine.IsFinal(load.Status) || load.Status == LoadStatus.Held));
                }
            }
        }, cancellationToken)));
    }

    /// <summary>How often a worker with nothing to claim looks again while discovery is still registering files.</summary>
    private static readonly TimeSpan DiscoveryPoll = TimeSpan.FromMilliseconds(20);

    /// <summary>Every pipeline's discovery, one after the other; a source that cannot be listed is reported, not thrown.</summary>
    private async Task DiscoverAsync(Discovery discovery, IReadOnlyList<Configuration.PipelineConfig> pipelines, List<DiscoveryResult> discovered, CancellationToken cancellationToken)
    {
        // A triggered-only pipeline's files are registered by their triggers; its loads are still carried by the workers.
        foreach (var p in pipelines.Where(p => !p.TriggeredOnly))
        {
            try
            {
                discovered.Add(await discovery.DiscoverAsync(p, cancellationToken));
            }
            catch (Core.Errors.IntakeException e) when (e.Kind is Core.Errors.ErrorKind.Transient or Core.Errors.ErrorKind.Config or Core.Errors.ErrorKind.Security)
            {
                // One source down must not stop the loads already waiting, nor the other pipelines.
                Log.DiscoveryFailed(_log, p.Name, e.Kind.ToWord(), e.Message);
                discovered.Add(new DiscoveryResult(p.Name, 0, 0) { Error = e });
            }
        }
    }

    public async Task<RunSummary> RunAsync(RunOptions options, CancellationToken cancellationToken)
    {
        var pipelines = options.Pipelines is null
            ? _runtime.Config.Pipelines
            : options.Pipelines.Select(_runtime.Pipeline).ToList();
        var names = pipelines.Select(p => p.Name).ToList();
        var discovered = new List<DiscoveryResult>();
        var finished = new List<Load>();
        var discovery = new Discovery(_runtime);
        var workers = Worker.Pool(_runtime, options.Workers, options.SmallLoadWorkers, _observer);
        WorkerThreads.Reserve(workers.Sum(w => w.Batch)); // a thread for each load in flight

        while (true)
        {
            // The workers start on the first batch discovery registers instead of waiting for the whole listing.
            // Both awaited to their end, the drain's failure first, then discovery's.
            var discovering = DiscoverAsync(discovery, pipelines, discovered, cancellationToken);
            await Task.WhenAll(DrainAsync(workers, names, finished, cancellationToken, discovering), discovering);

            if (options.Once || cancellationToken.IsCancellationRequested)
            {
                return new RunSummary(discovered, finished);
            }

            await Task.Delay(options.PollInterval, _runtime.Time, cancellationToken);
        }
    }
}
