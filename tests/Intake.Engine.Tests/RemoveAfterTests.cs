using System.Text;
using Intake.Core.Errors;
using Intake.Core.Model;
using Intake.Core.Ports;
using Intake.Engine.Audit;
using Intake.Engine.Configuration;
using Intake.Engine.Operations;
using Intake.Engine.Runtime;
using Intake.Engine.Steps;
using Intake.Tests.Shared;
using Microsoft.Data.Sqlite;

namespace Intake.Engine.Tests;

/// <summary>
/// <c>source.remove_after</c>: once a load is final its file leaves the source folder, after its copy in the archive
/// area (archived) or the error area (errored) is verified; never a version rewritten since it was listed; and a worker
/// stopped between the copy and the delete leaves it to the next worker, which finishes it.
/// </summary>
public sealed class RemoveAfterTests : IAsyncLifetime
{
    private readonly string _dir = Directory.CreateTempSubdirectory("intake-remove-after-").FullName;
    private IntakeRuntime? _runtime;

    private string Incoming => Path.Combine(_dir, "in");

    public Task InitializeAsync()
    {
        File.WriteAllText(Path.Combine(_dir, "intake.yaml"), """
            catalog: { kind: sqlite, path: .intake/catalog.db }
            stores: { local: { kind: local, root: .intake/store } }
            warehouses: { main: { kind: sqlite, path: .intake/warehouse.db } }
            defaults:
              retry: { max_attempts: 2, base_delay: 1ms, max_delay: 5ms }
            """);
        Directory.CreateDirectory(Path.Combine(_dir, "pipelines"));
        Directory.CreateDirectory(Path.Combine(Incoming, "sub"));
        WritePipeline(removeAfter: true);
        WriteSource("sub/a.csv", "id,name\n1,a\n2,b\n");
        return Task.CompletedTask;
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

    private void WritePipeline(bool? removeAfter) => File.WriteAllText(Path.Combine(_dir, "pipelines", "p.yaml"), $$"""
        name: p
        source:
          kind: local
          path: ../in
          stable_for: 0s
        {{(removeAfter is { } r ? $"  remove_after: {(r ? "true" : "false")}" : "")}}
        steps: [fetch, archive, load]
        load: { table: rows }
        """);

    private void WriteSource(string key, string content, DateTime? modified = null)
    {
        var path = Path.Combine(Incoming, key);
        File.WriteAllText(path, content);
        File.SetLastWriteTimeUtc(path, modified ?? DateTime.UtcNow.AddMinutes(-10));
    }

    private async Task<IntakeRuntime> OpenAsync(TimeProvider? time = null)
    {
        _runtime = await IntakeRuntime.OpenAsync(ConfigLoader.Load(Path.Combine(_dir, "intake.yaml")), time);
        (await DiscoverAsync(_runtime)).New.ShouldBe(1);
        return _runtime;
    }

    private static Task<DiscoveryResult> DiscoverAsync(IntakeRuntime runtime) => new Discovery(runtime).DiscoverAsync(runtime.Pipeline("p"), default);

    private static Worker WorkerWith(IntakeRuntime runtime, string? id = null, params IStep[] replacements) =>
        new(runtime, Worker.DefaultSteps(runtime).Select(s => replacements.FirstOrDefault(r => r.Name == s.Name) ?? s), id: id);

    private static async Task<(Load Load, IReadOnlyList<StepRecord> Steps)> DrainAsync(IntakeRuntime runtime, Worker worker)
    {
        while (await worker.RunOneAsync(null, default) is not null)
        {
        }

        var load = (await runtime.Catalog.ListLoadsAsync(new LoadQuery(), default)).OrderBy(l => l.Id).First();
        return (load, await runtime.Catalog.GetStepsAsync(load.Id, default));
    }

    private List<string> SourceFiles() =>
        Directory.EnumerateFiles(Incoming, "*", SearchOption.AllDirectories).Select(p => Path.GetRelativePath(Incoming, p).Replace('\\', '/')).Order().ToList();

    [Fact]
    public async Task Archived_TheFileLeavesTheSource_AfterItsVerifiedArchiveCopy_AndIsNeverRegisteredAgain()
    {
        var runtime = await OpenAsync();

        var (load, steps) = await DrainAsync(runtime, WorkerWith(runtime));

        load.Status.ShouldBe(LoadStatus.Archived);
        steps.Select(s => s.Step).ShouldBe(["fetch", "load", "archive", "release"]);
        var release = steps.Single(s => s.Step == "release");
        release.Outcome.ShouldBe(StepOutcome.Succeeded);
        release.Message!.ShouldStartWith("deleted ");
        SourceFiles().ShouldBeEmpty();
        var archived = (await RuntimeProbes.ListAsync(runtime, Areas.Archive)).ShouldHaveSingleItem();
        var inbox = (await RuntimeProbes.ListAsync(runtime, Areas.Inbox)).ShouldHaveSingleItem();
        (archived.Size, archived.Sha256).ShouldBe((inbox.Size, inbox.Sha256));
        (await runtime.Warehouses["main"].CountRowsAsync("rows", load.Id, default)).ShouldBe(2);
        (await new Auditor(runtime).AuditLoadAsync(load, default)).Problems.ShouldBeEmpty();

        var again = await DiscoverAsync(runtime);
        (again.New, again.Seen).ShouldBe((0, 0));
    }

    [Fact]
    public async Task Errored_TheFileGoesToTheErrorArea_ThenLeavesTheSource_RecordedAsRemove()
    {
        var runtime = await OpenAsync();
        var failing = new Failing("load", IntakeException.Format("sub/a.csv: line 2 has 3 fields, the header 2"));

        var (load, steps) = await DrainAsync(runtime, WorkerWith(runtime, replacements: failing));

        load.Status.ShouldBe(LoadStatus.Errored);
        steps.Select(s => s.Step).ShouldBe(["fetch", "load", "error", "remove"]);
        steps.Single(s => s.Step == "remove").Outcome.ShouldBe(StepOutcome.Succeeded);
        SourceFiles().ShouldBeEmpty();
        (await RuntimeProbes.ListAsync(runtime, Areas.Error)).ShouldHaveSingleItem().Key.ShouldBe(load.InboxKey);
        (await RuntimeProbes.ListAsync(runtime, Areas.Archive)).ShouldBeEmpty();
        (await DiscoverAsync(runtime)).New.ShouldBe(0);
    }

    [Theory]
    [InlineData(null)]
    [InlineData(false)]
    public async Task WithoutRemoveAfter_TheFileStaysAtTheSource_AndNothingIsRecordedForIt(bool? setting)
    {
        WritePipeline(removeAfter: setting);
        var runtime = await OpenAsync();

        var (load, steps) = await DrainAsync(runtime, WorkerWith(runtime));

        load.Status.ShouldBe(LoadStatus.Archived);
        steps.Select(s => s.Step).ShouldBe(["fetch", "load", "archive"]);
        SourceFiles().ShouldBe(["sub/a.csv"]);
    }

    [Fact]
    public async Task FileRewrittenSinceItWasListed_IsLeftAtTheSource_AndIsALoadOfItsOwn()
    {
        var runtime = await OpenAsync();
        // The producer writes a new version while the first one is being archived.
        var rewrite = new After(RuntimeProbes.Real(runtime, "archive"), () => WriteSource("sub/a.csv", "id,name\n3,c\n", DateTime.UtcNow.AddMinutes(-5)));

        var (load, steps) = await DrainAsync(runtime, WorkerWith(runtime, replacements: rewrite));

        load.Status.ShouldBe(LoadStatus.Archived);
        var release = steps.Single(s => s.Step == "release");
        release.Outcome.ShouldBe(StepOutcome.Succeeded);
        release.Message!.ShouldContain("was rewritten since it was listed and is left there");
        File.ReadAllText(Path.Combine(Incoming, "sub", "a.csv")).ShouldBe("id,name\n3,c\n");

        (await DiscoverAsync(runtime)).New.ShouldBe(1);
        await DrainAsync(runtime, WorkerWith(runtime));
        SourceFiles().ShouldBeEmpty();
        (await runtime.Catalog.ListLoadsAsync(new LoadQuery(), default)).ShouldAllBe(l => l.Status == LoadStatus.Archived);
    }

    /// <summary>Where the first worker stops during <c>release</c>.</summary>
    public enum Stop
    {
        /// <summary>The archive copy is done and recorded; the file is not deleted yet.</summary>
        BeforeTheDelete,

        /// <summary>The file is deleted, but the record of it never reached the catalog.</summary>
        AfterTheDelete,
    }

    [Theory]
    [InlineData(Stop.BeforeTheDelete)]
    [InlineData(Stop.AfterTheDelete)]
    public async Task WorkerStopsBetweenCopyAndDelete_ItsLeaseExpires_AndTheNextWorkerFinishes_OneCopyNoFileLeft(Stop stop)
    {
        var time = new ManualTimeProvider(DateTimeOffset.UtcNow);
        var runtime = await OpenAsync(time);
        var frozen = new Freezes(RuntimeProbes.Real(runtime, "release"), runFirst: stop == Stop.AfterTheDelete);
        using var silenced = new CancellationTokenSource();
        var first = WorkerWith(runtime, "elsewhere:42:dead0001", frozen);
        _ = first.RunOneAsync(null, silenced.Token); // ingests, carries the load on into archiving, copies, and is never heard of again
        await frozen.Reached.Task;
        SourceFiles().ShouldBe(stop == Stop.BeforeTheDelete ? ["sub/a.csv"] : []);
        await silenced.CancelAsync(); // its lease is no longer renewed

        time.Advance(runtime.Config.Defaults.Lease + TimeSpan.FromSeconds(1));
        (await new Sweeper(runtime).SweepAsync(default)).Returned.ShouldBe(1);
        var (load, steps) = await DrainAsync(runtime, WorkerWith(runtime));

        load.Status.ShouldBe(LoadStatus.Archived);
        steps.Where(s => s.Step == "archive").ShouldHaveSingleItem().Outcome.ShouldBe(StepOutcome.Succeeded);
        var release = steps.Where(s => s.Step == "release").ToList();
        release.Select(s => (s.Attempt, s.Outcome)).ShouldBe([(1, StepOutcome.Failed), (2, StepOutcome.Succeeded)]);
        release[1].Message!.ShouldStartWith(stop == Stop.BeforeTheDelete ? "deleted " : "");
        release[1].Message!.ShouldContain(stop == Stop.BeforeTheDelete ? "after its copy to the archive area was verified" : "was already gone");
        SourceFiles().ShouldBeEmpty();
        (await RuntimeProbes.ListAsync(runtime, Areas.Archive)).ShouldHaveSingleItem();
        (await runtime.Warehouses["main"].CountRowsAsync("rows", load.Id, default)).ShouldBe(2);
        (await DiscoverAsync(runtime)).New.ShouldBe(0);
    }

    [Fact]
    public async Task ArchiveCopyMissing_TheFileStaysAtTheSource_AndTheLoadErrorsAsIntegrity()
    {
        var runtime = await OpenAsync();
        // An archive step that reports success without a copy: the release must check, not trust.
        var lying = new Lying("archive");

        var (load, steps) = await DrainAsync(runtime, WorkerWith(runtime, replacements: lying));

        steps.Single(s => s.Step == "release").ErrorKind.ShouldBe(ErrorKind.Integrity);
        load.Status.ShouldBe(LoadStatus.Errored);
        // The load ends errored: its original goes to the error area, and only then leaves the source.
        (await RuntimeProbes.ListAsync(runtime, Areas.Error)).ShouldHaveSingleItem();
        steps.Single(s => s.Step == "remove").Outcome.ShouldBe(StepOutcome.Succeeded);
        SourceFiles().ShouldBeEmpty();
    }

    [Fact]
    public void RemoveAfter_OnASourceThatCannotDelete_OrNotAFileSource_IsRefusedAtStart()
    {
        File.WriteAllText(Path.Combine(_dir, "pipelines", "p.yaml"), """
            name: p
            source: { kind: ftp, host: ftp.example.com, user: u, remove_after: true }
            steps: [fetch]
            """);
        var ftp = Should.Throw<ConfigException>(() => ConfigLoader.Load(Path.Combine(_dir, "intake.yaml")));
        ftp.Errors.ShouldContain(e => e.Key.EndsWith("remove_after", StringComparison.Ordinal) && e.Reason.Contains("source.kind: ftp cannot delete files", StringComparison.Ordinal));

        File.WriteAllText(Path.Combine(_dir, "pipelines", "p.yaml"), """
            name: p
            source: { kind: local, path: ../in, remove_after: sometimes }
            steps: [fetch]
            """);
        var word = Should.Throw<ConfigException>(() => ConfigLoader.Load(Path.Combine(_dir, "intake.yaml")));
        word.Errors.ShouldContain(e => e.Key.EndsWith("remove_after", StringComparison.Ordinal));

        File.WriteAllText(Path.Combine(_dir, "pipelines", "p.yaml"), """
            name: p
            source: { kind: local, path: ../in, remove_after: true }
            steps: [fetch, load]
            load: { table: rows }
            """);
        var noArchive = Should.Throw<ConfigException>(() => ConfigLoader.Load(Path.Combine(_dir, "intake.yaml")));
        noArchive.Errors.ShouldContain(e => e.Key.EndsWith("remove_after", StringComparison.Ordinal) && e.Reason.Contains("needs the 'archive' step", StringComparison.Ordinal));
    }

    [Fact]
    public void RemoveAfter_OnAnSftpSource_IsAccepted()
    {
        File.WriteAllText(Path.Combine(_dir, "pipelines", "p.yaml"), """
            name: p
            source: { kind: sftp, host: sftp.example.com, user: u, password: p, host_key_fingerprint: "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU", remove_after: true }
            steps: [fetch, archive]
            """);

        var config = ConfigLoader.Load(Path.Combine(_dir, "intake.yaml"));

        config.Pipelines.ShouldHaveSingleItem().Source.RemoveAfter.ShouldBeTrue();
    }

    /// <summary>A step that fails for good.</summary>
    private sealed class Failing(string name, Exception error) : IStep
    {
        public string Name => name;

        public Task<StepResult> RunAsync(StepContext context, CancellationToken cancellationToken) => throw error;
    }

    /// <summary>A step that says it succeeded and did nothing.</summary>
    private sealed class Lying(string name) : IStep
    {
        public string Name => name;

        public Task<StepResult> RunAsync(StepContext context, CancellationToken cancellationToken) => Task.FromResult(new StepResult());
    }

    /// <summary>A real step, then something else happening in the world.</summary>
    private sealed class After(IStep real, Action then) : IStep
    {
        public string Name => real.Name;

        public async Task<StepResult> RunAsync(StepContext context, CancellationToken cancellationToken)
        {
            var result = await real.RunAsync(context, cancellationToken);
            then();
            return result;
        }
    }

    /// <summary>The step of a worker killed at this point (before, or right after, the real step ran): it never returns.</summary>
    private sealed class Freezes(IStep real, bool runFirst) : IStep
    {
        public TaskCompletionSource Reached { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public string Name => real.Name;

        public async Task<StepResult> RunAsync(StepContext context, CancellationToken cancellationToken)
        {
            if (runFirst)
            {
                await real.RunAsync(context, cancellationToken);
            }

            Reached.SetResult();
            await new TaskCompletionSource().Task; // frozen for good
            throw new InvalidOperationException("unreachable");
        }
    }
}

/// <summary>Needs the S3-compatible test server (INTAKE_TEST_S3): skipped on a machine without it, failing in CI.</summary>
public sealed class S3ServerFactAttribute : FactAttribute
{
    public S3ServerFactAttribute() =>
        Skip = TestServers.SkipUnless(TestServers.Settings("INTAKE_TEST_S3").ContainsKey("url"), "s3rver is not running (INTAKE_TEST_S3; scripts/test.sh starts it)");
}

/// <summary>
/// <c>source.remove_after</c> on a bucket of the S3-compatible test server: the incoming prefix is emptied of what was
/// archived and of what errored, each object only once its copy is safe.
/// </summary>
public sealed class RemoveAfterS3Tests : IAsyncLifetime
{
    private static readonly Dictionary<string, string> S3 = TestServers.Settings("INTAKE_TEST_S3");
    private readonly string _dir = Directory.CreateTempSubdirectory("intake-remove-after-s3-").FullName;
    private readonly string _bucket = $"remove-after-{Guid.NewGuid():N}"[..40];
    private readonly HttpClient _http = new();
    private IntakeRuntime? _runtime;

    public async Task InitializeAsync()
    {
        if (!S3.TryGetValue("url", out var url))
        {
            return;
        }

        (await _http.PutAsync($"{url}/{_bucket}", null)).EnsureSuccessStatusCode(); // the test server takes unsigned requests
        File.WriteAllText(Path.Combine(_dir, "intake.yaml"), """
            catalog: { kind: sqlite, path: .intake/catalog.db }
            stores: { local: { kind: local, root: .intake/store } }
            warehouses: { main: { kind: sqlite, path: .intake/warehouse.db } }
            defaults:
              retry: { max_attempts: 2, base_delay: 1ms, max_delay: 5ms }
            """);
        Directory.CreateDirectory(Path.Combine(_dir, "pipelines"));
        File.WriteAllText(Path.Combine(_dir, "pipelines", "p.yaml"), $"""
            name: p
            source:
              kind: s3
              url: {url}
              bucket: {_bucket}
              prefix: incoming
              access_key: {S3["access_key"]}
              secret_key: {S3["secret_key"]}
              remove_after: true
            steps: [fetch, archive, load]
            load: {"{"} table: rows {"}"}
            """);
    }

    public async Task DisposeAsync()
    {
        if (_runtime is not null)
        {
            await _runtime.DisposeAsync();
        }

        _http.Dispose();
        SqliteConnection.ClearAllPools();
        Directory.Delete(_dir, recursive: true);
    }

    private async Task PutAsync(string key, string content) =>
        (await _http.PutAsync($"{S3["url"]}/{_bucket}/{key}", new StringContent(content, Encoding.UTF8))).EnsureSuccessStatusCode();

    private async Task<bool> ExistsAsync(string key)
    {
        using var response = await _http.SendAsync(new HttpRequestMessage(HttpMethod.Head, $"{S3["url"]}/{_bucket}/{key}"));
        return response.IsSuccessStatusCode;
    }

    [S3ServerFact]
    public async Task ArchivedAndErroredObjects_LeaveTheIncomingPrefix_OthersStay()
    {
        await PutAsync("incoming/t1/good.csv", "id,name\n1,a\n");
        await PutAsync("incoming/t1/bad.csv", "id,name\n2,b\n");
        await PutAsync("elsewhere/keep.csv", "id\n3\n");
        _runtime = await IntakeRuntime.OpenAsync(ConfigLoader.Load(Path.Combine(_dir, "intake.yaml")));
        (await new Discovery(_runtime).DiscoverAsync(_runtime.Pipeline("p"), default)).New.ShouldBe(2);
        var real = Worker.DefaultSteps(_runtime).Single(s => s.Name == "load");
        var worker = new Worker(_runtime, Worker.DefaultSteps(_runtime).Select(s => s.Name == "load" ? new FailsFor("bad.csv", real) : s));

        while (await worker.RunOneAsync(null, default) is not null)
        {
        }

        var loads = (await _runtime.Catalog.ListLoadsAsync(new LoadQuery(), default)).ToDictionary(l => l.SourceKey);
        loads["t1/good.csv"].Status.ShouldBe(LoadStatus.Archived);
        loads["t1/bad.csv"].Status.ShouldBe(LoadStatus.Errored);
        (await _runtime.Catalog.GetStepsAsync(loads["t1/good.csv"].Id, default)).Single(s => s.Step == "release").Message!.ShouldStartWith($"deleted s3://{_bucket}/incoming/t1/good.csv");
        (await _runtime.Catalog.GetStepsAsync(loads["t1/bad.csv"].Id, default)).Single(s => s.Step == "remove").Outcome.ShouldBe(StepOutcome.Succeeded);
        (await ExistsAsync("incoming/t1/good.csv")).ShouldBeFalse();
        (await ExistsAsync("incoming/t1/bad.csv")).ShouldBeFalse();
        (await ExistsAsync("elsewhere/keep.csv")).ShouldBeTrue();
        (await new Discovery(_runtime).DiscoverAsync(_runtime.Pipeline("p"), default)).New.ShouldBe(0);
    }

    private sealed class FailsFor(string name, IStep real) : IStep
    {
        public string Name => real.Name;

        public Task<StepResult> RunAsync(StepContext context, CancellationToken cancellationToken) =>
            context.Load.SourceKey.EndsWith(name, StringComparison.Ordinal)
                ? throw IntakeException.Format($"{context.Load.SourceKey}: line 2 is broken")
                : real.RunAsync(context, cancellationToken);
    }
}
