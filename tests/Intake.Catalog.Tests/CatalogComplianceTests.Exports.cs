using Intake.Core.Ports;

namespace Intake.Catalog.Tests;

/// <summary>The export store (requests, per-partition results, watermarks), held to the same behaviour on both databases.</summary>
public abstract partial class CatalogComplianceTests
{
    private static ExportRequestRecord Request(string key, DateTimeOffset notBefore) => new()
    {
        Pipeline = "bridge", Customer = "acme", RequestKey = key, ExportType = "daily", End = new DateTimeOffset(2026, 3, 1, 0, 0, 0, TimeSpan.Zero),
        Partitions = ["s1", "s2"], RecordIds = null, Tag = "t", NotBefore = notBefore,
    };

    [CatalogFact]
    public async Task AddExportRequest_Twice_KeepsOne_AndTheSecondGetsTheFirst()
    {
        var (first, created) = await Catalog.AddExportRequestAsync(Request("k1", Clock.GetUtcNow()), CancellationToken.None);
        var (second, createdAgain) = await Open().AddExportRequestAsync(Request("k1", Clock.GetUtcNow()) with { Tag = "other" }, CancellationToken.None);

        created.ShouldBeTrue();
        createdAgain.ShouldBeFalse();
        second.Id.ShouldBe(first.Id);
        second.Tag.ShouldBe("t");
        second.Partitions.ShouldBe(["s1", "s2"]);
        (await Catalog.ListExportRequestsAsync("bridge", "acme", 10, CancellationToken.None)).ShouldHaveSingleItem();
        (await Catalog.ListExportRequestsAsync(null, "globex", 10, CancellationToken.None)).ShouldBeEmpty();
    }

    [CatalogFact]
    public async Task ListExportRequests_BeforeAnId_GivesTheNextPageNewestFirst()
    {
        foreach (var key in new[] { "p1", "p2", "p3" })
        {
            await Catalog.AddExportRequestAsync(Request(key, Clock.GetUtcNow()), CancellationToken.None);
        }

        var first = await Catalog.ListExportRequestsAsync("bridge", "acme", null, 2, CancellationToken.None);
        var second = await Catalog.ListExportRequestsAsync("bridge", "acme", first[^1].Id, 2, CancellationToken.None);

        first.Select(r => r.RequestKey).ShouldBe(["p3", "p2"]);
        second.Select(r => r.RequestKey).ShouldBe(["p1"]);
    }

    [CatalogFact]
    public async Task DueExportRequests_AreThoseWithoutALoadWhoseTimeHasCome()
    {
        await Catalog.AddExportRequestAsync(Request("now", Clock.GetUtcNow()), CancellationToken.None);
        await Catalog.AddExportRequestAsync(Request("later", Clock.GetUtcNow().AddMinutes(5)), CancellationToken.None);
        await Catalog.AddExportRequestAsync(Request("queued", Clock.GetUtcNow()), CancellationToken.None);
        var load = await RegisterAsync("queued", pipeline: "bridge");
        await Catalog.SetExportRequestLoadAsync("bridge", "queued", load.Load.Id, CancellationToken.None);

        (await Catalog.ListDueExportRequestsAsync("bridge", Clock.GetUtcNow(), 10, CancellationToken.None)).Select(r => r.RequestKey).ShouldBe(["now"]);
        (await Catalog.ListDueExportRequestsAsync("bridge", Clock.GetUtcNow().AddMinutes(5), 10, CancellationToken.None)).Select(r => r.RequestKey).ShouldBe(["now", "later"]);
    }

    [CatalogFact]
    public async Task RecordExportPartition_AdvancesTheWatermark_NeverBackwards_AndOnlyOnSuccess()
    {
        var march = new DateTimeOffset(2026, 3, 1, 0, 0, 0, TimeSpan.Zero);
        ExportPartitionResult Result(bool ok) => new() { Pipeline = "bridge", RequestKey = "k", Partition = "s1", Succeeded = ok, Rows = 5 };

        await Catalog.RecordExportPartitionAsync(Result(true), march, CancellationToken.None);
        await Catalog.RecordExportPartitionAsync(Result(true), march.AddDays(-1), CancellationToken.None);
        await Catalog.RecordExportPartitionAsync(Result(false), null, CancellationToken.None);

        (await Catalog.GetWatermarkAsync("bridge", "s1", CancellationToken.None)).ShouldBe(march);
        (await Catalog.GetExportResultsAsync("bridge", "k", CancellationToken.None)).ShouldHaveSingleItem().Succeeded.ShouldBeFalse();
        await Should.ThrowAsync<ArgumentException>(() => Catalog.RecordExportPartitionAsync(Result(false), march, CancellationToken.None));

        (await Catalog.DeleteWatermarkAsync("bridge", "s1", CancellationToken.None)).ShouldBeTrue();
        (await Catalog.GetWatermarkAsync("bridge", "s1", CancellationToken.None)).ShouldBeNull();
        (await Catalog.DeleteWatermarkAsync("bridge", "s1", CancellationToken.None)).ShouldBeFalse();
    }
}
