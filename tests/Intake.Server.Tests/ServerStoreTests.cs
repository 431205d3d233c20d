using Intake.Catalog;
using Intake.Core.Model;
using Intake.Core.Ports;
using Intake.Server.Auth;
using Intake.Tests.Shared;

namespace Intake.Server.Tests;

/// <summary>The catalog's server ports (keys, schedule runs, pauses, newest-first pages) behave the same on SQLite and PostgreSQL.</summary>
public sealed class ServerStoreTests
{
    private static async Task<SqlCatalog> OpenAsync(string kind, TimeProvider time)
    {
        SqlCatalog catalog = kind == "sqlite"
            ? new SqliteCatalog(Path.Combine(Directory.CreateTempSubdirectory("intake-store-").FullName, "catalog.db"), time)
            : new PostgresCatalog(await TestPostgres.CreateDatabaseAsync("store"), time);
        await catalog.MigrateAsync(default);
        return catalog;
    }

    public static TheoryData<string> Kinds => TestPostgres.IsReachable ? new() { "sqlite", "postgres" } : new() { "sqlite" };

    [Theory]
    [MemberData(nameof(Kinds))]
    public async Task ApiKeys_StoreOnlyTheHash_FindAndRevoke(string kind)
    {
        await using var catalog = await OpenAsync(kind, TimeProvider.System);
        var created = await ApiKeys.CreateAsync(catalog, "acme", ApiKeyScope.Write, "job", default);
        var found = (await catalog.FindApiKeyAsync(created.Record.Id, default))!;
        found.SecretHash.ShouldNotContain(created.Key[16..]);
        ApiKeys.Matches(created.Key, found).ShouldBeTrue();
        ApiKeys.Matches(created.Key + "x", found).ShouldBeFalse();
        found.Scope.ShouldBe(ApiKeyScope.Write);
        (await catalog.RevokeApiKeyAsync(found.Id, default)).ShouldBeTrue();
        (await catalog.RevokeApiKeyAsync(found.Id, default)).ShouldBeFalse();
        (await catalog.FindApiKeyAsync(found.Id, default))!.RevokedAt.ShouldNotBeNull();
        (await catalog.ListApiKeysAsync(default)).ShouldHaveSingleItem().Name.ShouldBe("job");
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public async Task ScheduledRun_IsTakenOnce_AndPausesAreStored(string kind)
    {
        await using var catalog = await OpenAsync(kind, TimeProvider.System);
        var t = new DateTimeOffset(2026, 3, 1, 7, 0, 0, TimeSpan.Zero);
        (await catalog.TryClaimScheduledRunAsync("p", t, "a", default)).ShouldBeTrue();
        (await catalog.TryClaimScheduledRunAsync("p", t, "b", default)).ShouldBeFalse();
        (await catalog.TryClaimScheduledRunAsync("p", t.AddDays(1), "b", default)).ShouldBeTrue();
        var last = (await catalog.GetLastScheduledRunAsync("p", default))!;
        (last.ScheduledFor, last.ClaimedBy).ShouldBe((t.AddDays(1), "b"));
        (await catalog.GetLastScheduledRunAsync("q", default)).ShouldBeNull();

        await catalog.PausePipelineAsync("p", "key k", default);
        await catalog.PausePipelineAsync("p", "key other", default);
        (await catalog.GetPausedPipelinesAsync(default))["p"].PausedBy.ShouldBe("key k");
        (await catalog.ResumePipelineAsync("p", default)).ShouldBeTrue();
        (await catalog.ResumePipelineAsync("p", default)).ShouldBeFalse();
        (await catalog.GetPausedPipelinesAsync(default)).ShouldBeEmpty();
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public async Task NewestFirstPages_FilterByCustomerAndTime(string kind)
    {
        var clock = new ManualTimeProvider(new DateTimeOffset(2026, 3, 1, 0, 0, 0, TimeSpan.Zero));
        await using var catalog = await OpenAsync(kind, clock);
        var ids = new List<long>();
        for (var i = 0; i < 6; i++)
        {
            ids.Add((await catalog.RegisterLoadAsync(new NewLoad("p", i % 2 == 0 ? "acme" : "globex", $"{i}.csv", "f"), default)).Load.Id);
            clock.Advance(TimeSpan.FromHours(1));
        }

        var page = await catalog.ListLoadsAsync(new LoadQuery { NewestFirst = true, Customer = "acme", Limit = 2 }, default);
        page.Select(l => l.Id).ShouldBe([ids[4], ids[2]]);
        var next = await catalog.ListLoadsAsync(new LoadQuery { NewestFirst = true, Customer = "acme", Limit = 2, BeforeId = page[^1].Id }, default);
        next.Select(l => l.Id).ShouldBe([ids[0]]);
        var window = await catalog.ListLoadsAsync(new LoadQuery { NewestFirst = true, CreatedSince = clock.GetUtcNow().AddHours(-3), CreatedUntil = clock.GetUtcNow().AddHours(-1) }, default);
        window.Select(l => l.Id).ShouldBe([ids[4], ids[3]]);
        (await catalog.CountByPipelineAndStatusAsync(default)).ShouldBe([new LoadCount("p", LoadStatus.Ready, 6)]);
    }
}
