using System.Diagnostics;
using System.Globalization;
using Intake.Core.Errors;
using Intake.Core.Model;
using Intake.Core.Ports;
using Intake.Engine.Configuration;
using Intake.Engine.Slices;
using Intake.Engine.SourceKinds;
using Intake.Engine.Steps;
using Microsoft.Extensions.Logging;
using Polly;
using Polly.Retry;

namespace Intake.Engine.Runtime;

/// <summary>
/// Claims loads and carries each through its stage: ingest (the pipeline's steps of <see cref="StepStage.Ingest"/>),
/// archive (those of <see cref="StepStage.Archive"/>, then the source kind's <c>release</c>) or error.
/// Delivery is at least once per step; steps are idempotent, so the effect is exactly once.
/// </summary>
/// <remarks>
/// Step records go through the runtime's <see cref="OutageBackoff"/>: in a daemon, a record the catalog could not
/// take (PostgreSQL restarting) is written once it answers again, so every attempt ends closed. Where a record was
/// left running anyway (a one-shot run, or a start whose answer was lost), the next attempt closes it first, and
/// attempt numbers count the records actually written, so the history has no gaps.
/// </remarks>
public sealed class Worker
{
    private static readonly LoadStatus[] ClaimOrder = [LoadStatus.ReadyForErroring, LoadStatus.ReadyForArchiving, LoadStatus.Ready];
    private readonly IntakeRuntime _runtime;
    private readonly IRunObserver _observer;
    private readonly ILogger _log;
    private readonly Dictionary<string, IStep> _steps;

    public Worker(IntakeRuntime runtime, IRunObserver? observer = null, string? id = null)
        : this(runtime, DefaultSteps(runtime), observer, id)
    {
    }

    /// <summary>A worker with its own step implementations (tests replace one to make it fail on cue).</summary>
    public Worker(IntakeRuntime runtime, IEnumerable<IStep> steps, IRunObserver? observer = null, string? id = null)
    {
        _runtime = runtime;
        _observer = observer ?? NullRunObserver.Instance;
        _log = runtime.Logs.CreateLogger("Intake.Worker");
        Id = id ?? WorkerIds.New();
        _steps = steps.ToDictionary(s => s.Name, StringComparer.Ordinal);
    }

    public static IReadOnlyList<IStep> DefaultSteps(IntakeRuntime runtime) =>
    [
        new PullStep(),
        new FetchStep(c => FileSources.For(c.Pipeline, runtime.Time)),
        new DecompressStep(),
        new ValidateStep(),
        new ArchiveStep(),
        new CopyStep(),
        new LoadStep(),
        new LakeStep(),
        new MergeStep(),
        new ExportStep(),
        new ReleaseStep(),
        .. SliceRegistry.BuiltIn.SelectMany(s => s.CreateSteps(runtime)),
    ];

    /// <summary>What gives a load's rows columns of their own: the slices (the ODS snapshot, the DMAP day).</summary>
    private static readonly IConstantColumns[] ConstantColumns = [.. SliceRegistry.BuiltIn.SelectMany(s => s.ConstantColumns)];

    public string Id { get; }

    /// <summary>
    /// Whether a load this worker ingested goes on into its archive stage with this worker, claimed in the commit that
    /// ends ingest (the default: no second claim, no second read of the step history); false leaves it
    /// <c>ready_for_archiving</c> for any worker, as a pool that only ingests would.
    /// </summary>
    public bool CarriesOnToArchive { get; init; } = true;

    /// <summary>
    /// Only loads whose original is known to be at most this many bytes (a small-load worker,
    /// <see cref="DefaultsConfig.SmallLoadWorkers"/>); null takes any load.
    /// </summary>
    public long? MaxSourceSize { get; init; }

    /// <summary>
    /// A process's workers: <paramref name="workers"/> that take any load, then its small-load workers
    /// (<paramref name="smallLoadWorkers"/>, else the configuration's: <see cref="DefaultsConfig.SmallLoadLanes"/>).
    /// </summary>
    public static List<Worker> Pool(IntakeRuntime runtime, int workers, int? smallLoadWorkers, IRunObserver? observer = null) =>
    [
        .. Enumerable.Range(0, Math.Max(1, workers)).Select(_ => new Worker(runtime, observer)),
        .. Enumerable.Range(0, Math.Max(0, runtime.Config.Defaults.SmallLoadLanes(smallLoadWorkers)))
            .Select(_ => new Worker(runtime, observer) { MaxSourceSize = runtime.Config.Defaults.SmallLoadsUpTo, Batch = runtime.Config.Defaults.SmallLoadBatch }),
    ];

    private ICatalog Catalog => _runtime.Catalog;

    private OutageBackoff Outage => _runtime.Outage;

    /// <summary>
    /// How many loads this worker claims at once and carries together (<see cref="DefaultsConfig.SmallLoadBatch"/> for a
    /// small-load worker; 1 otherwise). Loads carried together reach their commits together, so the catalog and the
    /// warehouse commit them in groups.
    /// </summary>
    public int Batch { get; init; } = 1;

    /// <summary>Claims and processes one load of the given pipelines (errors and archiving first); null when nothing is waiting.</summary>
    public async Task<Load?> RunOneAsync(IReadOnlyCollection<string>? pipelines, CancellationToken cancellationToken)
    {
        // With the load's step history when it was claimed: a new file's load has none, and the catalog then needs no read.
        var claimed = await Catalog.ClaimWithHistoryAsync(Claim(pipelines), cancellationToken);
        return claimed is null ? null : await ProcessAsync(claimed.Load, claimed.Steps, cancellationToken);
    }

    /// <summary>
    /// Claims up to <see cref="Batch"/> loads of the given pipelines in one claim and processes them side by side; the
    /// loads as they ended, none when nothing is waiting.
    /// </summary>
    public async Task<IReadOnlyList<Load>> RunSomeAsync(IReadOnlyCollection<string>? pipelines, CancellationToken cancellationToken)
    {
        if (Batch <= 1)
        {
            return await RunOneAsync(pipelines, cancellationToken) is { } one ? [one] : [];
        }

        var claimed = await Catalog.ClaimSomeWithHistoryAsync(Claim(pipelines), Batch, cancellationToken);
        return await Task.WhenAll(claimed.Select(c => ProcessAsync(c.Load, c.Steps, cancellationToken)));
    }

    /// <summary>One claim statement for the three waiting statuses, in this order of preference.</summary>
    private ClaimRequest Claim(IReadOnlyCollection<string>? pipelines) => new()
    {
        Worker = Id,
        From = ClaimOrder[0],
        ThenFrom = ClaimOrder[1..],
        Lease = _runtime.Config.Defaults.Lease,
        Pipelines = pipelines,
        MaxSourceSize = MaxSourceSize,
    };

    private async Task<Load> ProcessAsync(Load load, IReadOnlyList<StepRecord> claimedHistory, CancellationToken cancellationToken)
    {
        var pipeline = _runtime.Config.FindPipeline(load.Pipeline);
        _observer.LoadStarted(load, load.Status.ToWord());
        var lease = pipeline?.Lease ?? _runtime.Config.Defaults.Lease;
        // Every write of the worker is a compare-and-set on its lease, so it may hold on through a catalog outage:
        // if another worker took the load over meanwhile, the first heartbeat that gets through says so and the work stops.
        await using var heartbeat = new LeaseKeeper(t => Catalog.HeartbeatAsync(load.Id, Id, lease, t), lease, _runtime.Time, cancellationToken,
            holdThroughOutage: true, outage: Outage);
        var run = new StageRun(load) { ClaimedHistory = claimedHistory };
        try
        {
            var final = load.Status switch
            {
                LoadStatus.Ingesting => await IngestAsync(run, pipeline, lease, heartbeat.Lost),
                LoadStatus.Archiving => await ArchiveAsync(run, pipeline, heartbeat.Lost),
                LoadStatus.Erroring => await QuarantineAsync(load, pipeline, heartbeat.Lost),
                _ => load.Status,
            };
            if (final == LoadStatus.Archiving)
            {
                // Carried on: this worker took its load from ingest into archiving in the commit that ended the ingest
                // stage, under the same lease (and heartbeat), as if it had claimed it again at once.
                _observer.LoadFinished(load, LoadStatus.ReadyForArchiving);
                Log.LoadStatusChanged(_log, load.Id, load.Pipeline, LoadStatus.ReadyForArchiving.ToWord());
                load = run.Load with { Status = LoadStatus.Archiving, Attempts = load.Attempts };
                run.Load = load;
                _observer.LoadStarted(load, load.Status.ToWord());
                final = await ArchiveAsync(run, pipeline, heartbeat.Lost);
            }

            _observer.LoadFinished(load, final);
            Log.LoadStatusChanged(_log, load.Id, load.Pipeline, final.ToWord());
            return load with { Status = final };
        }
        catch (OperationCanceledException) when (heartbeat.Lost.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            Log.LeaseLost(_log, load.Id, load.Pipeline);
            return load;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Shutting down: hand the load back at once rather than letting its lease run out.
            var waiting = LoadStateMachine.WaitingStatusFor(load.Status);
            try
            {
                await Catalog.TransitionAsync(load.Id, load.Status, waiting, new TransitionDetails { LeaseOwner = Id }, CancellationToken.None);
            }
            catch (IntakeException e) when (e.IsTransient)
            {
                // The catalog is unreachable: the lease runs out instead and the sweeper hands the load back.
            }

            _observer.LoadFinished(load, waiting);
            throw;
        }
    }

    /// <summary>
    /// The ingest stage; at its end the load goes on to <c>ready_for_archiving</c> and, in the same commit, this worker
    /// claims it again into <c>archiving</c> (returned then), so it needs neither a second claim nor a second read of
    /// the step history.
    /// </summary>
    private async Task<LoadStatus> IngestAsync(StageRun run, PipelineConfig? pipeline, TimeSpan lease, CancellationToken ct)
    {
        var load = run.Load;
        if (pipeline is null)
        {
            return await FailAsync(load, ErrorKind.Config, $"pipeline '{load.Pipeline}' is no longer in the configuration", ct);
        }

        if (load.Attempts > pipeline.MaxLoadAttempts)
        {
            return await FailAsync(load, ErrorKind.Transient, $"gave up after {pipeline.MaxLoadAttempts} attempts: the worker stopped or lost its lease each time", ct);
        }

        run.End = (last, t) => EndStageAsync(run, last, LoadStatus.Ingesting, LoadStatus.ReadyForArchiving, CarriesOnToArchive ? lease : null, t);
        if (await RunStepsAsync(run, pipeline, StepDescriptor.InStage(pipeline.Steps, StepStage.Ingest).ToList(), ct) is { } failed)
        {
            return failed;
        }

        return run.EndedIn ?? await run.End(null, ct);
    }

    /// <summary>
    /// Ends the stage with one commit: the last step's success (<paramref name="last"/>, when a step ran), its inbox key,
    /// the move to <paramref name="to"/> and, with <paramref name="carryOn"/>, the claim into the next stage under this
    /// worker's lease. Called inside the last step's retries, as the record's own end was: in a one-shot run a catalog
    /// that does not answer makes the step run again (its record closed first as interrupted); a daemon waits.
    /// </summary>
    private async Task<LoadStatus> EndStageAsync(StageRun run, DeferredClose? last, LoadStatus from, LoadStatus to, TimeSpan? carryOn, CancellationToken ct)
    {
        var end = new StageEnd
        {
            LoadId = run.Load.Id,
            From = from,
            To = to,
            Worker = Id,
            StepId = last?.StepId,
            Result = last?.Result,
            Details = new TransitionDetails { InboxKey = last?.InboxKey },
            CarryOnLease = carryOn,
        };
        // Compare-and-set lost: the lease expired and another worker owns the load now. Do nothing more.
        var now = await CommitMoveAsync(run.Load, end, run.Attempts, ct);
        run.EndedIn = now ?? throw new OperationCanceledException($"load {run.Load.Id} is no longer leased by {Id}");
        return now.Value;
    }

    /// <summary>
    /// The commit that moves the load (<see cref="ICatalog.EndStageAsync"/>, a compare-and-set on this worker's lease),
    /// with what <paramref name="attempts"/> still waits to write: a small load's attempts and inbox key go in it. Those
    /// whose own commit went unanswered before are written on their own first, unless they were; those in it are written
    /// with it or, if it goes unanswered, by its retry. Null when the worker no longer holds the load.
    /// </summary>
    private async Task<LoadStatus?> CommitMoveAsync(Load load, StageEnd end, KnownAttempts? attempts, CancellationToken ct)
    {
        var writeFirst = attempts is { Lost: true, Pending.Count: > 0 } ? attempts : null;
        end = end with
        {
            Details = (end.Details ?? new TransitionDetails()) with { InboxKey = end.Details?.InboxKey ?? attempts?.PendingInboxKey },
            Done = attempts is { Lost: false } ? [.. attempts.Pending] : [],
        };
        var tries = 0;
        var now = await Outage.RunAsync(async t =>
        {
            tries++;
            if (writeFirst is not null)
            {
                await WritePendingAsync(load, writeFirst, null, t);
            }

            try
            {
                return await Catalog.EndStageAsync(end, t);
            }
            catch (InvalidOperationException) when (tries > 1 && end.StepId is not null)
            {
                // The record is closed already: by an earlier try whose answer was lost (with the move, in the same
                // transaction), or by a worker that took the load over. The move alone tells which.
                return await Catalog.EndStageAsync(end with { StepId = null, Result = null }, t);
            }
            catch
            {
                // Unanswered: the record may or may not be closed; only a read of the history can tell from now on.
                attempts?.Lost = true;
                throw;
            }
        }, ct);

        if (now is not null)
        {
            attempts?.Written();
        }

        return now;
    }

    /// <summary>
    /// Runs the steps of one stage in order, each resumed past its first success; null when every one succeeded,
    /// else the status the load went to (a step failed for good, or its transient failures outlasted the retries).
    /// </summary>
    private async Task<LoadStatus?> RunStepsAsync(StageRun run, PipelineConfig pipeline, IReadOnlyList<string> stepNames, CancellationToken ct)
    {
        var load = run.Load;
        if (run is { History: { } known, Attempts: { Lost: false, Deferred: null } carried })
        {
            // Carried on from the stage before under the same lease: the history read then, with this worker's own
            // records counted since, is still the whole truth, so this stage needs no read.
            return await RunStepsAsync(run, pipeline, stepNames, known, ContextFor(load, pipeline), carried, ct);
        }

        // The history read with the claim, once; a stage claimed later (or carried on) reads its own.
        var history = run.ClaimedHistory ?? await Outage.RunAsync(t => Catalog.GetStepsAsync(load.Id, t), ct);
        run.ClaimedHistory = null;
        if (history.Any(s => s.Outcome == StepOutcome.Running))
        {
            foreach (var stale in history.Where(s => s.Outcome == StepOutcome.Running))
            {
                // A worker died inside this step; its record is closed so the history reads truthfully.
                await CloseStaleAsync(stale.Id, ct);
            }

            // Read again: a record its writer finished meanwhile counts as what it became.
            history = await Outage.RunAsync(t => Catalog.GetStepsAsync(load.Id, t), ct);
        }

        var resources = ContextFor(load, pipeline);
        // No record is running now (stale ones were closed above) and this worker holds the lease: the history just
        // read stays true while the worker's own starts and ends are added to it, so a step's start needs no read.
        var attempts = new KnownAttempts(history) { Quick = resources.Small };
        run.History = history;
        run.Attempts = attempts;
        return await RunStepsAsync(run, pipeline, stepNames, history, resources, attempts, ct);
    }

    /// <summary>
    /// Records a deferred success if the catalog takes it at once; otherwise the record stays running, and the next
    /// worker on the load closes it and runs the step again (each step idempotent), as after a crash inside the step.
    /// </summary>
    private async Task CloseDeferredQuietlyAsync(KnownAttempts? attempts)
    {
        if (attempts?.Deferred is not { } deferred)
        {
            return;
        }

        attempts.Deferred = null;
        try
        {
            await Catalog.FinishStepAsync(deferred.StepId, deferred.Result, CancellationToken.None);
        }
        catch (Exception e) when (e is InvalidOperationException || (e is IntakeException { IsTransient: true }))
        {
            // Already closed (by a worker that took the load over, or by the hand-over whose answer was lost), or the
            // catalog is unreachable.
        }
    }

    private async Task<LoadStatus?> RunStepsAsync(
        StageRun run, PipelineConfig pipeline, IReadOnlyList<string> stepNames, IReadOnlyList<StepRecord> history, StepContext resources, KnownAttempts attempts, CancellationToken ct)
    {
        try
        {
            return await RunStepsInOrderAsync(run, pipeline, stepNames, history, resources, attempts, ct);
        }
        catch (OperationCanceledException) when (attempts.Deferred is not null)
        {
            // Stopped (or the lease lost) between a step's success and the next step's start or the stage's end.
            await CloseDeferredQuietlyAsync(attempts);
            throw;
        }
    }

    /// <summary>
    /// The steps in order; a step's success is left for the next step's start (<see cref="KnownAttempts.Deferred"/>),
    /// the last one's recorded with the stage's end (<see cref="StageRun.End"/>).
    /// </summary>
    private async Task<LoadStatus?> RunStepsInOrderAsync(
        StageRun run, PipelineConfig pipeline, IReadOnlyList<string> stepNames, IReadOnlyList<StepRecord> history, StepContext resources, KnownAttempts attempts, CancellationToken ct)
    {
        var load = run.Load;
        for (var i = 0; i < stepNames.Count; i++)
        {
            var stepName = stepNames[i];
            if (history.Any(s => s.Step == stepName && s.Outcome == StepOutcome.Succeeded) && !await ScratchLostAsync(load, pipeline, stepName, history, ct))
            {
                continue; // resume at the first step without a success
            }

            // The success of a step that another one follows is recorded with that one's start; the last one's with the
            // stage's end (its status change), inside its retries, so a catalog that fails to take it makes the step run
            // again, as before hand-overs. A worker killed in between leaves the record running, as if killed inside the step.
            var handOver = stepNames.Skip(i + 1).Any(next => !history.Any(s => s.Step == next && s.Outcome == StepOutcome.Succeeded));
            var endStage = handOver ? null : run.End;
            var step = _steps[stepName];
            var retry = BuildRetry(pipeline, load, stepName);
            StepResult done;
            try
            {
                done = await retry.ExecuteAsync(async token => await RunStepAsync(step, resources, attempts, handOver, endStage, token), ct);
            }
            catch (IntakeException e)
            {
                await CloseDeferredQuietlyAsync(attempts); // a step before this one succeeded: its record says so if the catalog takes it
                return await FailAsync(load, e.Kind, e.Message, ct, pipeline.ErrorCodes.For(stepName, e.Kind), attempts);
            }

            if (done.HeldReason is { } reason)
            {
                // Not eligible yet (a prerequisite has not arrived): held with the reason, released by whoever sees
                // the prerequisite arrive; the step runs again then.
                await TransitionAsync(load, LoadStatus.Ingesting, LoadStatus.Held, new TransitionDetails { LeaseOwner = Id, HeldReason = reason }, ct, attempts);
                return LoadStatus.Held;
            }

            if (done.InboxKey is { } inboxKey && inboxKey != load.InboxKey)
            {
                // Recorded the moment the original is in the inbox, before anything else runs on the load: later steps,
                // the error path and re-drives use this key, not one rendered again from a key template that may have
                // changed since. With the step's success still to be recorded, it goes in the same commit (the start of
                // the next step, or the end of the stage).
                if (run.EndedIn is not null || (attempts is { Quick: true, Lost: false }))
                {
                    // Recorded with the stage's end (a small load's: with its next commit, KnownAttempts.PendingInboxKey).
                }
                else if (attempts.Deferred is { } deferred)
                {
                    deferred.InboxKey = inboxKey;
                }
                else if (!await Outage.RunAsync(t => Catalog.RecordInboxKeyAsync(load.Id, Id, inboxKey, t), ct))
                {
                    throw new OperationCanceledException($"load {load.Id} is no longer leased by {Id}");
                }

                load = load with { InboxKey = inboxKey };
                run.Load = load;
                resources = resources with { Load = load };
            }
        }

        return null;
    }

    /// <summary>
    /// Whether the load's step records are written together at its stage's end (<see cref="DefaultsConfig.SmallLoadsUpTo"/>):
    /// its original is small, and every step of its pipeline works on the load alone, the source kind doing nothing at
    /// the source once it is archived.
    /// </summary>
    private bool IsSmall(Load load, PipelineConfig pipeline) =>
        _runtime.Config.Defaults.SmallLoadsUpTo is > 0 and var limit && load.SourceSize is { } size && size <= limit
        && pipeline.Steps.All(s => StepDescriptor.Find(s) is { SelfContained: true })
        && !pipeline.Source.Kind.ActsOnArchivedFor(pipeline);

    /// <summary>
    /// What the load's steps get, resolved once from the configuration: its stores, its warehouses, the catalog
    /// ports a step may touch, the clock and the logs. Each step's context is this with its name and attempt.
    /// </summary>
    private StepContext ContextFor(Load load, PipelineConfig pipeline)
    {
        var ports = _runtime.Ports;
        var store = _runtime.StoreFor(pipeline);
        var loadWarehouse = pipeline.Load?.Warehouse;
        var mergeWarehouse = pipeline.Merge is { } merge ? merge.Warehouse ?? loadWarehouse : null;
        return new StepContext
        {
            Load = load,
            Pipeline = pipeline,
            Attempt = 0,
            Observer = _observer,
            StepName = "",
            Store = store,
            WorkStore = _runtime.WorkStoreFor(pipeline),
            Warehouse = Find(_runtime.Warehouses, loadWarehouse),
            MergeWarehouse = Find(_runtime.Warehouses, mergeWarehouse),
            CopyStore = Find(_runtime.Stores, pipeline.Copy?.Store),
            PartStore = pipeline.Source.Http is { } http ? Find(_runtime.Stores, http.Store ?? pipeline.Store) : null,
            ExportStore = Find(_runtime.Stores, pipeline.Export?.Store),
            LakeStore = Find(_runtime.Stores, pipeline.Lake?.Store),
            Catalog = ports.Loads,
            Checkpoints = ports.Checkpoints,
            Exports = ports.Exports,
            Locks = ports.Locks,
            Cubic = ports.Cubic,
            ConstantColumns = ConstantColumns,
            Time = _runtime.Time,
            Logs = _runtime.Logs,
            BaseDirectory = _runtime.Config.BaseDirectory,
            Small = IsSmall(load, pipeline),
        };
    }

    // The configuration checks every name it refers to; a miss here is left for the step that needs it to report.
    private static T? Find<T>(IReadOnlyDictionary<string, T> named, string? name)
        where T : class =>
        name is not null && named.TryGetValue(name, out var found) ? found : null;

    private async Task<StepResult> RunStepAsync(
        IStep step, StepContext resources, KnownAttempts attempts, bool handOver, Func<DeferredClose?, CancellationToken, Task<LoadStatus>>? endStage, CancellationToken ct)
    {
        if (attempts is { Quick: true, Lost: false })
        {
            return await RunQuickStepAsync(step, resources, attempts, endStage, ct);
        }

        var load = resources.Load;
        var (stepId, attempt) = await StartAttemptAsync(load, step.Name, ct, attempts);
        _observer.StepStarted(load, step.Name, attempt);
        Log.StepStarted(_log, load.Id, load.Pipeline, step.Name, attempt);
        var context = resources with { Attempt = attempt, StepName = step.Name };
        StepResult result;
        try
        {
            result = await step.RunAsync(context, ct);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            try
            {
                await Catalog.FinishStepAsync(stepId, StepResult.Failed(ErrorKind.Transient, "interrupted: the worker was stopped"), CancellationToken.None);
            }
            catch (IntakeException e) when (e.IsTransient)
            {
                // The catalog is unreachable: the record stays running and the next worker on this load closes it.
            }

            throw;
        }
        catch (Exception e)
        {
            var (error, failed) = Failure(e, resources, step.Name);
            await CloseAsync(stepId, failed, ct, attempts);
            Reported(load, step.Name, attempt, error, failed);
            if (ReferenceEquals(error, e))
            {
                throw;
            }

            throw error;
        }

        if (handOver && result.Outcome == StepOutcome.Succeeded && result.HeldReason is null)
        {
            // Closed with the next step's start, one commit for both (or at the end of the stage): a crash before that
            // leaves the record running, and the next worker closes it and runs the step again, as after a crash inside it.
            attempts.Deferred = new DeferredClose(stepId, result);
        }
        else if (endStage is not null && result.Outcome == StepOutcome.Succeeded && result.HeldReason is null)
        {
            // The stage's last step: its end, the inbox key it produced and the load's move, one commit.
            await endStage(new DeferredClose(stepId, result) { InboxKey = result.InboxKey != load.InboxKey ? result.InboxKey : null }, ct);
        }
        else
        {
            await CloseAsync(stepId, result, ct, attempts);
        }

        _observer.StepFinished(load, step.Name, result);
        Log.StepSucceeded(_log, load.Id, load.Pipeline, step.Name, result.RowsIn, result.RowsOut, result.BytesIn);
        return result;
    }

    /// <summary>A step's exception as the error it records (classified once) and the failed attempt's result.</summary>
    private (IntakeException Error, StepResult Failed) Failure(Exception e, StepContext resources, string step)
    {
        var error = Classify(e, resources.Load, step);
        return (error, StepResult.Failed(error.Kind, error.Message) with { ErrorCode = resources.Pipeline.ErrorCodes.For(step, error.Kind) });
    }

    private void Reported(Load load, string step, int attempt, IntakeException error, StepResult failed)
    {
        _observer.StepFinished(load, step, failed);
        Log.StepFailed(_log, load.Id, load.Pipeline, step, attempt, error.Kind.ToWord(), error.Message);
    }

    /// <summary>
    /// A small load's step: nothing is written as it starts; its attempt, succeeded or failed, joins the ones waiting
    /// for the next commit (<see cref="KnownAttempts.Pending"/>): the stage's end, or the move to the error path or to
    /// held. A worker stopped or killed before that leaves no record of them, and the next one runs them again.
    /// </summary>
    private async Task<StepResult> RunQuickStepAsync(
        IStep step, StepContext resources, KnownAttempts attempts, Func<DeferredClose?, CancellationToken, Task<LoadStatus>>? endStage, CancellationToken ct)
    {
        var load = resources.Load;
        var attempt = attempts.Next(step.Name);
        attempts.Started(step.Name);
        var startedAt = _runtime.Time.GetUtcNow();
        _observer.StepStarted(load, step.Name, attempt);
        Log.StepStarted(_log, load.Id, load.Pipeline, step.Name, attempt);
        StepResult result;
        try
        {
            result = await step.RunAsync(resources with { Attempt = attempt, StepName = step.Name }, ct);
        }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            var (error, failed) = Failure(e, resources, step.Name);
            attempts.Pending.Add(new FinishedStep(step.Name, attempt, startedAt, _runtime.Time.GetUtcNow(), failed));
            Reported(load, step.Name, attempt, error, failed);
            if (ReferenceEquals(error, e))
            {
                throw;
            }

            throw error;
        }

        attempts.Pending.Add(new FinishedStep(step.Name, attempt, startedAt, _runtime.Time.GetUtcNow(), result));
        if (result.InboxKey is { } inboxKey && inboxKey != load.InboxKey)
        {
            attempts.PendingInboxKey = inboxKey;
        }

        if (endStage is not null && result.Outcome == StepOutcome.Succeeded && result.HeldReason is null)
        {
            await endStage(null, ct);
        }

        _observer.StepFinished(load, step.Name, result);
        Log.StepSucceeded(_log, load.Id, load.Pipeline, step.Name, result.RowsIn, result.RowsOut, result.BytesIn);
        return result;
    }

    /// <summary>
    /// Records the start of the next attempt of <paramref name="stepName"/> and returns its record id and number.
    /// Records of this worker on this load still running are attempts whose end the catalog did not take (it was
    /// unreachable, or the answer to their start was lost): they are closed as failed first, so every attempt ends
    /// closed. The number counts the records written, so attempts read 1..n without gaps. With
    /// <paramref name="known"/> still trusted, the first try takes the number from it instead of reading the history.
    /// </summary>
    private Task<(long Id, int Attempt)> StartAttemptAsync(Load load, string stepName, CancellationToken ct, KnownAttempts? known = null)
    {
        var tries = 0;
        return Outage.RunAsync(async token =>
        {
            tries++;
            if (known is { Lost: false } && tries == 1)
            {
                var next = known.Next(stepName);
                try
                {
                    long started;
                    if (known.Deferred is { } deferred)
                    {
                        // The step before succeeded: its end, its inbox key and this start are one transaction.
                        started = await Catalog.FinishAndStartStepAsync(
                            deferred.StepId, deferred.Result, new NextStep { LoadId = load.Id, Step = stepName, Attempt = next, Worker = Id, InboxKey = deferred.InboxKey }, token)
                            ?? throw new OperationCanceledException($"load {load.Id} is no longer leased by {Id}");
                        known.Deferred = null;
                    }
                    else
                    {
                        started = await Catalog.StartStepAsync(load.Id, stepName, next, Id, token);
                    }

                    known.Started(stepName);
                    return (started, next);
                }
                catch
                {
                    // Unanswered: the record may or may not exist; only a read can tell from now on.
                    known.Lost = true;
                    throw;
                }
            }

            known?.Lost = true;
            if (known?.Deferred is { } unsent)
            {
                // The hand-over went unanswered: it was written whole or not at all. The success is recorded on its own
                // first (already there if it was written), then the start is decided from the history.
                try
                {
                    await Catalog.FinishStepAsync(unsent.StepId, unsent.Result, CancellationToken.None);
                }
                catch (InvalidOperationException)
                {
                    // Already finished: the hand-over was written before its answer was lost.
                }

                if (unsent.InboxKey is { } inboxKey && !await Catalog.RecordInboxKeyAsync(load.Id, Id, inboxKey, token))
                {
                    throw new OperationCanceledException($"load {load.Id} is no longer leased by {Id}");
                }

                known.Deferred = null;
            }

            return await StartReadingHistoryAsync(load, stepName, token, known);
        }, ct);
    }

    private async Task<(long Id, int Attempt)> StartReadingHistoryAsync(Load load, string stepName, CancellationToken token, KnownAttempts? known = null)
    {
        // An end whose answer was lost may have moved the load on (a stage's end is one commit with its status change):
        // then no attempt of this stage is this worker's to start.
        if (await Catalog.GetLoadAsync(load.Id, token) is not { } current || current.Status != load.Status || current.LeaseOwner != Id)
        {
            throw new OperationCanceledException($"load {load.Id} is no longer leased by {Id} in '{load.Status.ToWord()}'");
        }

        if (known is not null)
        {
            await WritePendingAsync(load, known, stepName, token);
        }

        var history = await Catalog.GetStepsAsync(load.Id, token);
        foreach (var open in history.Where(s => s.Outcome == StepOutcome.Running && s.Worker == Id))
        {
            // Only this worker's own: it holds the lease, so nobody else writes this load's records meanwhile.
            await Catalog.FinishStepAsync(open.Id, StepResult.Failed(ErrorKind.Transient, "interrupted: the catalog was unreachable when this attempt ended, so its outcome was not recorded; the step runs again"), token);
            Log.UnclosedAttempt(_log, load.Id, load.Pipeline, open.Step, open.Attempt);
        }

        var attempt = history.Count(s => s.Step == stepName) + 1;
        var id = await Catalog.StartStepAsync(load.Id, stepName, attempt, Id, token);
        return (id, attempt);
    }

    /// <summary>
    /// Writes a small load's attempts still waiting for a commit (<see cref="KnownAttempts.Pending"/>) on their own, once
    /// the commit meant to carry them went unanswered: the load has not moved (the caller checked), so that commit was
    /// not written, and neither was any of them unless an earlier call of this one was: those are in the history.
    /// A success of <paramref name="rerun"/>, the step about to run again, is left out: its new attempt takes its number.
    /// </summary>
    private async Task WritePendingAsync(Load load, KnownAttempts known, string? rerun, CancellationToken token)
    {
        if (known.Pending.Count == 0 && known.PendingInboxKey is null)
        {
            return;
        }

        var history = await Catalog.GetStepsAsync(load.Id, token);
        var unwritten = known.Pending
            .Where(p => !(p.Step == rerun && p.Result.Outcome == StepOutcome.Succeeded))
            .Where(p => !history.Any(h => h.Step == p.Step && h.Attempt == p.Attempt))
            .ToList();
        if (!await Catalog.RecordStepsAsync(load.Id, Id, unwritten, known.PendingInboxKey, token))
        {
            throw new OperationCanceledException($"load {load.Id} is no longer leased by {Id}");
        }

        known.Written();
    }

    /// <summary>Completes a step record, waiting out a catalog outage in a daemon.</summary>
    private Task CloseAsync(long stepId, StepResult result, CancellationToken ct, KnownAttempts? known = null)
    {
        var tries = 0;
        return Outage.RunAsync(async _ =>
        {
            tries++;
            if (tries > 1)
            {
                // An end not answered the first time: a record may be left open, found from now on by reading the history.
                known?.Lost = true;
            }

            try
            {
                // Not cancelled by ct: a stop request must not leave the outcome of finished work unrecorded.
                await Catalog.FinishStepAsync(stepId, result, CancellationToken.None);
            }
            catch (InvalidOperationException) when (tries > 1)
            {
                // Already closed: an earlier try was written before the connection dropped with its answer.
            }
            catch
            {
                known?.Lost = true;
                throw;
            }
        }, ct);
    }

    /// <summary>
    /// Closes a record left running. Its writer may finish it meanwhile: the mail receiver records a message's
    /// <c>receive</c> step just after registering its load, so a worker can claim the load between the record's start
    /// and its end. A record finished by then is not stale, and is left as its writer closed it.
    /// </summary>
    private Task CloseStaleAsync(long stepId, CancellationToken ct) => Outage.RunAsync(async _ =>
    {
        try
        {
            await Catalog.FinishStepAsync(stepId, StepResult.Failed(ErrorKind.Transient, "interrupted: the worker stopped before the step finished"), CancellationToken.None);
        }
        catch (InvalidOperationException)
        {
            // Already finished, by its writer or by an earlier try whose answer was lost.
        }
    }, ct);

    /// <summary>Anything that is not already an <see cref="IntakeException"/> is classified here, once.</summary>
    private IntakeException Classify(Exception e, Load load, string step)
    {
        switch (e)
        {
            case IntakeException ie:
                return ie;
            case FileNotFoundException or DirectoryNotFoundException:
                return IntakeException.Integrity($"{load.SourceKey}: {e.Message}");
            case UnauthorizedAccessException:
                return IntakeException.Config($"{load.SourceKey}: permission denied: {e.Message}", e);
            case TimeoutException:
                return IntakeException.Transient($"{load.SourceKey}: timed out: {e.Message}", e);
            case IOException or System.Net.Sockets.SocketException:
                return IntakeException.Transient($"{load.SourceKey}: input/output failed: {e.Message}", e);
            default:
                // The type and stack trace go to the log for the developers; the record gets plain words.
                Log.Unexpected(_log, e, load.Id, load.Pipeline, step);
                return new IntakeException(ErrorKind.Transient, $"{load.SourceKey}: unexpected failure in step '{step}': {e.Message} (the worker's log has the details)", e);
        }
    }

    private ResiliencePipeline BuildRetry(PipelineConfig pipeline, Load load, string step)
    {
        var builder = new ResiliencePipelineBuilder { TimeProvider = _runtime.Time };
        if (pipeline.Retry.MaxAttempts > 1)
        {
            builder.AddRetry(new RetryStrategyOptions
            {
                ShouldHandle = new PredicateBuilder().Handle<IntakeException>(e => e.IsTransient),
                MaxRetryAttempts = pipeline.Retry.MaxAttempts - 1,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                Delay = pipeline.Retry.BaseDelay,
                MaxDelay = pipeline.Retry.MaxDelay,
                OnRetry = args =>
                {
                    Log.Retrying(_log, load.Id, load.Pipeline, step, args.RetryDelay);
                    return ValueTask.CompletedTask;
                },
            });
        }

        return builder.Build();
    }

    /// <summary>Sends the load from its working status (ingesting or archiving) to the error path with the failure.</summary>
    private async Task<LoadStatus> FailAsync(Load load, ErrorKind kind, string message, CancellationToken ct, string? errorCode = null, KnownAttempts? attempts = null)
    {
        await TransitionAsync(load, load.Status, LoadStatus.ReadyForErroring, new TransitionDetails { LeaseOwner = Id, ErrorKind = kind, ErrorMessage = message, ErrorCode = errorCode }, ct, attempts);
        return LoadStatus.ReadyForErroring;
    }

    /// <summary>Moves the load (a compare-and-set on this worker's lease), with a small load's attempts still waiting for a commit.</summary>
    private async Task TransitionAsync(Load load, LoadStatus from, LoadStatus to, TransitionDetails details, CancellationToken ct, KnownAttempts? attempts = null)
    {
        if (attempts is { Pending.Count: > 0 } or { PendingInboxKey: not null })
        {
            // A small load's attempts go with the move, one commit.
            if (await CommitMoveAsync(load, new StageEnd { LoadId = load.Id, From = from, To = to, Worker = Id, Details = details }, attempts, ct) is null)
            {
                throw new OperationCanceledException($"load {load.Id} is no longer leased by {Id}");
            }

            return;
        }

        if (!await Outage.RunAsync(t => Catalog.TransitionAsync(load.Id, from, to, details, t), ct))
        {
            // Compare-and-set lost: the lease expired and another worker owns the load now. Do nothing more.
            throw new OperationCanceledException($"load {load.Id} is no longer leased by {Id}");
        }
    }

    /// <summary>
    /// The archive stage: the pipeline's steps of <see cref="StepStage.Archive"/> (the copy to the archive area), then
    /// the source kind's action at the source when it has one (<c>release</c>), each recorded and retried like an
    /// ingest step; then the work area is cleared. A failure sends the load to the error path like an ingest failure.
    /// A worker that stops midway leaves the load archiving; once its lease is handed back (the sweeper) the next
    /// worker resumes at the first of these steps without a success.
    /// </summary>
    private async Task<LoadStatus> ArchiveAsync(StageRun run, PipelineConfig? pipeline, CancellationToken ct)
    {
        var load = run.Load;
        if (pipeline is null)
        {
            // Nothing can be archived without the pipeline's store; the original stays in the inbox.
            return await FailAsync(load, ErrorKind.Config, $"pipeline '{load.Pipeline}' is no longer in the configuration, so its load cannot be archived", ct);
        }

        var steps = StepDescriptor.InStage(pipeline.Steps, StepStage.Archive).ToList();
        if (pipeline.Source.Kind.ActsOnArchivedFor(pipeline))
        {
            steps.Add(StepDescriptor.Release.Name);
        }

        // The last step's end and archived, one durable commit. The work area is cleared before it: a worker killed in
        // between leaves that step running, so the next worker runs it again (archive copies from the inbox, not from
        // the work area) and clears the area again.
        run.End = async (last, t) =>
        {
            if (!pipeline.KeepWork)
            {
                await CleanWorkAreaAsync(run.Load, pipeline, t); // keep_work: left for the operator (the load step says where)
            }

            return await EndStageAsync(run, last, LoadStatus.Archiving, LoadStatus.Archived, null, t);
        };
        run.EndedIn = null;
        if (await RunStepsAsync(run, pipeline, steps, ct) is { } failed)
        {
            return failed;
        }

        return run.EndedIn ?? await run.End(null, ct);
    }

    /// <summary>The inbox key a succeeded step recorded among its outputs (<c>inbox:KEY</c>), or null.</summary>
    private async Task<string?> RecordedInboxKeyAsync(Load load, CancellationToken ct)
    {
        var prefix = Areas.Inbox + ":";
        var steps = await Outage.RunAsync(t => Catalog.GetStepsAsync(load.Id, t), ct);
        return steps.Where(s => s.Outcome == StepOutcome.Succeeded)
            .SelectMany(s => s.Outputs)
            .FirstOrDefault(o => o.StartsWith(prefix, StringComparison.Ordinal))?[prefix.Length..];
    }

    /// <summary>
    /// Copies the original to the error area and clears the work area. The load ends errored even when the
    /// copy fails (a store down, say): the original stays in the inbox, which is never modified, and the
    /// failed copy is recorded on the "error" step for the operator.
    /// </summary>
    private async Task<LoadStatus> QuarantineAsync(Load load, PipelineConfig? pipeline, CancellationToken ct)
    {
        if (pipeline is not null)
        {
            var store = _runtime.StoreFor(pipeline);
            // The key recorded when the original was fetched; a load that never reached the inbox has none. Loads
            // fetched before keys were recorded at fetch time have it in their fetch step's outputs.
            var key = load.InboxKey ?? await RecordedInboxKeyAsync(load, ct);
            var (stepId, _) = await StartAttemptAsync(load, StepDescriptor.Error.Name, ct);
            StepResult result;
            try
            {
                if (key is not null && await store.StatAsync(Areas.Inbox, key, ct) is not null)
                {
                    var copy = await store.CopyAsync(Areas.Inbox, key, Areas.Error, key, ct);
                    result = new StepResult { BytesIn = copy.Size, BytesOut = copy.Size, Outputs = [$"{Areas.Error}:{key}"] };
                }
                else
                {
                    result = new StepResult { Message = "the original never reached the inbox; nothing to copy" };
                }
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                var error = Classify(e, load, StepDescriptor.Error.Name);
                result = StepResult.Failed(error.Kind, $"the original stays in the inbox ({store.Describe(Areas.Inbox, key!)}); copying it to the error area failed: {error.Message}") with { ErrorCode = pipeline.ErrorCodes.For(StepDescriptor.Error.Name, error.Kind) };
            }

            await CloseAsync(stepId, result, ct);
            if (pipeline.Source.RemoveAfter && result.Outcome == StepOutcome.Succeeded && result.Outputs.Count > 0)
            {
                await RemoveAtSourceAsync(load with { InboxKey = key }, pipeline, ct);
            }

            await CleanWorkAreaAsync(load, pipeline, ct);
        }

        await TransitionAsync(load, LoadStatus.Erroring, LoadStatus.Errored, new TransitionDetails { LeaseOwner = Id }, ct);
        return LoadStatus.Errored;
    }

    /// <summary>
    /// <c>source.remove_after</c> on the error path: once the original's copy in the error area is verified, the file is
    /// deleted at the source, recorded as the <c>remove</c> step. A failure is recorded and leaves the file where it is;
    /// the load ends errored all the same (the copy is safe). A worker that stops before this ends leaves the load
    /// erroring: the next one copies again (the same key) and deletes.
    /// </summary>
    private async Task RemoveAtSourceAsync(Load load, PipelineConfig pipeline, CancellationToken ct)
    {
        var name = StepDescriptor.Remove.Name;
        var (stepId, attempt) = await StartAttemptAsync(load, name, ct);
        StepResult result;
        try
        {
            var context = ContextFor(load, pipeline) with { Attempt = attempt, StepName = name };
            result = await RemoveAfter.RemoveAsync(context, Areas.Error, ct);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            var error = Classify(e, load, name);
            result = StepResult.Failed(error.Kind, $"the file stays at the source: {error.Message}") with { ErrorCode = pipeline.ErrorCodes.For(name, error.Kind) };
        }

        await CloseAsync(stepId, result, ct);
    }

    /// <summary>
    /// Whether a succeeded step that expands the original (<see cref="StepDescriptor.ExpandsOriginal"/>) must run again:
    /// its output is scratch, cleared when the load errored, so a re-driven load whose later steps still need it would
    /// otherwise read an empty work area and load nothing.
    /// </summary>
    private async Task<bool> ScratchLostAsync(Load load, PipelineConfig pipeline, string stepName, IReadOnlyList<StepRecord> history, CancellationToken ct)
    {
        if (StepDescriptor.Find(stepName) is not { ExpandsOriginal: true })
        {
            return false;
        }

        // Only the ingest steps read the expanded files; the archive stage copies the original.
        var later = StepDescriptor.InStage(pipeline.Steps.SkipWhile(s => s != stepName).Skip(1), StepStage.Ingest);
        if (later.All(step => history.Any(s => s.Step == step && s.Outcome == StepOutcome.Succeeded)))
        {
            return false;
        }

        await foreach (var _ in _runtime.WorkStoreFor(pipeline).ListAsync(Areas.Work, Keys.WorkPrefix(load), ct))
        {
            return false;
        }

        return true;
    }

    /// <summary>Work files are scratch copies; failing to delete them never holds a load back (the next decompress replaces them).</summary>
    private async Task CleanWorkAreaAsync(Load load, PipelineConfig pipeline, CancellationToken ct)
    {
        try
        {
            await _runtime.WorkStoreFor(pipeline).DeletePrefixAsync(Areas.Work, Keys.WorkPrefix(load), ct);
            if (StepDescriptor.AnyIn(pipeline.Steps, d => d.HasLocalCleanup))
            {
                PullSpool.Delete(_runtime.Config.BaseDirectory, load.Id); // the pull's open part, on this machine's disk
            }
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            Log.Unexpected(_log, e, load.Id, load.Pipeline, "clean-up of the work area");
        }
    }

    /// <summary>
    /// Leases held by processes of this machine that no longer run are handed back at once instead of
    /// waiting for them to expire: after a crash, a restart resumes the load immediately.
    /// </summary>
    public async Task<int> ReclaimFromStoppedProcessesAsync(CancellationToken cancellationToken)
    {
        var count = 0;
        foreach (var working in new[] { LoadStatus.Ingesting, LoadStatus.Archiving, LoadStatus.Erroring })
        {
            foreach (var load in await Catalog.ListLoadsAsync(new LoadQuery { Status = working, Limit = 10_000 }, cancellationToken))
            {
                if (load.LeaseOwner is { } owner && WorkerIds.IsLocalAndStopped(owner))
                {
                    if (await Catalog.TransitionAsync(load.Id, working, LoadStateMachine.WaitingStatusFor(working), new TransitionDetails { LeaseOwner = owner }, cancellationToken))
                    {
                        Log.Reclaimed(_log, load.Id, load.Pipeline, owner);
                        count++;
                    }
                }
            }
        }

        return count;
    }
}

/// <summary>Worker ids are <c>host:pid:nonce</c>, so a restarted process can tell its dead predecessor's leases from a live peer's.</summary>
public static class WorkerIds
{
    public static string New() =>
        $"{Environment.MachineName}:{Environment.ProcessId.ToString(CultureInfo.InvariantCulture)}:{Guid.NewGuid().ToString("N")[..8]}";

    public static bool IsLocalAndStopped(string owner)
    {
        var parts = owner.Split(':');
        if (parts.Length != 3 || parts[0] != Environment.MachineName || !int.TryParse(parts[1], CultureInfo.InvariantCulture, out var pid))
        {
            return false;
        }

        if (pid == Environment.ProcessId)
        {
            return false;
        }

        try
        {
            using var p = Process.GetProcessById(pid);
            return p.HasExited;
        }
        catch (ArgumentException)
        {
            return true; // no such process
        }
    }
}

/// <summary>
/// The step records of one load as its worker knows them while it holds the lease: how many attempts each step has,
/// so the next start needs no read of the history. <see cref="Lost"/> once a start or an end was not answered on its
/// first try (its record may or may not exist, or may be left running): from then on the worker reads the history.
/// </summary>
internal sealed class KnownAttempts
{
    private readonly Dictionary<string, int> _counts = new(StringComparer.Ordinal);

    /// <param name="history">The load's records, none of them running (the worker closed stale ones before).</param>
    public KnownAttempts(IReadOnlyList<StepRecord> history)
    {
        foreach (var record in history)
        {
            _counts[record.Step] = _counts.GetValueOrDefault(record.Step) + 1;
        }

        Lost = history.Any(s => s.Outcome == StepOutcome.Running);
    }

    public bool Lost { get; set; }

    public int Next(string step) => _counts.GetValueOrDefault(step) + 1;

    public void Started(string step) => _counts[step] = _counts.GetValueOrDefault(step) + 1;

    /// <summary>The last step's success, not recorded yet: it goes with the next step's start, or at the end of the stage.</summary>
    public DeferredClose? Deferred { get; set; }

    /// <summary>A small load: its attempts are written with the next commit (<see cref="Pending"/>), not as each starts and ends.</summary>
    public bool Quick { get; init; }

    /// <summary>A small load's attempts that ran since the last commit, in order, each to be written whole.</summary>
    public List<FinishedStep> Pending { get; } = [];

    /// <summary>The inbox key a small load's fetch produced, written with <see cref="Pending"/>.</summary>
    public string? PendingInboxKey { get; set; }

    /// <summary>What was pending is in the catalog now.</summary>
    public void Written()
    {
        Pending.Clear();
        PendingInboxKey = null;
    }
}

/// <summary>A succeeded step record to close: its id, its result, and the inbox key it produced (if any) to record with it.</summary>
internal sealed class DeferredClose(long stepId, StepResult result)
{
    public long StepId { get; } = stepId;

    public StepResult Result { get; } = result;

    public string? InboxKey { get; set; }
}

/// <summary>
/// One load as its worker carries it through its stages under one lease: the load as last written, and the step history
/// read when the first stage began with the attempts counted since (null until then), so a stage carried on from the
/// one before needs no second read.
/// </summary>
internal sealed class StageRun(Load load)
{
    public Load Load { get; set; } = load;

    public IReadOnlyList<StepRecord>? History { get; set; }

    /// <summary>The step history the claim returned, for the first stage that runs steps; null once used.</summary>
    public IReadOnlyList<StepRecord>? ClaimedHistory { get; set; }

    public KnownAttempts? Attempts { get; set; }

    /// <summary>Ends the current stage, with the last step's success when one ran (inside that step's retries).</summary>
    public Func<DeferredClose?, CancellationToken, Task<LoadStatus>>? End { get; set; }

    /// <summary>The status the current stage's end put the load in; null until it ended.</summary>
    public LoadStatus? EndedIn { get; set; }
}
