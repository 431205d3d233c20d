using Intake.Engine.Steps;

namespace Intake.Engine.Tests;

/// <summary>The worker's handling of step failures, with one step replaced by one that fails on cue.</summary>
public sealed class WorkerTests : IAsyncLifetime
{
    private readonly EmbeddedProject _project = new("intake-worker-", maxAttempts: 3);
    private IntakeRuntime _runtime = null!;

    public async Task InitializeAsync()
    {
        _project.GzipPipelineWithOneFile();
        _runtime = await _project.OpenAsync();
        await new Discovery(_runtime).DiscoverAsync(_runtime.Pipeline("p"), default);
    }

    public Task DisposeAsync() => _project.DisposeAsync().AsTask();

    /// <summary>The worker's own step of that name, failing on cue (the call number in, the exception to throw or null out).</summary>
    private sealed class Flaky(IStep real, Func<int, Exception?> failure) : IStep
    {
        public int Calls { get; private set; }
        public string Name => real.Name;

        public static Flaky Of(IntakeRuntime runtime, string step, Func<int, Exception?> failure) =>
            new(Worker.DefaultSteps(runtime).Single(s => s.Name == step), failure);

        public Task<StepResult> RunAsync(StepContext context, CancellationToken cancellationToken)
        {
            Calls++;
            return failure(Calls) is { } e ? throw e : real.RunAsync(context, cancellationToken);
        }
    }

    private Flaky FlakyArchive(Func<int, Exception?> failure) => Flaky.Of(_runtime, "archive", failure);

    private async Task<(Load Load, IReadOnlyList<StepRecord> Steps)> DrainAsync(IStep replacement)
    {
        var steps = Worker.DefaultSteps(_runtime).Select(s => s.Name == replacement.Name ? replacement : s);
        var worker = new Worker(_runtime, steps);
        while (await worker.RunOneAsync(null, default) is not null)
        {
        }

        var load = (await _runtime.Catalog.ListLoadsAsync(new LoadQuery(), default)).ShouldHaveSingleItem();
        return (load, await _runtime.Catalog.GetStepsAsync(load.Id, default));
    }

    [Fact]
    public async Task TransientFailure_IsRetriedWithARecordPerAttempt_ThenTheLoadIsArchived()
    {
        var step = FlakyArchive(call => call <= 2 ? IntakeException.Transient("server went away") : null);

        var (load, steps) = await DrainAsync(step);

        load.Status.ShouldBe(LoadStatus.Archived);
        var archive = steps.Where(s => s.Step == "archive").ToList();
        archive.Select(s => (s.Attempt, s.Outcome)).ShouldBe([(1, StepOutcome.Failed), (2, StepOutcome.Failed), (3, StepOutcome.Succeeded)]);
        archive[0].ErrorKind.ShouldBe(ErrorKind.Transient);
        archive[0].Message.ShouldBe("server went away");
        archive[0].ErrorCode.ShouldBeNull(); // the pipeline asks for no error codes
        steps.Count(s => s.Step == "load" && s.Outcome == StepOutcome.Succeeded).ShouldBe(1);
    }

    [Fact]
    public async Task TransientFailure_PastTheRetryLimit_ErrorsTheLoadAsTransient_AndKeepsTheOriginal()
    {
        var step = FlakyArchive(_ => IntakeException.Transient("still down"));

        var (load, steps) = await DrainAsync(step);

        load.Status.ShouldBe(LoadStatus.Errored);
        load.ErrorKind.ShouldBe(ErrorKind.Transient);
        step.Calls.ShouldBe(3);
        // The archive stage comes after the load step: the rows are loaded, the load errors while archiving.
        steps.Single(s => s.Step == "load").Outcome.ShouldBe(StepOutcome.Succeeded);
        steps[^1].Step.ShouldBe("error");
        steps[^1].Outputs.ShouldHaveSingleItem().ShouldStartWith("error:");
        Directory.EnumerateFiles(_project.Stored("inbox"), "a.csv.gz", SearchOption.AllDirectories).ShouldHaveSingleItem();
    }

    [Fact]
    public async Task NonTransientFailure_IsNotRetried()
    {
        var step = FlakyArchive(_ => IntakeException.Integrity("copy differs"));

        var (load, steps) = await DrainAsync(step);

        step.Calls.ShouldBe(1);
        load.Status.ShouldBe(LoadStatus.Errored);
        load.ErrorKind.ShouldBe(ErrorKind.Integrity);
        load.ErrorMessage.ShouldBe("copy differs");
    }

    [Fact]
    public async Task Redriven_Load_ResumesAtTheFailedStep_WithoutRepeatingEarlierOnes()
    {
        var (failed, _) = await DrainAsync(Flaky.Of(_runtime, "load", _ => IntakeException.Integrity("the table is not there")));
        (await _runtime.Catalog.TransitionAsync(failed.Id, LoadStatus.Errored, LoadStatus.Ready, new TransitionDetails { ClearError = true, ResetAttempts = true }, default)).ShouldBeTrue();

        var (load, steps) = await DrainAsync(Flaky.Of(_runtime, "load", _ => null));

        load.Status.ShouldBe(LoadStatus.Archived);
        load.ErrorKind.ShouldBeNull();
        steps.Count(s => s.Step == "fetch").ShouldBe(1);
        steps.Count(s => s.Step == "validate").ShouldBe(1);
        steps.Where(s => s.Step == "load").Select(s => s.Outcome).ShouldBe([StepOutcome.Failed, StepOutcome.Succeeded]);
        // The error path cleared the expanded files, so decompress runs again rather than letting load find nothing.
        steps.Count(s => s.Step == "decompress").ShouldBe(2);
        steps.Last(s => s.Step == "load").RowsOut.ShouldBe(2);
        steps.Single(s => s.Step == "archive").Outcome.ShouldBe(StepOutcome.Succeeded);
    }
}
