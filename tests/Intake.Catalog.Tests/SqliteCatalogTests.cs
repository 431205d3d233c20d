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
