using Intake.Core.Model;

namespace Intake.Catalog.Tests;

/// <summary>Discovery's registration of one listing's files: one commit, each file as the single registration treats it.</summary>
public abstract partial class CatalogComplianceTests
{
    [CatalogFact]
    public async Task RegisterLoads_InTheirOrder_AKnownFileAndOneTwiceInTheBatchAreSeenAndFailNothing()
    {
        var known = (await RegisterAsync("a.csv")).Load;

        var results = await Catalog.RegisterLoadsAsync(
        [
            new NewLoad("orders", "acme", "b.csv", "f1", 100), new NewLoad("orders", "acme", "a.csv", "f1", 100),
            new NewLoad("orders", "acme", "c.csv", "f1", 100) { InboxKey = "acme/x/c.csv" }, new NewLoad("orders", "acme", "b.csv", "f1", 100),
            new NewLoad("orders", "acme", "a.csv", "f2", 100),
        ], None);

        results.Select(r => (r.Load.SourceKey, r.Load.Fingerprint, r.Created)).ShouldBe(
            [("b.csv", "f1", true), ("a.csv", "f1", false), ("c.csv", "f1", true), ("b.csv", "f1", false), ("a.csv", "f2", true)]);
        results[1].Load.Id.ShouldBe(known.Id);
        results[3].Load.Id.ShouldBe(results[0].Load.Id);
        results[0].Load.Id.ShouldBeLessThan(results[2].Load.Id); // the listing's order is the claim's order
        results[2].Load.Id.ShouldBeLessThan(results[4].Load.Id);
        (await LoadAsync(results[2].Load.Id)).ShouldBe(results[2].Load);
        results[2].Load.InboxKey.ShouldBe("acme/x/c.csv");
        (await Catalog.ListLoadsAsync(new LoadQuery(), None)).Select(l => (l.SourceKey, l.Fingerprint, l.Status)).ShouldBe(
            [("a.csv", "f1", LoadStatus.Ready), ("b.csv", "f1", LoadStatus.Ready), ("c.csv", "f1", LoadStatus.Ready), ("a.csv", "f2", LoadStatus.Ready)]);
    }

    [CatalogFact]
    public async Task RegisterLoads_AnInvalidLoad_RegistersNoneOfTheBatch()
    {
        await Should.ThrowAsync<ArgumentException>(() => Catalog.RegisterLoadsAsync(
            [new NewLoad("orders", "acme", "b.csv", "f1", 100), new NewLoad("orders", "acme", " ", "f1", 100)], None));

        (await Catalog.ListLoadsAsync(new LoadQuery(), None)).ShouldBeEmpty();
        (await Catalog.RegisterLoadsAsync([], None)).ShouldBeEmpty();
    }
}
