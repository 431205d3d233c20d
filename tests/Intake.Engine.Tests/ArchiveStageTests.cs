using System.Collections.Concurrent;
using System.IO.Compression;
using System.Text;
using Intake.Core.Errors;
using Intake.Core.Model;
using Intake.Core.Ports;
using Intake.Engine.Audit;
using Intake.Engine.Configuration;
using Intake.Engine.Operations;
using Intake.Engine.Runtime;
using Intake.Engine.SourceKinds;
using Intake.Engine.Steps;
using Intake.Sources;
using Intake.Tests.Shared;
using Microsoft.Data.Sqlite;

namespace Intake.Engine.Tests;

/// <summary>
/// The archive stage: <c>archive</c> runs while the load is <c>archiving</c>, after every ingest step, whatever its
/// place in <c>steps:</c>; then the source kind's own action at the source (<c>release</c>), here a test kind that
/// records each call. A load that errors is never archived and never released.
/// </summary>
public sealed class ArchiveStageTests : IAsyncLifetime
{
    private readonly string _dir = Directory.CreateTempSubdirectory("intake-archive-stage-").FullName;
    private readonly TidyKind _kind = new();
    private IntakeRuntime? _runtime;

    public async Task InitializeAsync()
    {
        File.WriteAllText(Path.Combine(_dir, "intake.yaml"), """
            catalog: { kind: sqlite, path: .intake/catalog.db }
            stores: { local: { kind: local, root: .intake/store } }
            warehouses: { main: { kind: sqlite, path: .intake/warehouse.db } }
            defaults:
              retry: { max_attempts: 3, base_delay: 1ms, max_delay: 5ms }
            """);
        Directory.CreateDirectory(Path.Combine(_dir, "pipelines"));
        Directory.CreateDirectory(Path.Combine(_dir, "in"));
        WritePipeline("[fetch, decompress, validate, archive, load]");
        await using var f = File.Create(Path.Combine(_dir, "in", "a.csv.gz"));
        await using var gz = new GZipStream(f, CompressionLevel.Fastest);
        await gz.WriteAsync(Encoding.UTF8.GetBytes("id,name\n1,a\n2,b\n"));
    }

    public async Task DisposeAsync()
    {
        if (_runtime is not null)
        {
            await _runtime.DisposeAsync();
        }

        SqliteConnection.ClearAllPools();
        Directory.Delete(_dir, recursive: true);
    }

    private void WritePipeline(string steps) => File.WriteAllText(Path.Combine(_dir, "pipelines", "p.yaml"), $$"""
        name: p
        source: { kind: tidy, path: ../in }
        steps: {{steps}}
        load: { table: rows }
        """);

    private async Task<IntakeRuntime> OpenAsync(TimeProvider? time = null)
    {
        _runtime = await IntakeRuntime.OpenAsync(ConfigLoader.Load(Path.Combine(_dir, "intake.yaml"), SourceKindRegistry.BuiltIn.With(_kind)), time);
        await new Discovery(_runtime).DiscoverAsync(_runtime.Pipeline("p"), default);
        return _runtime;
    }

    private static Worker WorkerWith(IntakeRuntime runtime, string? id = null, params IStep[] replacements) =>
        new(runtime, Worker.DefaultSteps(runtime).Select(s => replacements.FirstOrDefault(r => r.Name == s.Name) ?? s), id: id);

    private static async Task<(Load Load, IReadOnlyList<StepRecord> Steps)> DrainAsync(IntakeRuntime runtime, Worker worker)
    {
        while (await worker.RunOneAsync(null, default) is not null)
        {
        }

        var load = (await runtime.Catalog.ListLoadsAsync(new LoadQuery(), default)).ShouldHaveSingleItem();
        return (load, await runtime.Catalog.GetStepsAsync(load.Id, default));
    }

    private static Task<long> RowsAsync(IntakeRuntime runtime, Load load) => runtime.Warehouses["main"].CountRowsAsync("rows", load.Id, default);

    [Fact]
    public async Task ArchiveStep_RunsWhileTheLoadIsArchiving_AfterTheLoadStep_AndTheAuditAgrees()
    {
        var runtime = await OpenAsync();
        var archive = new Probe(RuntimeProbes.Real(runtime, "archive"));

        var (load, steps) = await DrainAsync(runtime, WorkerWith(runtime, replacements: archive));

        load.Status.ShouldBe(LoadStatus.Archived);
        archive.StatusesSeen.ShouldBe([LoadStatus.Archiving]);
        steps.Select(s => s.Step).ShouldBe(["fetch", "decompress", "validate", "load", "archive", "release"]);
        steps.ShouldAllBe(s => s.Outcome == StepOutcome.Succeeded);
        steps.Single(s => s.Step == "archive").Outputs.ShouldBe([$"archive:{load.InboxKey}"]);
        (await new Auditor(runtime).AuditLoadAsync(load, default)).Problems.ShouldBeEmpty();
    }

    [Fact]
    public async Task LoadStepFails_TheOriginalGoesToTheErrorAreaOnly_NeverToTheArchive_NorIsItReleased()
    {
        var runtime = await OpenAsync();
        var failingLoad = new Flaky(RuntimeProbes.Real(runtime, "load"), _ => IntakeException.Config("the table's columns do not match"));

        var (load, steps) = await DrainAsync(runtime, WorkerWith(runtime, replacements: failingLoad));

        load.Status.ShouldBe(LoadStatus.Errored);
        load.ErrorKind.ShouldBe(ErrorKind.Config);
        steps.ShouldNotContain(s => s.Step == "archive" || s.Step == "release");
        (await RuntimeProbes.ListAsync(runtime, Areas.Archive)).ShouldBeEmpty();
        (await RuntimeProbes.ListAsync(runtime, Areas.Error)).ShouldHaveSingleItem().Key.ShouldBe(load.InboxKey);
        _kind.Calls.ShouldBeEmpty();
    }

    [Fact]
    public async Task SourceKindHook_RunsOnceAfterTheArchiveCopy_WhileArchiving_RecordedAsRelease()
    {
        var runtime = await OpenAsync();

        var (load, steps) = await DrainAsync(runtime, WorkerWith(runtime));

        load.Status.ShouldBe(LoadStatus.Archived);
        var call = _kind.Calls.ShouldHaveSingleItem();
        call.LoadId.ShouldBe(load.Id);
        call.Status.ShouldBe(LoadStatus.Archiving);
        call.Archived.ShouldBeTrue(); // the original was already in the archive area
        var release = steps.Single(s => s.Step == "release");
        release.Outcome.ShouldBe(StepOutcome.Succeeded);
        release.Outputs.ShouldBe(["source:a.csv.gz"]);
        release.Id.ShouldBeGreaterThan(steps.Single(s => s.Step == "archive").Id);
    }

    [Fact]
    public async Task SourceKindHook_FailsForGood_ErrorsTheLoadWithItsKind_AndARedriveResumesThereWithoutArchivingOrLoadingAgain()
    {
        _kind.Failure = call => call == 1 ? IntakeException.Integrity("the incoming object changed since it was fetched") : null;
        var runtime = await OpenAsync();

        var (failed, _) = await DrainAsync(runtime, WorkerWith(runtime));

        failed.Status.ShouldBe(LoadStatus.Errored);
        failed.ErrorKind.ShouldBe(ErrorKind.Integrity);
        failed.ErrorMessage.ShouldBe("the incoming object changed since it was fetched");
        (await RuntimeProbes.ListAsync(runtime, Areas.Error)).ShouldHaveSingleItem();
        (await runtime.Actions.RedriveAsync(failed, default)).Done.ShouldBeTrue();

        var (load, steps) = await DrainAsync(runtime, WorkerWith(runtime));

        load.Status.ShouldBe(LoadStatus.Archived);
        steps.Where(s => s.Step == "release").Select(s => (s.Attempt, s.Outcome)).ShouldBe([(1, StepOutcome.Failed), (2, StepOutcome.Succeeded)]);
        steps.Count(s => s.Step == "archive").ShouldBe(1);
        steps.Count(s => s.Step == "load").ShouldBe(1);
        steps.Count(s => s.Step == "decompress").ShouldBe(1); // the expansion is not redone: only the archive stage was left
        (await RowsAsync(runtime, load)).ShouldBe(2);
    }

    [Fact]
    public async Task ArchiveFailsForGood_TheLoadErrorsWithItsKind_IsNotReleased_AndARedriveOnlyArchivesIt()
    {
        var runtime = await OpenAsync();
        var archive = new Flaky(RuntimeProbes.Real(runtime, "archive"), call => call == 1 ? IntakeException.Integrity("copy differs") : null);

        var (failed, steps) = await DrainAsync(runtime, WorkerWith(runtime, replacements: archive));

        failed.Status.ShouldBe(LoadStatus.Errored);
        failed.ErrorKind.ShouldBe(ErrorKind.Integrity);
        archive.Calls.ShouldBe(1);
        steps.Select(s => s.Step).ShouldBe(["fetch", "decompress", "validate", "load", "archive", "error"]);
        _kind.Calls.ShouldBeEmpty();
        (await runtime.Actions.RedriveAsync(failed, default)).Done.ShouldBeTrue();

        var (load, again) = await DrainAsync(runtime, WorkerWith(runtime, replacements: archive));

        load.Status.ShouldBe(LoadStatus.Archived);
        // The expanded files were cleared on the error path, but no ingest step is left to read them: nothing is redone.
        again.Skip(steps.Count).Select(s => (s.Step, s.Outcome)).ShouldBe([("archive", StepOutcome.Succeeded), ("release", StepOutcome.Succeeded)]);
        _kind.Calls.ShouldHaveSingleItem();
        (await RowsAsync(runtime, load)).ShouldBe(2);
    }

    [Fact]
    public async Task ArchiveListedLast_RunsTheSame()
    {
        WritePipeline("[fetch, decompress, validate, load, archive]");
        var runtime = await OpenAsync();

        var (load, steps) = await DrainAsync(runtime, WorkerWith(runtime));

        load.Status.ShouldBe(LoadStatus.Archived);
        steps.Select(s => s.Step).ShouldBe(["fetch", "decompress", "validate", "load", "archive", "release"]);
        (await RuntimeProbes.ListAsync(runtime, Areas.Archive)).ShouldHaveSingleItem();
    }

    [Fact]
    public async Task PipelineRemovedBeforeTheArchiveStage_TheLoadErrorsAsConfig_InsteadOfPassingForArchived()
    {
        var runtime = await OpenAsync();
        // Ingested, then handed back before its archive stage ran (its worker carried it on and stopped, say): the one
        // worker that ingests a load takes it on into archiving, so the catalog puts it there as the sweeper would.
        var ingested = (await runtime.Catalog.ClaimAsync(new ClaimRequest { Worker = "w0", Lease = TimeSpan.FromMinutes(5) }, default)).ShouldNotBeNull();
        (await runtime.Catalog.TransitionAsync(ingested.Id, LoadStatus.Ingesting, LoadStatus.ReadyForArchiving, new TransitionDetails { LeaseOwner = "w0" }, default)).ShouldBeTrue();
        await runtime.DisposeAsync();
        File.Move(Path.Combine(_dir, "pipelines", "p.yaml"), Path.Combine(_dir, "p.yaml.removed"));
        File.WriteAllText(Path.Combine(_dir, "pipelines", "other.yaml"), """
            name: other
            source: { kind: tidy, path: ../in }
            steps: [fetch, load]
            load: { table: other }
            """);
        _runtime = runtime = await IntakeRuntime.OpenAsync(ConfigLoader.Load(Path.Combine(_dir, "intake.yaml"), SourceKindRegistry.BuiltIn.With(_kind)));

        var (load, steps) = await DrainAsync(runtime, WorkerWith(runtime));

        load.Status.ShouldBe(LoadStatus.Errored);
        load.ErrorKind.ShouldBe(ErrorKind.Config);
        load.ErrorMessage.ShouldBe("pipeline 'p' is no longer in the configuration, so its load cannot be archived");
        steps.ShouldNotContain(s => s.Step == "archive");
    }

    public enum Stop
    {
        /// <summary>The worker's process is gone from this machine: the sweeper hands its leases back at once.</summary>
        ProcessStopped,

        /// <summary>The worker went silent elsewhere: its lease runs out and the sweeper hands the load back.</summary>
        LeaseExpired,
    }

    [Theory]
    [InlineData(Stop.ProcessStopped)]
    [InlineData(Stop.LeaseExpired)]
    public async Task WorkerStopsMidArchive_TheNextWorkerFinishesIt_OneCopyOneReleaseOneLoad(Stop stop)
    {
        var time = new ManualTimeProvider(DateTimeOffset.UtcNow);
        var runtime = await OpenAsync(time);
        // A process id no system gives out, so the sweeper finds that process stopped.
        var deadId = stop == Stop.ProcessStopped ? $"{Environment.MachineName}:{int.MaxValue}:dead0001" : "elsewhere:42:dead0001";
        var frozen = new FreezesAfterCopy();
        using var silenced = new CancellationTokenSource();
        var first = WorkerWith(runtime, deadId, frozen);
        // Ingests, carries the load on into archiving, copies, and is never heard of again.
        _ = first.RunOneAsync(null, silenced.Token);
        await frozen.Copied.Task;
        frozen.StatusAtCopy.ShouldBe(LoadStatus.Archiving, "the archive copy must not run while the load is ingesting");
        var stuck = (await runtime.Catalog.ListLoadsAsync(new LoadQuery(), default)).ShouldHaveSingleItem();
        stuck.Status.ShouldBe(LoadStatus.Archiving);
        await silenced.CancelAsync(); // its lease is no longer renewed

        if (stop == Stop.LeaseExpired)
        {
            time.Advance(runtime.Config.Defaults.Lease + TimeSpan.FromSeconds(1));
        }

        (await new Sweeper(runtime).SweepAsync(default)).Returned.ShouldBe(1);
        var (load, steps) = await DrainAsync(runtime, WorkerWith(runtime));

        load.Status.ShouldBe(LoadStatus.Archived);
        var archive = steps.Where(s => s.Step == "archive").ToList();
        archive.Select(s => (s.Attempt, s.Outcome)).ShouldBe([(1, StepOutcome.Failed), (2, StepOutcome.Succeeded)]);
        archive[0].Message.ShouldBe("interrupted: the worker stopped before the step finished");
        steps.ShouldAllBe(s => s.Outcome != StepOutcome.Running);
        steps.Count(s => s.Step == "load").ShouldBe(1);
        steps.Single(s => s.Step == "release").Outcome.ShouldBe(StepOutcome.Succeeded);
        _kind.Calls.ShouldHaveSingleItem().LoadId.ShouldBe(load.Id);
        var inbox = (await RuntimeProbes.ListAsync(runtime, Areas.Inbox)).ShouldHaveSingleItem();
        var archived = (await RuntimeProbes.ListAsync(runtime, Areas.Archive)).ShouldHaveSingleItem();
        (archived.Key, archived.Size, archived.Sha256).ShouldBe((inbox.Key, inbox.Size, inbox.Sha256));
        (await RowsAsync(runtime, load)).ShouldBe(2);
        (await new Auditor(runtime).AuditLoadAsync(load, default)).Problems.ShouldBeEmpty();
    }

    /// <summary>A real step that notes the load's status in the catalog each time it runs.</summary>
    private sealed class Probe(IStep real) : IStep
    {
        public List<LoadStatus> StatusesSeen { get; } = [];

        public string Name => real.Name;

        public async Task<StepResult> RunAsync(StepContext context, CancellationToken cancellationToken)
        {
            StatusesSeen.Add((await context.Catalog.GetLoadAsync(context.Load.Id, cancellationToken))!.Status);
            return await real.RunAsync(context, cancellationToken);
        }
    }

    /// <summary>A real step that fails on cue (the call number in, the exception to throw or null out).</summary>
    private sealed class Flaky(IStep real, Func<int, Exception?> failure) : IStep
    {
        public int Calls { get; private set; }

        public string Name => real.Name;

        public Task<StepResult> RunAsync(StepContext context, CancellationToken cancellationToken)
        {
            Calls++;
            return failure(Calls) is { } e ? throw e : real.RunAsync(context, cancellationToken);
        }
    }

    /// <summary>
    /// The archive step of a worker that is killed right after the copy is written, before its record is closed:
    /// it never returns, so nothing after the copy reaches the catalog.
    /// </summary>
    private sealed class FreezesAfterCopy : IStep
    {
        private readonly ArchiveStep _real = new();

        public TaskCompletionSource Copied { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public string Name => _real.Name;

        public LoadStatus? StatusAtCopy { get; private set; }

        public async Task<StepResult> RunAsync(StepContext context, CancellationToken cancellationToken)
        {
            StatusAtCopy = (await context.Catalog.GetLoadAsync(context.Load.Id, cancellationToken))!.Status;
            await _real.RunAsync(context, cancellationToken);
            Copied.SetResult();
            await new TaskCompletionSource().Task; // frozen for good
            throw new InvalidOperationException("unreachable");
        }
    }

    /// <summary>One call of the kind's hook, as the hook saw the load.</summary>
    public sealed record HookCall(long LoadId, LoadStatus Status, bool Archived);

    /// <summary>
    /// <c>source.kind: tidy</c>: a local folder whose kind acts at the source once a load is archived (where Cubic's
    /// kind moves the object out of its incoming bucket). This one records each call and fails on cue.
    /// </summary>
    private sealed class TidyKind : FileSourceKind<LocalDirectorySourceOptions>
    {
        private int _calls;

        public ConcurrentQueue<HookCall> Calls { get; } = new();

        public Func<int, Exception?> Failure { get; set; } = _ => null;

        public override string Name => "tidy";

        public override string Reads => "a local folder it tidies";

        public override bool ActsOnArchived => true;

        public override IFileSource CreateSource(LocalDirectorySourceOptions options, TimeProvider time) => new LocalDirectorySource(options, time);

        public override async Task<StepResult> OnArchivedAsync(StepContext context, CancellationToken cancellationToken)
        {
            if (Failure(Interlocked.Increment(ref _calls)) is { } e)
            {
                throw e;
            }

            var status = (await context.Catalog.GetLoadAsync(context.Load.Id, cancellationToken))!.Status;
            var archived = await context.Store.StatAsync(Areas.Archive, context.InboxKey, cancellationToken) is not null;
            Calls.Enqueue(new HookCall(context.Load.Id, status, archived));
            return new StepResult { Outputs = [$"source:{context.Load.SourceKey}"] };
        }

        protected override LocalDirectorySourceOptions Read(SourceReading reading) =>
            new() { Directory = reading.ResolvePath(reading.Source.String("path", required: true)!), StableFor = TimeSpan.Zero };

        protected override string Location(LocalDirectorySourceOptions options) => options.Directory;
    }
}
