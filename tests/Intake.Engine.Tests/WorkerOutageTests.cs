using Intake.Core.Ports;
using Intake.Engine.Audit;
using Intake.Engine.Steps;
using Intake.Engine.Tests.Support;

namespace Intake.Engine.Tests;

/// <summary>
/// Step records when the catalog fails around a step (the catalog here fails on cue; the same with a real PostgreSQL
/// restarting is in the integration tests): every attempt ends closed and attempts are numbered 1..n without gaps.
/// </summary>
public sealed class WorkerOutageTests : IAsyncLifetime
{
    private readonly EmbeddedProject _project = new("intake-worker-outage-", maxAttempts: 3, smallLoadsUpTo: "0"); // each step recorded as it starts and ends, as a load over small_loads_up_to
    private readonly CapturingLogs _logs = new();

    public WorkerOutageTests()
    {
        _project.GzipPipelineWithOneFile();
    }

    public Task InitializeAsync() => Task.CompletedTask;

    // xUnit 2 disposes a test class through IAsyncLifetime, not IAsyncDisposable.
    public Task DisposeAsync() => _project.DisposeAsync().AsTask();

    private async Task<(IntakeRuntime Runtime, FlakyCatalog Catalog)> OpenAsync(OutageOptions outage)
    {
        var real = await _project.OpenAsync(outage, new InstantTimeProvider(), _logs);
        await new Discovery(real).DiscoverAsync(real.Pipeline("p"), default);
        var flaky = new FlakyCatalog(real.Catalog);
        return (real.WithCatalog(flaky), flaky);
    }

    private static async Task<(Load Load, IReadOnlyList<StepRecord> Steps, LoadAudit Audit)> DrainAsync(IntakeRuntime runtime, CountingStep? replace = null)
    {
        var steps = Worker.DefaultSteps(runtime).Select(s => replace is not null && s.Name == replace.Name ? replace : s);
        var worker = new Worker(runtime, steps);
        while (await worker.RunOneAsync(null, default) is not null)
        {
        }

        var load = (await runtime.Catalog.ListLoadsAsync(new LoadQuery(), default)).ShouldHaveSingleItem();
        return (load, await runtime.Catalog.GetStepsAsync(load.Id, default), await new Auditor(runtime).AuditLoadAsync(load, default));
    }

    private static void ShouldBeClosedAndNumberedWithoutGaps(IReadOnlyList<StepRecord> steps)
    {
        steps.ShouldAllBe(s => s.Outcome != StepOutcome.Running);
        foreach (var step in steps.GroupBy(s => s.Step))
        {
            step.Select(s => s.Attempt).ShouldBe(Enumerable.Range(1, step.Count()), $"attempts of {step.Key}");
        }
    }

    [Fact]
    public async Task NoFailures_TheStepHistoryComesWithTheClaim_NoReadPerStageOrStep_AndAttemptsAreNumbered()
    {
        var real = await _project.OpenAsync(OutageOptions.OneShot, new InstantTimeProvider(), _logs);
        await new Discovery(real).DiscoverAsync(real.Pipeline("p"), default);
        var counting = new HistoryReadCountingCatalog(real.Catalog);
        var worker = new Worker(real.WithCatalog(counting));
        while (await worker.RunOneAsync(null, default) is not null)
        {
        }

        // fetch, decompress, validate, load (ingest) and archive: the history comes with each stage's claim (a new
        // file's load has none to read), never a read of its own per stage or per step. Each read would be a catalog
        // round trip per load, which is what many small files pay for.
        counting.HistoryReads.ShouldBe(0);
        var (load, steps, audit) = await DrainAsync(real);
        load.Status.ShouldBe(LoadStatus.Archived);
        steps.Select(s => (s.Step, s.Attempt, s.Outcome)).ShouldBe(EmbeddedProject.GzipPipelineStepsOnce);
        audit.Problems.ShouldBeEmpty();
    }

    [Fact]
    public async Task OneShot_EndOfAnAttemptNotRecorded_IsClosedBeforeTheNextAttempt_AndAttemptsHaveNoGaps()
    {
        var (runtime, catalog) = await OpenAsync(OutageOptions.OneShot);
        catalog.FinishFailures = 1; // archive attempt 1 succeeds, but the catalog is gone when it is recorded
        catalog.StartFailures = 1;  // and still gone when the next attempt starts

        var (load, steps, audit) = await DrainAsync(runtime);

        load.Status.ShouldBe(LoadStatus.Archived);
        var archive = steps.Where(s => s.Step == "archive").ToList();
        archive.Select(s => (s.Attempt, s.Outcome)).ShouldBe([(1, StepOutcome.Failed), (2, StepOutcome.Succeeded)]);
        archive[0].ErrorKind.ShouldBe(ErrorKind.Transient);
        archive[0].Message!.ShouldContain("catalog was unreachable");
        ShouldBeClosedAndNumberedWithoutGaps(steps);
        audit.Problems.ShouldBeEmpty();
    }

    [Fact]
    public async Task StartRecordedButItsAnswerLost_TheRecordIsClosedBeforeTheNextAttempt_AndAttemptsHaveNoGaps()
    {
        var (runtime, catalog) = await OpenAsync(OutageOptions.OneShot);
        catalog.LostStartAnswers = 1; // the record of archive attempt 1 is written, then the connection drops

        var (load, steps, audit) = await DrainAsync(runtime);

        load.Status.ShouldBe(LoadStatus.Archived);
        steps.Where(s => s.Step == "archive").Select(s => (s.Attempt, s.Outcome)).ShouldBe([(1, StepOutcome.Failed), (2, StepOutcome.Succeeded)]);
        ShouldBeClosedAndNumberedWithoutGaps(steps);
        audit.Problems.ShouldBeEmpty();
    }

    [Fact]
    public async Task Daemon_CatalogDownWhenAStepEnds_RecordsItsOutcomeOnceTheCatalogAnswers_WithoutRunningItAgain()
    {
        var (runtime, catalog) = await OpenAsync(OutageOptions.Daemon);
        catalog.FinishFailures = 5; // longer than the step's own retries (3) would last
        var archive = new CountingStep(new ArchiveStep());

        var (load, steps, audit) = await DrainAsync(runtime, archive);

        load.Status.ShouldBe(LoadStatus.Archived);
        archive.Calls.ShouldBe(1);
        steps.Where(s => s.Step == "archive").Select(s => (s.Attempt, s.Outcome)).ShouldBe([(1, StepOutcome.Succeeded)]);
        ShouldBeClosedAndNumberedWithoutGaps(steps);
        audit.Problems.ShouldBeEmpty();
        _logs.Count(60).ShouldBe(1); // the outage, once
        _logs.Count(61).ShouldBe(1); // and its end
    }

    [Fact]
    public async Task Daemon_CatalogDownWhenTheLoadChangesStatus_WaitsAndArchivesIt()
    {
        var (runtime, catalog) = await OpenAsync(OutageOptions.Daemon);
        catalog.TransitionFailures = 4;

        var (load, steps, audit) = await DrainAsync(runtime);

        load.Status.ShouldBe(LoadStatus.Archived);
        ShouldBeClosedAndNumberedWithoutGaps(steps);
        audit.Problems.ShouldBeEmpty();
    }

    [Fact]
    public async Task SmallLoad_OneShot_StageEndUnanswered_ItsRecordsAreWrittenOnce_AndOnlyTheLastStepRunsAgain()
    {
        // The records of fetch to load and the move, not written once.
        var (archived, steps, audit, rows, validate, load) = await RunSmallLoadAsync(OutageOptions.OneShot, ingestEndFailures: 1);

        archived.Status.ShouldBe(LoadStatus.Archived);
        (validate, load).ShouldBe((1, 2)); // the step retried is the last one; the ledger keeps its rows once
        steps.Select(s => (s.Step, s.Attempt, s.Outcome)).ShouldBe(EmbeddedProject.GzipPipelineStepsOnce);
        rows.ShouldBe(2);
        audit.Problems.ShouldBeEmpty();
    }

    [Fact]
    public async Task SmallLoad_Daemon_StageEndUnanswered_WaitsAndWritesItsRecordsOnce_WithoutRunningAStepAgain()
    {
        // Longer than the step's own retries (3) would last.
        var (archived, steps, audit, rows, validate, load) = await RunSmallLoadAsync(OutageOptions.Daemon, ingestEndFailures: 5);

        archived.Status.ShouldBe(LoadStatus.Archived);
        (validate, load).ShouldBe((1, 1));
        steps.Select(s => (s.Step, s.Attempt, s.Outcome)).ShouldBe(EmbeddedProject.GzipPipelineStepsOnce);
        rows.ShouldBe(2);
        audit.Problems.ShouldBeEmpty();
    }

    /// <summary>
    /// A small load (its records written with its stage's end) through a worker whose end of ingest fails
    /// <paramref name="ingestEndFailures"/> times before reaching the database; how often validate and load ran.
    /// </summary>
    private async Task<(Load Load, IReadOnlyList<StepRecord> Steps, LoadAudit Audit, long Rows, int ValidateRuns, int LoadRuns)> RunSmallLoadAsync(OutageOptions outage, int ingestEndFailures)
    {
        await using var small = new EmbeddedProject("intake-small-outage-", maxAttempts: 3);
        small.GzipPipelineWithOneFile();
        var real = await small.OpenAsync(outage, new InstantTimeProvider(), _logs);
        await new Discovery(real).DiscoverAsync(real.Pipeline("p"), default);
        var flaky = new StageEndFlakyCatalog(real.Catalog) { IngestEndFailures = ingestEndFailures };
        var load = new CountingStep(new LoadStep());
        var validate = new CountingStep(new ValidateStep());
        var worker = new Worker(real.WithCatalog(flaky), Worker.DefaultSteps(real).Select(s => s.Name == "load" ? load : s.Name == "validate" ? validate : s));
        while (await worker.RunOneAsync(null, default) is not null)
        {
        }

        var (archived, steps, audit) = await DrainAsync(real);
        return (archived, steps, audit, small.Rows(), validate.Calls, load.Calls);
    }

    /// <summary>Counts the runs of a real step.</summary>
    private sealed class CountingStep(IStep real) : IStep
    {
        private int _calls;

        public int Calls => _calls;

        public string Name => real.Name;

        public Task<StepResult> RunAsync(StepContext context, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _calls);
            return real.RunAsync(context, cancellationToken);
        }
    }

    /// <summary>The real catalog, but unreachable on cue around the <c>archive</c> step's records and the load's transitions.</summary>
    private sealed class HistoryReadCountingCatalog(ICatalog inner) : ForwardingCatalog(inner)
    {
        public int HistoryReads { get; private set; }

        public override Task<IReadOnlyList<StepRecord>> GetStepsAsync(long loadId, CancellationToken cancellationToken)
        {
            HistoryReads++;
            return base.GetStepsAsync(loadId, cancellationToken);
        }
    }

    /// <summary>The real catalog, its stage ends in its own transaction, the end of the ingest stage failing on cue before reaching the database.</summary>
    private sealed class StageEndFlakyCatalog(ICatalog inner) : ForwardingCatalog(inner), ICatalog
    {
        public int IngestEndFailures { get; set; }

        Task<LoadStatus?> ICatalog.EndStageAsync(StageEnd end, CancellationToken cancellationToken)
        {
            if (end.From == LoadStatus.Ingesting && IngestEndFailures > 0)
            {
                IngestEndFailures--;
                throw IntakeException.Transient("the PostgreSQL catalog db:5432/intake is unreachable or busy: 57P01: terminating connection due to administrator command");
            }

            return Inner.EndStageAsync(end, cancellationToken);
        }
    }

    private sealed class FlakyCatalog(ICatalog inner) : ForwardingCatalog(inner)
    {
        private readonly HashSet<long> _archiveRecords = [];

        /// <summary>Completions of archive records that fail before reaching the database.</summary>
        public int FinishFailures { get; set; }

        /// <summary>Starts of archive records that fail before reaching the database.</summary>
        public int StartFailures { get; set; }

        /// <summary>Starts of archive records written, whose answer is then lost.</summary>
        public int LostStartAnswers { get; set; }

        /// <summary>Status changes out of ingesting that fail before reaching the database.</summary>
        public int TransitionFailures { get; set; }

        private static IntakeException Unreachable() =>
            IntakeException.Transient("the PostgreSQL catalog db:5432/intake is unreachable or busy: 57P01: terminating connection due to administrator command");

        public override async Task<long> StartStepAsync(long loadId, string step, int attempt, string? worker, CancellationToken cancellationToken)
        {
            if (step == "archive" && StartFailures > 0)
            {
                StartFailures--;
                throw Unreachable();
            }

            var id = await Inner.StartStepAsync(loadId, step, attempt, worker, cancellationToken);
            if (step == "archive")
            {
                _archiveRecords.Add(id);
                if (LostStartAnswers > 0)
                {
                    LostStartAnswers--;
                    throw Unreachable();
                }
            }

            return id;
        }

        public override Task FinishStepAsync(long stepId, StepResult result, CancellationToken cancellationToken)
        {
            if (_archiveRecords.Contains(stepId) && FinishFailures > 0)
            {
                FinishFailures--;
                throw Unreachable();
            }

            return Inner.FinishStepAsync(stepId, result, cancellationToken);
        }

        public override Task<bool> TransitionAsync(long loadId, LoadStatus from, LoadStatus to, TransitionDetails? details, CancellationToken cancellationToken)
        {
            if (from == LoadStatus.Ingesting && TransitionFailures > 0)
            {
                TransitionFailures--;
                throw Unreachable();
            }

            return Inner.TransitionAsync(loadId, from, to, details, cancellationToken);
        }
    }
}
