using Intake.Core.Model;
using Intake.Core.Ports;
using Intake.Engine.Audit;
using Intake.Engine.Operations;
using Intake.Engine.Runtime;
using Intake.Engine.Tests.Support;

namespace Intake.Engine.Tests;

/// <summary>
/// The worker hands a load from one step to the next with one catalog call (the end of one record, the inbox key, the
/// start of the next: one transaction), ends a stage with one more (the last step's end, the status change and, after
/// ingest, its own claim into archiving), and a worker killed at any of them leaves a load the next worker finishes as
/// one load with every row once.
/// </summary>
public sealed class StepHandOverTests : IAsyncLifetime
{
    // Each step recorded as it starts and ends, as a load over defaults.small_loads_up_to has them.
    private readonly EmbeddedProject _project = new("intake-hand-over-", smallLoadsUpTo: "0");

    // The default: the file is a small load, whose records are written with its stages' ends.
    private readonly EmbeddedProject _small = new("intake-small-load-");

    public StepHandOverTests()
    {
        _project.GzipPipelineWithOneFile(); // fetch, decompress, validate, load (ingest); archive
        _small.GzipPipelineWithOneFile();
    }

    public Task InitializeAsync() => Task.CompletedTask;

    // xUnit 2 disposes a test class through IAsyncLifetime, not IAsyncDisposable.
    public async Task DisposeAsync()
    {
        await _project.DisposeAsync();
        await _small.DisposeAsync();
    }

    [Fact]
    public async Task SmallLoad_NoFailures_ItsRecordsAreWrittenWithItsTwoStageEnds_InOrder_AndTheAuditAgrees()
    {
        var runtime = await _small.OpenAsync();
        await new Discovery(runtime).DiscoverAsync(runtime.Pipeline("p"), default);
        var counting = new HandOverCatalog(runtime.Catalog);

        var (load, steps) = await DrainAsync(runtime, new Worker(runtime.WithCatalog(counting)));

        // Per step, nothing: the five records and the inbox key go with the two stage ends, 2 commits after the claim,
        // and the claim found no history to read (a new file's load).
        (counting.Starts, counting.HandOvers, counting.Finishes, counting.InboxKeys).ShouldBe((0, 0, 0, 0));
        (counting.StageEnds, counting.Transitions, counting.Claims, counting.HistoryReads).ShouldBe((2, 0, 1, 0));
        load.Status.ShouldBe(LoadStatus.Archived);
        load.InboxKey.ShouldNotBeNull();
        steps.Select(s => (s.Step, s.Attempt, s.Outcome)).ShouldBe(EmbeddedProject.GzipPipelineStepsOnce);
        steps.Single(s => s.Step == "fetch").Outputs.ShouldContain($"inbox:{load.InboxKey}");
        steps.Single(s => s.Step == "load").RowsOut.ShouldBe(2);
        for (var i = 0; i < steps.Count; i++)
        {
            // Each attempt with its own start and end, as the worker saw them, one after the other.
            steps[i].FinishedAt!.Value.ShouldBeGreaterThanOrEqualTo(steps[i].StartedAt);
            if (i > 0)
            {
                steps[i].StartedAt.ShouldBeGreaterThanOrEqualTo(steps[i - 1].FinishedAt!.Value);
            }
        }

        (await new Auditor(runtime).AuditLoadAsync(load, default)).Problems.ShouldBeEmpty();
    }

    [Theory]
    [InlineData(LoadStatus.Ingesting, false)] // four records, ready_for_archiving and the claim into archiving not written
    [InlineData(LoadStatus.Ingesting, true)]  // all written (the load archiving under the dead worker), then killed
    [InlineData(LoadStatus.Archiving, false)] // archive's record and archived not written
    [InlineData(LoadStatus.Archiving, true)]
    public async Task SmallLoad_KilledAtAStagesEnd_TheNextWorkerRunsThatStageAgain_OneLoadEveryRowOnce(LoadStatus stage, bool written)
    {
        var runtime = await _small.OpenAsync();
        await new Discovery(runtime).DiscoverAsync(runtime.Pipeline("p"), default);
        var dying = new HandOverCatalog(runtime.Catalog) { KillAtEndOf = stage, KillAfterWriting = written };
        var deadId = $"{Environment.MachineName}:{int.MaxValue}:dead0004";

        await Should.ThrowAsync<ProcessKilledException>(() => new Worker(runtime.WithCatalog(dying), id: deadId).RunOneAsync(null, default));
        var stuck = (await runtime.Catalog.ListLoadsAsync(new LoadQuery(), default)).ShouldHaveSingleItem();
        var (status, recorded) = (stage, written) switch
        {
            (LoadStatus.Ingesting, false) => (LoadStatus.Ingesting, 0),
            (LoadStatus.Ingesting, true) or (_, false) => (LoadStatus.Archiving, 4),
            _ => (LoadStatus.Archived, 5),
        };
        stuck.Status.ShouldBe(status);
        // Nothing is left running: what the dead worker did since its last commit has no record at all.
        var before = await runtime.Catalog.GetStepsAsync(stuck.Id, default);
        before.Count.ShouldBe(recorded);
        before.ShouldAllBe(s => s.Outcome == StepOutcome.Succeeded);
        stuck.InboxKey.ShouldNotBeNull(); // held for the load at registration, before any step ran
        (await new Sweeper(runtime).SweepAsync(default)).Returned.ShouldBe(status == LoadStatus.Archived ? 0 : 1);

        var (load, steps) = await DrainAsync(runtime, new Worker(runtime));

        load.Status.ShouldBe(LoadStatus.Archived);
        load.InboxKey.ShouldNotBeNull();
        // The stage run again is recorded as the first attempt of each of its steps: the unrecorded run left no trace.
        steps.Select(s => (s.Step, s.Attempt, s.Outcome)).ShouldBe(EmbeddedProject.GzipPipelineStepsOnce);
        (await runtime.Warehouses["main"].CountRowsAsync("rows", load.Id, default)).ShouldBe(2);
        _small.Rows().ShouldBe(2);
        (await RuntimeProbes.ListAsync(runtime, Areas.Inbox)).ShouldHaveSingleItem();
        (await RuntimeProbes.ListAsync(runtime, Areas.Archive)).ShouldHaveSingleItem();
        (await new Auditor(runtime).AuditLoadAsync(load, default)).Problems.ShouldBeEmpty();
    }

    [Fact]
    public async Task SmallLoad_AStepFailsForGood_ItsRecordAndTheOnesBeforeGoWithTheMoveToTheErrorPath()
    {
        File.WriteAllText(_small.In("a.csv.gz"), "id,name\n1,a\n"); // not gzip: decompress fails, not transient
        var runtime = await _small.OpenAsync();
        await new Discovery(runtime).DiscoverAsync(runtime.Pipeline("p"), default);
        var counting = new HandOverCatalog(runtime.Catalog);

        var (load, steps) = await DrainAsync(runtime, new Worker(runtime.WithCatalog(counting)));

        load.Status.ShouldBe(LoadStatus.Errored);
        load.InboxKey.ShouldNotBeNull(); // recorded with the move, so the error path copies the original from it
        load.ErrorMessage.ShouldNotBeNullOrWhiteSpace();
        steps.Select(s => (s.Step, s.Attempt, s.Outcome)).ShouldBe(
        [
            ("fetch", 1, StepOutcome.Succeeded), ("decompress", 1, StepOutcome.Failed), ("error", 1, StepOutcome.Succeeded),
        ]);
        steps[1].ErrorKind.ShouldBe(load.ErrorKind);
        counting.StageEnds.ShouldBe(1); // fetch's and decompress's records with the move to ready_for_erroring
        (await RuntimeProbes.ListAsync(runtime, Areas.Error)).ShouldHaveSingleItem();
        (await new Auditor(runtime).AuditLoadAsync(load, default)).Problems.ShouldBeEmpty();
    }

    [Fact]
    public async Task NoFailures_EachStepsEndGoesWithTheNextStepsStart_AndTheInboxKeyWithTheFetchsEnd()
    {
        var runtime = await _project.OpenAsync();
        await new Discovery(runtime).DiscoverAsync(runtime.Pipeline("p"), default);
        var counting = new HandOverCatalog(runtime.Catalog);

        var (load, steps) = await DrainAsync(runtime, new Worker(runtime.WithCatalog(counting)));

        // Without hand-overs: 5 starts, 5 ends and the inbox key, 11 commits, then 2 status changes and a second claim
        // with its history read; with them 2 starts, 3 hand-overs and 2 stage ends, 7 commits in all, one claim and no
        // read (the claim says a new file's load has no history).
        (counting.Starts, counting.HandOvers, counting.Finishes, counting.InboxKeys).ShouldBe((2, 3, 0, 0));
        (counting.StageEnds, counting.Transitions, counting.Claims, counting.HistoryReads).ShouldBe((2, 0, 1, 0));
        load.Status.ShouldBe(LoadStatus.Archived);
        load.InboxKey.ShouldNotBeNull();
        steps.Select(s => (s.Step, s.Attempt, s.Outcome)).ShouldBe(EmbeddedProject.GzipPipelineStepsOnce);
        steps.Single(s => s.Step == "fetch").Outputs.ShouldContain($"inbox:{load.InboxKey}");
        (await new Auditor(runtime).AuditLoadAsync(load, default)).Problems.ShouldBeEmpty();
    }

    [Theory]
    [InlineData("decompress", false)] // fetch done, its end and the inbox key not written
    [InlineData("decompress", true)]  // fetch's end, the inbox key and decompress's start written, then killed
    [InlineData("load", false)]
    [InlineData("load", true)]
    public async Task KilledAtAHandOver_TheNextWorkerResumes_OneLoadEveryRowOnce(string nextStep, bool written)
    {
        var runtime = await _project.OpenAsync();
        await new Discovery(runtime).DiscoverAsync(runtime.Pipeline("p"), default);
        var dying = new HandOverCatalog(runtime.Catalog) { KillAt = nextStep, KillAfterWriting = written };
        // A process id no system gives out, so the sweeper finds that process stopped and hands the load back.
        var deadId = $"{Environment.MachineName}:{int.MaxValue}:dead0002";

        await Should.ThrowAsync<ProcessKilledException>(() => new Worker(runtime.WithCatalog(dying), id: deadId).RunOneAsync(null, default));
        var stuck = (await runtime.Catalog.ListLoadsAsync(new LoadQuery(), default)).ShouldHaveSingleItem();
        stuck.Status.ShouldBe(LoadStatus.Ingesting);
        var runningStep = written ? nextStep : (nextStep == "decompress" ? "fetch" : "validate");
        (await runtime.Catalog.GetStepsAsync(stuck.Id, default)).Where(s => s.Outcome == StepOutcome.Running).Select(s => s.Step).ShouldBe([runningStep]);
        (await new Sweeper(runtime).SweepAsync(default)).Returned.ShouldBe(1);

        var (load, steps) = await DrainAsync(runtime, new Worker(runtime));

        load.Status.ShouldBe(LoadStatus.Archived);
        load.InboxKey.ShouldNotBeNull();
        steps.ShouldAllBe(s => s.Outcome != StepOutcome.Running);
        steps.Where(s => s.Step == runningStep).Select(s => (s.Attempt, s.Outcome)).ShouldBe([(1, StepOutcome.Failed), (2, StepOutcome.Succeeded)]);
        steps.Where(s => s.Step != runningStep).ShouldAllBe(s => s.Attempt == 1 && s.Outcome == StepOutcome.Succeeded);
        steps.Select(s => s.Step).Distinct().Count().ShouldBe(5);
        (await runtime.Warehouses["main"].CountRowsAsync("rows", load.Id, default)).ShouldBe(2);
        _project.Rows().ShouldBe(2);
        (await RuntimeProbes.ListAsync(runtime, Areas.Inbox)).ShouldHaveSingleItem();
        (await RuntimeProbes.ListAsync(runtime, Areas.Archive)).ShouldHaveSingleItem();
        (await new Auditor(runtime).AuditLoadAsync(load, default)).Problems.ShouldBeEmpty();
    }

    [Theory]
    [InlineData(LoadStatus.Ingesting, false)] // load's success, ready_for_archiving and the claim into archiving not written
    [InlineData(LoadStatus.Ingesting, true)]  // all written (the load archiving under the dead worker), then killed
    [InlineData(LoadStatus.Archiving, false)] // archive's success and archived not written
    [InlineData(LoadStatus.Archiving, true)]
    public async Task KilledAtAStagesEnd_TheNextWorkerResumes_OneLoadEveryRowOnce(LoadStatus stage, bool written)
    {
        var runtime = await _project.OpenAsync();
        await new Discovery(runtime).DiscoverAsync(runtime.Pipeline("p"), default);
        var dying = new HandOverCatalog(runtime.Catalog) { KillAtEndOf = stage, KillAfterWriting = written };
        var deadId = $"{Environment.MachineName}:{int.MaxValue}:dead0003";

        await Should.ThrowAsync<ProcessKilledException>(() => new Worker(runtime.WithCatalog(dying), id: deadId).RunOneAsync(null, default));
        var stuck = (await runtime.Catalog.ListLoadsAsync(new LoadQuery(), default)).ShouldHaveSingleItem();
        var lastStep = stage == LoadStatus.Ingesting ? "load" : "archive";
        var (status, runningStep) = (stage, written) switch
        {
            (LoadStatus.Ingesting, false) => (LoadStatus.Ingesting, lastStep),
            (LoadStatus.Ingesting, true) => (LoadStatus.Archiving, null),
            (_, false) => (LoadStatus.Archiving, lastStep),
            _ => (LoadStatus.Archived, (string?)null),
        };
        stuck.Status.ShouldBe(status);
        (await runtime.Catalog.GetStepsAsync(stuck.Id, default)).Where(s => s.Outcome == StepOutcome.Running).Select(s => s.Step).ShouldBe(runningStep is null ? [] : [runningStep]);
        (await new Sweeper(runtime).SweepAsync(default)).Returned.ShouldBe(status == LoadStatus.Archived ? 0 : 1);

        var (load, steps) = await DrainAsync(runtime, new Worker(runtime));

        load.Status.ShouldBe(LoadStatus.Archived);
        load.InboxKey.ShouldNotBeNull();
        steps.ShouldAllBe(s => s.Outcome != StepOutcome.Running);
        steps.Where(s => s.Step == runningStep).Select(s => (s.Attempt, s.Outcome)).ShouldBe(runningStep is null ? [] : [(1, StepOutcome.Failed), (2, StepOutcome.Succeeded)]);
        steps.Where(s => s.Step != runningStep).ShouldAllBe(s => s.Attempt == 1 && s.Outcome == StepOutcome.Succeeded);
        steps.Select(s => s.Step).Distinct().Count().ShouldBe(5);
        (await runtime.Warehouses["main"].CountRowsAsync("rows", load.Id, default)).ShouldBe(2);
        _project.Rows().ShouldBe(2);
        (await RuntimeProbes.ListAsync(runtime, Areas.Inbox)).ShouldHaveSingleItem();
        (await RuntimeProbes.ListAsync(runtime, Areas.Archive)).ShouldHaveSingleItem();
        (await new Auditor(runtime).AuditLoadAsync(load, default)).Problems.ShouldBeEmpty();
    }

    private static async Task<(Load Load, IReadOnlyList<StepRecord> Steps)> DrainAsync(IntakeRuntime runtime, Worker worker)
    {
        while (await worker.RunOneAsync(null, default) is not null)
        {
        }

        var load = (await runtime.Catalog.ListLoadsAsync(new LoadQuery(), default)).ShouldHaveSingleItem();
        return (load, await runtime.Catalog.GetStepsAsync(load.Id, default));
    }

    private sealed class ProcessKilledException() : Exception("killed (SIGKILL): nothing after this point runs");

    /// <summary>
    /// The real catalog, counting the worker's step writes; the hand-over goes to the real catalog's own transaction
    /// (not the port's fallback of separate calls). With <see cref="KillAt"/>, the process "dies" at the hand-over to
    /// that step: before anything is written, or just after the transaction commits.
    /// </summary>
    private sealed class HandOverCatalog(ICatalog inner) : ForwardingCatalog(inner), ICatalog
    {
        public int Starts { get; private set; }
        public int Finishes { get; private set; }
        public int HandOvers { get; private set; }
        public int InboxKeys { get; private set; }
        public int StageEnds { get; private set; }
        public int Transitions { get; private set; }
        public int Claims { get; private set; }
        public int HistoryReads { get; private set; }
        public string? KillAt { get; init; }
        /// <summary>Dies at the end of the stage worked in this status (the last step's end and the status change).</summary>
        public LoadStatus? KillAtEndOf { get; init; }
        public bool KillAfterWriting { get; init; }

        public override Task<bool> TransitionAsync(long loadId, LoadStatus from, LoadStatus to, TransitionDetails? details, CancellationToken cancellationToken)
        {
            Transitions++;
            return base.TransitionAsync(loadId, from, to, details, cancellationToken);
        }

        public override async Task<ClaimedLoad?> ClaimWithHistoryAsync(ClaimRequest request, CancellationToken cancellationToken)
        {
            var claimed = await base.ClaimWithHistoryAsync(request, cancellationToken);
            Claims += claimed is null ? 0 : 1;
            return claimed;
        }

        public override Task<IReadOnlyList<StepRecord>> GetStepsAsync(long loadId, CancellationToken cancellationToken)
        {
            HistoryReads++;
            return base.GetStepsAsync(loadId, cancellationToken);
        }

        async Task<LoadStatus?> ICatalog.EndStageAsync(StageEnd end, CancellationToken cancellationToken)
        {
            StageEnds++;
            if (end.From == KillAtEndOf && !KillAfterWriting)
            {
                throw new ProcessKilledException();
            }

            var now = await Inner.EndStageAsync(end, cancellationToken);
            return end.From == KillAtEndOf ? throw new ProcessKilledException() : now;
        }

        public override Task<long> StartStepAsync(long loadId, string step, int attempt, string? worker, CancellationToken cancellationToken)
        {
            Starts++;
            return base.StartStepAsync(loadId, step, attempt, worker, cancellationToken);
        }

        public override Task FinishStepAsync(long stepId, StepResult result, CancellationToken cancellationToken)
        {
            Finishes++;
            return base.FinishStepAsync(stepId, result, cancellationToken);
        }

        public override Task<bool> RecordInboxKeyAsync(long loadId, string worker, string inboxKey, CancellationToken cancellationToken)
        {
            InboxKeys++;
            return base.RecordInboxKeyAsync(loadId, worker, inboxKey, cancellationToken);
        }

        async Task<long?> ICatalog.FinishAndStartStepAsync(long stepId, StepResult result, NextStep next, CancellationToken cancellationToken)
        {
            HandOvers++;
            if (next.Step == KillAt && !KillAfterWriting)
            {
                throw new ProcessKilledException();
            }

            var id = await Inner.FinishAndStartStepAsync(stepId, result, next, cancellationToken);
            return next.Step == KillAt ? throw new ProcessKilledException() : id;
        }
    }
}
