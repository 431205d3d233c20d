using Intake.Core.Model;
using Intake.Tests.Shared;

namespace Intake.Catalog.Tests;

/// <summary>The compliance suite on a fresh SQLite file per test.</summary>
public sealed class SqliteCatalogTests : CatalogComplianceTests
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), $"intake-catalog-{Guid.NewGuid():N}");

    // A subdirectory that does not exist yet: the catalog creates it.
    protected override Task CreateDatabaseAsync() => Task.CompletedTask;

    protected override SqlCatalog OpenCatalog(TimeProvider time) => new SqliteCatalog(Path.Combine(_directory, "sub", "catalog.db"), time);

    protected override Task DropDatabaseAsync()
    {
        Directory.Delete(_directory, recursive: true);
        return Task.CompletedTask;
    }
}

/// <summary>Which commits wait for the disk: the worker's hot path does not, registrations and final statuses do (docs/performance.md).</summary>
public sealed class SqliteCatalogDurabilityTests : IAsyncLifetime
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), $"intake-catalog-{Guid.NewGuid():N}");
    private SqliteCatalog _catalog = null!;

    public async Task InitializeAsync()
    {
        _catalog = new SqliteCatalog(Path.Combine(_directory, "catalog.db"), TimeProvider.System);
        await _catalog.MigrateAsync(CancellationToken.None);
    }

    public async Task DisposeAsync()
    {
        await _catalog.DisposeAsync();
        Directory.Delete(_directory, recursive: true);
    }

    [Fact]
    public async Task HotPathConnections_CommitWithoutWaitingForTheDisk_DurableOnesWaitEvenAfterTheSameConnectionWasRelaxed()
    {
        // 1 = NORMAL (in WAL mode: no fsync per commit, nothing committed is lost when the process is killed), 2 = FULL.
        (await _catalog.SynchronousLevelAsync(relaxed: true, CancellationToken.None)).ShouldBe(1L);
        // The pool hands back the connection just used relaxed: a durable call must not inherit NORMAL from it.
        (await _catalog.SynchronousLevelAsync(relaxed: false, CancellationToken.None)).ShouldBe(2L);
        (await _catalog.SynchronousLevelAsync(relaxed: true, CancellationToken.None)).ShouldBe(1L);
    }

    [Fact]
    public async Task PooledConnections_AreSetUpOnce_NotOnEveryCall_AndKeepTheirDurability()
    {
        var before = _catalog.PragmaRuns;
        for (var i = 0; i < 10; i++)
        {
            // The worker's calls alternate so: a relaxed step record, a durable history read or final status.
            (await _catalog.SynchronousLevelAsync(relaxed: true, CancellationToken.None)).ShouldBe(1L);
            (await _catalog.SynchronousLevelAsync(relaxed: false, CancellationToken.None)).ShouldBe(2L);
        }

        // One connection of each kind serves these one after the other: each is set up the first time only.
        (_catalog.PragmaRuns - before).ShouldBeLessThanOrEqualTo(2);
    }
}

/// <summary>Many threads of one process on one catalog file, as a process's workers, sweeper and server are (issue 15).</summary>
public sealed class SqliteCatalogConcurrencyTests : IAsyncLifetime
{
    private static readonly CancellationToken None = CancellationToken.None;
    private readonly string _directory = Path.Combine(Path.GetTempPath(), $"intake-catalog-{Guid.NewGuid():N}");
    private string DatabasePath => Path.Combine(_directory, "catalog.db");

    public Task InitializeAsync() => Task.CompletedTask;

    public Task DisposeAsync()
    {
        Directory.Delete(_directory, recursive: true);
        return Task.CompletedTask;
    }

    [Fact]
    public async Task ManyThreadsOnOneCatalog_WithNoBusyTimeout_EveryLoadIsDoneOnce_AndNoCallFailsAsBusy()
    {
        // Busy timeout 0: a statement that finds another connection writing fails at once in SQLite (Microsoft.Data.Sqlite
        // then retries it every 150 ms for a second). Threads of one process must queue for each other instead: none may
        // see the file busy, however many write at once.
        await using var catalog = new SqliteCatalog(DatabasePath, TimeProvider.System, busyTimeout: TimeSpan.Zero);
        await catalog.MigrateAsync(None);
        const int loads = 120, threads = 8;
        await Task.WhenAll(Enumerable.Range(0, threads).Select(t => Task.Run(async () =>
        {
            for (var i = t; i < loads; i += threads)
            {
                (await catalog.RegisterLoadAsync(new NewLoad("p", "c", $"file-{i:D4}.csv", "f1", 10), None)).Created.ShouldBeTrue();
            }
        })));

        var done = new System.Collections.Concurrent.ConcurrentBag<long>();
        await Task.WhenAll(Enumerable.Range(0, threads).Select(t => Task.Run(async () =>
        {
            var worker = $"w{t}";
            while (await catalog.ClaimAsync(new ClaimRequest { Worker = worker, Lease = TimeSpan.FromMinutes(5) }, None) is { } load)
            {
                var fetch = await catalog.StartStepAsync(load.Id, "fetch", 1, worker, None);
                var next = await catalog.FinishAndStartStepAsync(fetch, new StepResult { BytesIn = 10 },
                    new NextStep { LoadId = load.Id, Step = "load", Attempt = 1, Worker = worker }, None);
                await catalog.FinishStepAsync(next!.Value, new StepResult { RowsOut = 1 }, None);
                (await catalog.HeartbeatAsync(load.Id, worker, TimeSpan.FromMinutes(5), None)).ShouldBeTrue();
                await ArchiveAsync(catalog, load.Id);
                (await catalog.GetLoadAsync(load.Id, None))!.Status.ShouldBe(LoadStatus.Archived);
                done.Add(load.Id);
            }
        })));

        done.Count.ShouldBe(loads);
        done.Distinct().Count().ShouldBe(loads);
        (await catalog.CountByStatusAsync(null, None))[LoadStatus.Archived].ShouldBe(loads);
        foreach (var id in done)
        {
            (await catalog.GetStepsAsync(id, None)).Select(s => (s.Step, s.Outcome)).ShouldBe([("fetch", StepOutcome.Succeeded), ("load", StepOutcome.Succeeded)]);
        }
    }

    [Fact]
    public async Task HotPathCalls_ParseTheirStatementsOnce_NotOnEveryLoad()
    {
        await using var catalog = new SqliteCatalog(DatabasePath, TimeProvider.System);
        await catalog.MigrateAsync(None);
        await RunOneLoadAsync(catalog, 0);
        var afterFirst = catalog.StatementsPrepared;
        afterFirst.ShouldBeGreaterThan(0);
        for (var i = 1; i <= 20; i++)
        {
            await RunOneLoadAsync(catalog, i);
        }

        // Each call ran on a connection that had run the same statement before: none was parsed again.
        catalog.StatementsPrepared.ShouldBe(afterFirst);
    }

    [Fact]
    public async Task AfterDispose_NoFileOfTheCatalogIsStillOpen_SoItCanBeMovedOrDeleted()
    {
        var catalog = new SqliteCatalog(DatabasePath, TimeProvider.System);
        await catalog.MigrateAsync(None);
        await Task.WhenAll(Enumerable.Range(0, 4).Select(i => RunOneLoadAsync(catalog, i)));
        OpenFiles.Under(_directory).ShouldNotBeEmpty(); // kept connections, with their prepared statements
        await catalog.DisposeAsync();
        OpenFiles.Under(_directory).ShouldBeEmpty();

        // A call after dispose still works, and leaves nothing open either.
        await using (var again = new SqliteCatalog(DatabasePath, TimeProvider.System))
        {
            (await again.GetLoadAsync(1, None)).ShouldNotBeNull();
        }

        OpenFiles.Under(_directory).ShouldBeEmpty();
        File.Move(DatabasePath, DatabasePath + ".moved");
    }

    private static async Task RunOneLoadAsync(SqliteCatalog catalog, int i)
    {
        var load = (await catalog.RegisterLoadAsync(new NewLoad("p", "c", $"file-{i:D4}.csv", "f1", 10), None)).Load;
        (await catalog.ClaimAsync(new ClaimRequest { Worker = "w", Lease = TimeSpan.FromMinutes(5), Pipelines = ["p"] }, None)).ShouldNotBeNull();
        var fetch = await catalog.StartStepAsync(load.Id, "fetch", 1, "w", None);
        var next = await catalog.FinishAndStartStepAsync(fetch, new StepResult(), new NextStep { LoadId = load.Id, Step = "load", Attempt = 1, Worker = "w" }, None);
        await catalog.FinishStepAsync(next!.Value, new StepResult(), None);
        await ArchiveAsync(catalog, load.Id);
        (await catalog.GetStepsAsync(load.Id, None)).Count.ShouldBe(2);
    }

    /// <summary>The moves after the ingest stage: two relaxed ones, and the durable final one.</summary>
    private static async Task ArchiveAsync(SqliteCatalog catalog, long id)
    {
        (await catalog.TransitionAsync(id, LoadStatus.Ingesting, LoadStatus.ReadyForArchiving, null, None)).ShouldBeTrue();
        (await catalog.TransitionAsync(id, LoadStatus.ReadyForArchiving, LoadStatus.Archiving, null, None)).ShouldBeTrue();
        (await catalog.TransitionAsync(id, LoadStatus.Archiving, LoadStatus.Archived, null, None)).ShouldBeTrue();
    }
}
