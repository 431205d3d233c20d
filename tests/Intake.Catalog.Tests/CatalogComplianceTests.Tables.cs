using Intake.Core.Model;

namespace Intake.Catalog.Tests;

/// <summary>Source tables (tables_from_prefix) and the loads that name them, held to the same behaviour on both databases.</summary>
public abstract partial class CatalogComplianceTests
{
    [CatalogFact]
    public async Task RegisterTable_New_IsCreatedOnce_AndAgainReturnsTheFirstRegistration()
    {
        var first = await Catalog.RegisterTableAsync("cubic", "cubic__dmap__agg_sample", "cubic/dmap/agg_sample/", None);
        Clock.Advance(TimeSpan.FromMinutes(1));

        var again = await Open().RegisterTableAsync("cubic", "cubic__dmap__agg_sample", "cubic/DMAP/agg_sample/", None);

        first.Created.ShouldBeTrue();
        first.Table.Pipeline.ShouldBe("cubic");
        first.Table.Name.ShouldBe("cubic__dmap__agg_sample");
        first.Table.Prefix.ShouldBe("cubic/dmap/agg_sample/");
        first.Table.FirstSeenAt.ShouldBe(Clock.GetUtcNow() - TimeSpan.FromMinutes(1));
        again.Created.ShouldBeFalse();
        again.Table.ShouldBe(first.Table); // the prefix and time of the first registration; the caller tells the prefixes apart
        (await Catalog.RegisterTableAsync("other", "cubic__dmap__agg_sample", "cubic/dmap/agg_sample/", None)).Created.ShouldBeTrue(); // another pipeline's
    }

    [CatalogFact]
    public async Task RegisterTable_FromSeveralProcessesAtOnce_CreatesOneTable()
    {
        var processes = Enumerable.Range(0, 6).Select(_ => Open()).ToList();

        var results = await Task.WhenAll(processes.Select(c => Task.Run(() => c.RegisterTableAsync("cubic", "cubic__ods__t", "cubic/ods/T/", None))));

        results.Count(r => r.Created).ShouldBe(1);
        results.Select(r => r.Table.Id).Distinct().Count().ShouldBe(1);
        (await Catalog.ListTablesAsync(null, None)).Count.ShouldBe(1);
    }

    [CatalogFact]
    public async Task LoadsOfATable_CarryItsName_AreListedByIt_AndCountedOnIt()
    {
        await Catalog.RegisterTableAsync("cubic", "cubic__ods__b", "cubic/ods/B/", None);
        await Catalog.RegisterTableAsync("cubic", "cubic__ods__a", "cubic/ods/A/", None);
        await Catalog.RegisterTableAsync("cubic", "cubic__ods__empty", "cubic/ods/EMPTY/", None);
        await Catalog.RegisterTableAsync("other", "x", "x/", None);
        var a1 = (await Catalog.RegisterLoadAsync(new NewLoad("cubic", "acme", "cubic/ods/A/1.csv", "f1", 10, "cubic__ods__a"), None)).Load;
        await Catalog.RegisterLoadAsync(new NewLoad("cubic", "acme", "cubic/ods/A/2.csv", "f1", 10, "cubic__ods__a"), None);
        await Catalog.RegisterLoadAsync(new NewLoad("cubic", "acme", "cubic/ods/B/1.csv", "f1", 10, "cubic__ods__b"), None);
        var plain = (await Catalog.RegisterLoadAsync(new NewLoad("cubic", "acme", "loose.csv", "f1", 10), None)).Load;
        (await ClaimAsync()).ShouldNotBeNull().Id.ShouldBe(a1.Id);

        (await LoadAsync(a1.Id)).Table.ShouldBe("cubic__ods__a");
        (await LoadAsync(plain.Id)).Table.ShouldBeNull();
        (await Catalog.ListLoadsAsync(new LoadQuery { Table = "cubic__ods__a" }, None)).Select(l => l.SourceKey).ShouldBe(["cubic/ods/A/1.csv", "cubic/ods/A/2.csv"]);

        var tables = await Catalog.ListTablesAsync(["cubic"], None);
        tables.Select(t => t.Table.Name).ShouldBe(["cubic__ods__a", "cubic__ods__b", "cubic__ods__empty"]);
        tables[0].Loads[LoadStatus.Ingesting].ShouldBe(1);
        tables[0].Loads[LoadStatus.Ready].ShouldBe(1);
        tables[1].Loads[LoadStatus.Ready].ShouldBe(1);
        tables[2].Loads.Values.ShouldAllBe(n => n == 0);
        tables[2].Loads.Count.ShouldBe(Enum.GetValues<LoadStatus>().Length);
        (await Catalog.ListTablesAsync(null, None)).Select(t => t.Table.Pipeline).ShouldBe(["cubic", "cubic", "cubic", "other"]);
        (await Catalog.ListTablesAsync([], None)).ShouldBeEmpty();
    }
}
