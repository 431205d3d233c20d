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

    [CatalogFact]
    public async Task RegisterLoads_TwoFilesProposingOneInboxKey_EachGetsAKeyOfItsOwn_InABatchAndAcrossProcesses()
    {
        // x/a.csv and y/a.csv registered in the same second render the same key from a template without {load}.
        var results = await Catalog.RegisterLoadsAsync(
        [
            new NewLoad("orders", "acme", "x/a.csv", "f1", 100) { ProposedInboxKey = "acme/20260301_080000/a.csv" },
            new NewLoad("orders", "acme", "y/a.csv", "f1", 100) { ProposedInboxKey = "acme/20260301_080000/a.csv" },
        ], None);
        var again = await Open().RegisterLoadAsync(new NewLoad("invoices", "acme", "a.csv", "f1", 100) { ProposedInboxKey = "acme/20260301_080000/a.csv" }, None);
        var seen = await Catalog.RegisterLoadAsync(new NewLoad("orders", "acme", "y/a.csv", "f1", 100) { ProposedInboxKey = "acme/20260301_090000/a.csv" }, None);

        var (x, y, z) = (results[0].Load, results[1].Load, again.Load);
        x.InboxKey.ShouldBe("acme/20260301_080000/a.csv");
        y.InboxKey.ShouldBe($"acme/20260301_080000/{y.Id}/a.csv");
        z.InboxKey.ShouldBe($"acme/20260301_080000/{z.Id}/a.csv");
        foreach (var load in new[] { x, y, z })
        {
            (await LoadAsync(load.Id)).InboxKey.ShouldBe(load.InboxKey); // recorded, not only returned
        }

        (seen.Created, seen.Load.InboxKey).ShouldBe((false, y.InboxKey)); // a known file keeps the key it has
    }

    [CatalogFact]
    public async Task RegisterLoad_AProposedKeyAnEarlierOriginalHas_IsNotGivenAgain_EvenWhenTheTemplateHasNoTime()
    {
        // A template like {type}/{name}: the same name on another day must not land on yesterday's original.
        var yesterday = await Catalog.RegisterLoadAsync(new NewLoad("orders", "acme", "export.csv", "day1", 100) { ProposedInboxKey = "orders/export.csv" }, None);
        var today = await Catalog.RegisterLoadAsync(new NewLoad("orders", "acme", "export.csv", "day2", 100) { ProposedInboxKey = "orders/export.csv" }, None);
        var literal = await Catalog.RegisterLoadAsync(new NewLoad("orders", "acme", $"{today.Load.Id + 1}/export.csv", "f", 100) { ProposedInboxKey = $"orders/{today.Load.Id + 2}/export.csv" }, None);
        var third = await Catalog.RegisterLoadAsync(new NewLoad("orders", "acme", "export.csv", "day3", 100) { ProposedInboxKey = "orders/export.csv" }, None);

        yesterday.Load.InboxKey.ShouldBe("orders/export.csv");
        today.Load.InboxKey.ShouldBe($"orders/{today.Load.Id}/export.csv");
        literal.Load.InboxKey.ShouldBe($"orders/{third.Load.Id}/export.csv"); // a template happened to render it first
        third.Load.InboxKey.ShouldBe($"orders/{third.Load.Id}-2/export.csv");
        Should.Throw<ArgumentException>(() => Catalog.RegisterLoadAsync(new NewLoad("m", "acme", "k", "f") { InboxKey = "a", ProposedInboxKey = "b" }, None));
    }
}
