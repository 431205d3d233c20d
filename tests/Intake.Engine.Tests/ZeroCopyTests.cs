using System.Runtime.Versioning;
using Intake.Core.Model;
using Intake.Core.Ports;
using Intake.Engine.Audit;
using Intake.Engine.Configuration;
using Intake.Engine.Operations;
using Intake.Engine.Runtime;
using Intake.Engine.Steps;
using Intake.Engine.Tests.Support;
using Intake.Storage;
using Intake.Tests.Shared;
using Microsoft.Data.Sqlite;

namespace Intake.Engine.Tests;

/// <summary>
/// Zero copy through a whole load on one file system (local folder, local store): the fetch hard-links the source
/// file only when it leaves the source afterwards (<c>remove_after</c>), otherwise copies it (or clones it where the
/// file system can); the archive links the read-only original; the SHA-256 is computed once for the whole load; and a
/// worker killed between the link and its record leaves a load the next worker finishes once.
/// </summary>
[UnsupportedOSPlatform("windows")]
public sealed class ZeroCopyTests : IAsyncLifetime
{
    private const string Content = "id,name\n1,a\n2,\"b, with ü\"\n";
    private readonly string _dir = Directory.CreateTempSubdirectory("intake-zero-copy-").FullName;
    private IntakeRuntime? _runtime;

    private string Source => Path.Combine(_dir, "in", "a.csv");

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
        Directory.CreateDirectory(Path.Combine(_dir, "in"));
        File.WriteAllText(Source, Content);
        File.SetLastWriteTimeUtc(Source, DateTime.UtcNow.AddMinutes(-10));
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

    private async Task<IntakeRuntime> OpenAsync(bool removeAfter, TimeProvider? time = null)
    {
        File.WriteAllText(Path.Combine(_dir, "pipelines", "p.yaml"), $$"""
            name: p
            source:
              kind: local
              path: ../in
              stable_for: 0s
              remove_after: {{(removeAfter ? "true" : "false")}}
            steps: [fetch, validate, archive, load]
            load: { table: rows }
            """);
        _runtime = await IntakeRuntime.OpenAsync(ConfigLoader.Load(Path.Combine(_dir, "intake.yaml")), time);
        (await new Discovery(_runtime).DiscoverAsync(_runtime.Pipeline("p"), default)).New.ShouldBe(1);
        return _runtime;
    }

    private static LocalDirectoryStore Store(IntakeRuntime runtime) => (LocalDirectoryStore)runtime.StoreFor(runtime.Pipeline("p"));

    private static (ulong, ulong) Inode(string path)
    {
        using var handle = File.OpenHandle(path);
        return FileLinks.Identity(handle)!.Value;
    }

    private static async Task<(Load Load, IReadOnlyList<StepRecord> Steps)> DrainAsync(IntakeRuntime runtime, Worker worker)
    {
        while (await worker.RunOneAsync(null, default) is not null)
        {
        }

        var load = (await runtime.Catalog.ListLoadsAsync(new LoadQuery(), default)).ShouldHaveSingleItem();
        return (load, await runtime.Catalog.GetStepsAsync(load.Id, default));
    }

    [Fact]
    public async Task RemoveAfter_TheFetchHardLinksTheSourceFile_TheArchiveLinksTheOriginal_AndTheSha256IsComputedOnce()
    {
        if (!OperatingSystem.IsLinux())
        {
            return; // links and inodes: Linux
        }

        var runtime = await OpenAsync(removeAfter: true);
        var store = Store(runtime);
        var sourceInode = Inode(Source);
        var passes = store.HashPasses;

        var (load, steps) = await DrainAsync(runtime, new Worker(runtime));
        var audit = await new Auditor(runtime).AuditLoadAsync(load, default);

        load.Status.ShouldBe(LoadStatus.Archived);
        steps.Single(s => s.Step == "fetch").Message!.ShouldStartWith("hard-linked from the source");
        steps.Single(s => s.Step == "archive").Message.ShouldBe("hard-linked to the inbox original (same file, no copy)");
        var inbox = store.Describe(Areas.Inbox, load.InboxKey!);
        var archive = store.Describe(Areas.Archive, load.InboxKey!);
        Inode(inbox).ShouldBe(sourceInode);
        Inode(archive).ShouldBe(sourceInode);
        File.GetUnixFileMode(inbox).ShouldBe(UnixFileMode.UserRead | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        File.Exists(Source).ShouldBeFalse(); // released: the folder no longer holds it, the inbox does
        (await runtime.Warehouses["main"].CountRowsAsync("rows", load.Id, default)).ShouldBe(2);
        audit.Problems.ShouldBeEmpty();
        // fetch, validate, archive, load, release and the audit: one pass over the bytes to hash them, at the fetch.
        (store.HashPasses - passes).ShouldBe(1);
        steps.Single(s => s.Step == "fetch").Message!.ShouldEndWith("SHA-256 " + (await store.StatAsync(Areas.Inbox, load.InboxKey!, default))!.Sha256);
    }

    [Fact]
    public async Task WithoutRemoveAfter_AWritableSourceIsNotHardLinked_SoEditingItLaterLeavesTheInboxAsFetched()
    {
        if (!OperatingSystem.IsLinux())
        {
            return;
        }

        var runtime = await OpenAsync(removeAfter: false);
        var store = Store(runtime);
        var mode = File.GetUnixFileMode(Source);
        var passes = store.HashPasses;

        var (load, steps) = await DrainAsync(runtime, new Worker(runtime));

        load.Status.ShouldBe(LoadStatus.Archived);
        steps.Single(s => s.Step == "fetch").Message!.ShouldNotStartWith("hard-linked");
        var inbox = store.Describe(Areas.Inbox, load.InboxKey!);
        Inode(inbox).ShouldNotBe(Inode(Source));
        File.GetUnixFileMode(Source).ShouldBe(mode);
        Inode(store.Describe(Areas.Archive, load.InboxKey!)).ShouldBe(Inode(inbox)); // the original is read-only: linked all the same
        (store.HashPasses - passes).ShouldBe(1);

        File.AppendAllText(Source, "3,c\n"); // the producer edits its file in place
        File.ReadAllText(inbox).ShouldBe(Content);
    }

    [Fact]
    public async Task WorkerKilledBetweenTheLinkAndItsRecord_TheNextWorkerKeepsTheLinkedOriginal_OneLoadOneCopy()
    {
        if (!OperatingSystem.IsLinux())
        {
            return;
        }

        var time = new ManualTimeProvider(DateTimeOffset.UtcNow);
        var runtime = await OpenAsync(removeAfter: true, time);
        var store = Store(runtime);
        var sourceInode = Inode(Source);
        var frozen = new Freezes(RuntimeProbes.Real(runtime, "fetch"));
        using var silenced = new CancellationTokenSource();
        var first = new Worker(runtime, Worker.DefaultSteps(runtime).Select(s => s.Name == "fetch" ? frozen : s), id: "elsewhere:42:dead0001");
        _ = first.RunOneAsync(null, silenced.Token); // links the file into the inbox, and is never heard of again
        await frozen.Reached.Task;
        await silenced.CancelAsync();
        var passes = store.HashPasses;

        time.Advance(runtime.Config.Defaults.Lease + TimeSpan.FromSeconds(1));
        (await new Sweeper(runtime).SweepAsync(default)).Returned.ShouldBe(1);
        var (load, steps) = await DrainAsync(runtime, new Worker(runtime));

        load.Status.ShouldBe(LoadStatus.Archived);
        var fetches = steps.Where(s => s.Step == "fetch").ToList();
        fetches.Select(s => s.Outcome).ShouldBe([StepOutcome.Failed, StepOutcome.Succeeded]);
        fetches[1].Message!.ShouldStartWith("kept the original an earlier attempt put in the inbox");
        Inode(store.Describe(Areas.Inbox, load.InboxKey!)).ShouldBe(sourceInode);
        (await RuntimeProbes.ListAsync(runtime, Areas.Inbox)).ShouldHaveSingleItem();
        (await RuntimeProbes.ListAsync(runtime, Areas.Archive)).ShouldHaveSingleItem();
        Directory.EnumerateFiles(Path.Combine(store.RootDirectory, ".tmp")).ShouldBeEmpty();
        (await runtime.Warehouses["main"].CountRowsAsync("rows", load.Id, default)).ShouldBe(2);
        (store.HashPasses - passes).ShouldBe(0); // the recorded SHA-256 of the first attempt is reused
    }

    /// <summary>The real step, then the worker is killed: it never returns.</summary>
    private sealed class Freezes(IStep real) : IStep
    {
        public TaskCompletionSource Reached { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public string Name => real.Name;

        public async Task<StepResult> RunAsync(StepContext context, CancellationToken cancellationToken)
        {
            await real.RunAsync(context, cancellationToken);
            Reached.SetResult();
            await new TaskCompletionSource().Task; // frozen for good
            throw new InvalidOperationException("unreachable");
        }
    }
}
