namespace Intake.Catalog.Tests;

/// <summary>Named leases (the exporter's partition lock), held to the same behaviour on both databases.</summary>
public abstract partial class CatalogComplianceTests
{
    private static readonly TimeSpan LockLease = TimeSpan.FromMinutes(2);

    [CatalogFact]
    public async Task Lock_HeldByOneOwner_IsRefusedToAnother_UntilReleased()
    {
        var other = Open();

        (await Catalog.TryAcquireLockAsync("export:bridge:s1", "load:1", LockLease, CancellationToken.None)).ShouldBeTrue();
        (await other.TryAcquireLockAsync("export:bridge:s1", "load:2", LockLease, CancellationToken.None)).ShouldBeFalse();
        (await other.TryAcquireLockAsync("export:bridge:s2", "load:2", LockLease, CancellationToken.None)).ShouldBeTrue(); // another name
        (await Catalog.TryAcquireLockAsync("export:bridge:s1", "load:1", LockLease, CancellationToken.None)).ShouldBeTrue(); // renewal

        await other.ReleaseLockAsync("export:bridge:s1", "load:2", CancellationToken.None); // not its lock: no effect
        (await other.TryAcquireLockAsync("export:bridge:s1", "load:2", LockLease, CancellationToken.None)).ShouldBeFalse();

        await Catalog.ReleaseLockAsync("export:bridge:s1", "load:1", CancellationToken.None);
        (await other.TryAcquireLockAsync("export:bridge:s1", "load:2", LockLease, CancellationToken.None)).ShouldBeTrue();
    }

    [CatalogFact]
    public async Task Lock_WhoseHolderStoppedRenewing_IsTakenOverWhenItsLeaseRunsOut()
    {
        (await Catalog.TryAcquireLockAsync("export:bridge:s1", "load:1", LockLease, CancellationToken.None)).ShouldBeTrue();

        Clock.Advance(LockLease - TimeSpan.FromSeconds(1));
        (await Catalog.TryAcquireLockAsync("export:bridge:s1", "load:2", LockLease, CancellationToken.None)).ShouldBeFalse();

        Clock.Advance(TimeSpan.FromSeconds(2));
        (await Catalog.TryAcquireLockAsync("export:bridge:s1", "load:2", LockLease, CancellationToken.None)).ShouldBeTrue();
        (await Catalog.TryAcquireLockAsync("export:bridge:s1", "load:1", LockLease, CancellationToken.None)).ShouldBeFalse();
    }

    [CatalogFact]
    public async Task Lock_SoughtByManyAtOnce_GoesToExactlyOne()
    {
        var catalogs = Enumerable.Range(0, 8).Select(_ => Open()).ToList();

        var won = await Task.WhenAll(catalogs.Select((c, i) => Task.Run(() => c.TryAcquireLockAsync("export:bridge:s1", $"load:{i}", LockLease, CancellationToken.None))));

        won.Count(w => w).ShouldBe(1);
    }
}
