using Intake.Core.Errors;
using Intake.Core.Model;
using Intake.Core.Ports;

namespace Intake.Catalog.Tests;

/// <summary>
/// What the operator UI reads: the load list's error kind filter and source key search, and the aggregates (counts,
/// activity, rows per hour, error groups), which come from rollups that must agree with the loads and step records
/// after anything the workers and operators do.
/// </summary>
public abstract partial class CatalogComplianceTests
{
    private async Task<long> ErroredAsync(string key, ErrorKind kind, string message, string pipeline = "orders", string customer = "acme")
    {
        var id = (await RegisterAsync(key, pipeline: pipeline, customer: customer)).Load.Id;
        (await ClaimAsync(pipelines: [pipeline])).ShouldNotBeNull().Id.ShouldBe(id);
        var step = await Catalog.StartStepAsync(id, "load", 1, "w1", None);
        await Catalog.FinishStepAsync(step, StepResult.Failed(kind, message), None);
        (await Catalog.TransitionAsync(id, LoadStatus.Ingesting, LoadStatus.ReadyForErroring, new TransitionDetails { ErrorKind = kind, ErrorMessage = message }, None)).ShouldBeTrue();
        (await ClaimAsync(from: LoadStatus.ReadyForErroring, pipelines: [pipeline])).ShouldNotBeNull().Id.ShouldBe(id);
        (await Catalog.TransitionAsync(id, LoadStatus.Erroring, LoadStatus.Errored, null, None)).ShouldBeTrue();
        return id;
    }

    /// <summary>Registers a load and carries it to archived, its load step writing <paramref name="rows"/> rows of <paramref name="bytes"/> bytes.</summary>
    private async Task<long> ArchivedAsync(string key, long rows, long bytes, string pipeline = "orders", string customer = "acme", string step = "load")
    {
        var id = (await RegisterAsync(key, pipeline: pipeline, customer: customer)).Load.Id;
        (await ClaimAsync(pipelines: [pipeline])).ShouldNotBeNull().Id.ShouldBe(id);
        var fetch = await Catalog.StartStepAsync(id, "fetch", 1, "w1", None);
        await Catalog.FinishStepAsync(fetch, new StepResult { BytesIn = 7, BytesOut = 7 }, None);
        var load = await Catalog.StartStepAsync(id, step, 1, "w1", None);
        await Catalog.FinishStepAsync(load, new StepResult { RowsIn = rows, RowsOut = rows, BytesIn = bytes }, None);
        (await Catalog.TransitionAsync(id, LoadStatus.Ingesting, LoadStatus.ReadyForArchiving, null, None)).ShouldBeTrue();
        (await ClaimAsync(from: LoadStatus.ReadyForArchiving, pipelines: [pipeline])).ShouldNotBeNull().Id.ShouldBe(id);
        (await Catalog.TransitionAsync(id, LoadStatus.Archiving, LoadStatus.Archived, null, None)).ShouldBeTrue();
        return id;
    }

    private async Task<long[]> IdsAsync(LoadQuery query) => (await Catalog.ListLoadsAsync(query, None)).Select(l => l.Id).ToArray();

    // ---- the load list ----

    [CatalogFact]
    public async Task ListLoads_ByErrorKind_FindsOnlyLoadsWithThatKind_NewestFirst()
    {
        var format1 = await ErroredAsync("a.csv", ErrorKind.Format, "not a gzip file");
        var schema = await ErroredAsync("b.csv", ErrorKind.Schema, "column 3 is not a number");
        var format2 = await ErroredAsync("c.csv", ErrorKind.Format, "bad quote", pipeline: "invoices", customer: "globex");
        await RegisterAsync("d.csv");

        (await IdsAsync(new LoadQuery { ErrorKind = ErrorKind.Format, NewestFirst = true })).ShouldBe([format2, format1]);
        (await IdsAsync(new LoadQuery { ErrorKind = ErrorKind.Format, Customer = "acme" })).ShouldBe([format1]);
        (await IdsAsync(new LoadQuery { ErrorKind = ErrorKind.Schema, Status = LoadStatus.Errored, Pipeline = "orders" })).ShouldBe([schema]);
        (await IdsAsync(new LoadQuery { ErrorKind = ErrorKind.Security })).ShouldBeEmpty();
    }

    [CatalogFact]
    public async Task ListLoads_ByCreatedAt_PagedThroughAWindow_GivesEveryLoadOnceInCreationOrder_LoadsSharingATimeIncluded()
    {
        var start = Clock.GetUtcNow();
        await RegisterAsync("before-the-window.csv");
        Clock.Advance(TimeSpan.FromMinutes(1));
        var expected = new List<(DateTimeOffset At, long Id, string Customer)>();
        for (var i = 0; i < 11; i++)
        {
            // three loads in each millisecond: the id orders them within it
            if (i % 3 == 0)
            {
                Clock.Advance(TimeSpan.FromMilliseconds(7));
            }

            var customer = i % 4 == 0 ? "globex" : "acme";
            var load = (await RegisterAsync($"w/{i:00}.csv", customer: customer)).Load;
            expected.Add((load.CreatedAt, load.Id, customer));
        }

        // A load registered last by a server whose clock runs behind: by creation it comes first in the window.
        Clock.Set(start + TimeSpan.FromMinutes(1) + TimeSpan.FromMilliseconds(1));
        var late = (await RegisterAsync("w/late.csv")).Load;
        expected.Add((late.CreatedAt, late.Id, "acme"));
        Clock.Set(start + TimeSpan.FromMinutes(10));
        await RegisterAsync("after-the-window.csv");

        var window = new LoadQuery { ByCreatedAt = true, CreatedSince = start + TimeSpan.FromMinutes(1), CreatedUntil = start + TimeSpan.FromMinutes(5), Limit = 2 };
        async Task<List<long>> PageAllAsync(LoadQuery query, bool newestFirst)
        {
            var seen = new List<long>();
            LoadPosition? position = null;
            while (true)
            {
                var page = await Catalog.ListLoadsAsync(newestFirst ? query with { NewestFirst = true, Before = position } : query with { After = position }, None);
                seen.AddRange(page.Select(l => l.Id));
                if (page.Count < query.Limit)
                {
                    return seen;
                }

                position = LoadPosition.Of(page[^1]);
            }
        }

        List<long> Newest(string? customer) =>
            expected.Where(e => customer is null || e.Customer == customer).OrderByDescending(e => e.At).ThenByDescending(e => e.Id).Select(e => e.Id).ToList();

        Newest(null)[^1].ShouldBe(late.Id); // the order under test is not the id order
        (await PageAllAsync(window, newestFirst: true)).ShouldBe(Newest(null));
        (await PageAllAsync(window, newestFirst: false)).ShouldBe(Newest(null).AsEnumerable().Reverse());
        (await PageAllAsync(window with { Customer = "acme" }, newestFirst: true)).ShouldBe(Newest("acme"));
        (await PageAllAsync(window with { Customer = "globex" }, newestFirst: true)).ShouldBe(Newest("globex"));
    }

    [CatalogFact]
    public async Task ListLoads_APositionWithoutCreationOrder_IsRefused()
    {
        await Should.ThrowAsync<ArgumentException>(() => Catalog.ListLoadsAsync(new LoadQuery { Before = new LoadPosition(Clock.GetUtcNow(), 1) }, None));
    }

    [CatalogFact]
    public async Task ListLoads_BySourceKey_MatchesExactlyByPrefixOrAnywhere_WithWildcardsTakenLiterally()
    {
        var a = (await RegisterAsync("in/acme/ORDERS_2026-01-07.csv")).Load.Id;
        var b = (await RegisterAsync("in/acme/orders_2026-01-08.csv")).Load.Id;
        var c = (await RegisterAsync("in/acme/ordersX2026-01-07.csv")).Load.Id;
        var d = (await RegisterAsync("in/globex/100%_done.csv", pipeline: "invoices", customer: "globex")).Load.Id;
        var e = (await RegisterAsync("archive/in/acme/old.csv")).Load.Id;

        async Task<long[]> Search(string text, SourceKeyMatch match, string? customer = null) =>
            await IdsAsync(new LoadQuery { SourceKey = text, SourceKeyMatch = match, Customer = customer, NewestFirst = true });

        (await Search("in/acme/orders_2026-01-08.csv", SourceKeyMatch.Exact)).ShouldBe([b]);
        (await Search("in/acme/ORDERS_2026-01-08.csv", SourceKeyMatch.Exact)).ShouldBeEmpty(); // exact is exact, case too
        (await Search("in/acme/", SourceKeyMatch.Prefix)).ShouldBe([c, b, a]); // not archive/in/acme/…
        (await Search("in/acme/orders", SourceKeyMatch.Prefix)).ShouldBe([c, b]); // prefix keeps the case
        (await Search("in/acme/orders_", SourceKeyMatch.Prefix)).ShouldBe([b]); // '_' is a character, not a wildcard
        (await Search("orders_2026-01-07", SourceKeyMatch.Contains)).ShouldBe([a]); // any case, '_' literal (not ordersX…)
        (await Search("0%_d", SourceKeyMatch.Contains)).ShouldBe([d]); // '%' literal
        (await Search("in/acme", SourceKeyMatch.Contains)).ShouldBe([e, c, b, a]);
        (await Search("in/acme", SourceKeyMatch.Contains, customer: "globex")).ShouldBeEmpty();
        (await Search("[*?", SourceKeyMatch.Prefix)).ShouldBeEmpty(); // GLOB's wildcards are literal too
        (await Search("", SourceKeyMatch.Exact)).Length.ShouldBe(5); // an empty search is no search
    }

    // ---- the aggregates ----

    [CatalogFact]
    public async Task CountByPipelineAndStatus_ForACustomer_CountsOnlyItsLoads()
    {
        await RegisterAsync("a.csv");
        await RegisterAsync("b.csv");
        await RegisterAsync("c.csv", pipeline: "orders", customer: "globex");
        await RegisterAsync("d.csv", pipeline: "invoices", customer: "globex");
        await ClaimAsync(pipelines: ["invoices"]);

        (await Catalog.CountByPipelineAndStatusAsync(None)).ShouldBe(
            [new LoadCount("invoices", LoadStatus.Ingesting, 1), new LoadCount("orders", LoadStatus.Ready, 3)]);
        (await Catalog.CountByPipelineAndStatusAsync("acme", None)).ShouldBe([new LoadCount("orders", LoadStatus.Ready, 2)]);
        (await Catalog.CountByPipelineAndStatusAsync("globex", None)).ShouldBe(
            [new LoadCount("invoices", LoadStatus.Ingesting, 1), new LoadCount("orders", LoadStatus.Ready, 1)]);
        (await Catalog.CountByPipelineAndStatusAsync("nobody", None)).ShouldBeEmpty();
    }

    [CatalogFact]
    public async Task PipelineActivity_GivesLastLoad_RowsAndBytesOfToday_AndErrorsOfTheLast24Hours()
    {
        Clock.Set(new DateTimeOffset(2026, 3, 1, 22, 0, 0, TimeSpan.Zero));
        await ArchivedAsync("yesterday.csv", rows: 1000, bytes: 9000); // finished yesterday (UTC): not today
        var oldError = await ErroredAsync("old-error.csv", ErrorKind.Format, "bad"); // errored more than 24 hours before the end
        Clock.Set(new DateTimeOffset(2026, 3, 2, 0, 30, 0, TimeSpan.Zero));
        await ArchivedAsync("today-1.csv", rows: 10, bytes: 100);
        await ArchivedAsync("today-2.csv", rows: 5, bytes: 50, step: "module");
        await ArchivedAsync("other-step.csv", rows: 0, bytes: 0, step: "merge"); // merge rows are not written rows: 0 anyway
        await ErroredAsync("recent-error.csv", ErrorKind.Schema, "bad column");
        var redriven = await ErroredAsync("redriven.csv", ErrorKind.Schema, "bad column");
        (await Catalog.TransitionAsync(redriven, LoadStatus.Errored, LoadStatus.Ready, new TransitionDetails { ClearError = true, ResetAttempts = true }, None)).ShouldBeTrue();
        await ArchivedAsync("globex.csv", rows: 7, bytes: 70, pipeline: "events", customer: "globex");
        Clock.Set(new DateTimeOffset(2026, 3, 2, 22, 30, 0, TimeSpan.Zero));
        var last = (await RegisterAsync("last.csv")).Load;

        var all = await Catalog.GetPipelineActivityAsync(null, None);

        all.Select(a => a.Pipeline).ShouldBe(["events", "orders"]);
        var orders = all[1];
        orders.LastLoadAt.ShouldBe(last.CreatedAt);
        orders.RowsToday.ShouldBe(15); // the load and module steps that succeeded today
        orders.BytesToday.ShouldBe(150);
        orders.ErrorsLast24Hours.ShouldBe(1); // recent-error; not old-error (older), not redriven (no longer errored)
        all[0].ShouldBe(new PipelineActivity("events", all[0].LastLoadAt, 7, 70, 0));
        (await Catalog.GetPipelineActivityAsync("globex", None)).Select(a => a.Pipeline).ShouldBe(["events"]);
        (await Catalog.GetPipelineActivityAsync("nobody", None)).ShouldBeEmpty();
        _ = oldError;
    }

    [CatalogFact]
    public async Task RowsPerHour_SumsTheWrittenRowsOfEachHour_FromTheHourOfSince()
    {
        Clock.Set(new DateTimeOffset(2026, 3, 1, 8, 10, 0, TimeSpan.Zero));
        await ArchivedAsync("a.csv", rows: 10, bytes: 1);
        Clock.Set(new DateTimeOffset(2026, 3, 1, 8, 50, 0, TimeSpan.Zero));
        await ArchivedAsync("b.csv", rows: 20, bytes: 1, step: "module");
        Clock.Set(new DateTimeOffset(2026, 3, 1, 10, 5, 0, TimeSpan.Zero));
        await ArchivedAsync("c.csv", rows: 3, bytes: 1);
        await ArchivedAsync("d.csv", rows: 4, bytes: 1, pipeline: "events", customer: "globex");
        await ArchivedAsync("e.csv", rows: 0, bytes: 1); // an empty file: no row, no point on the chart

        var hour8 = new DateTimeOffset(2026, 3, 1, 8, 0, 0, TimeSpan.Zero);
        (await Catalog.GetRowsPerHourAsync(null, hour8.AddMinutes(59), None)).ShouldBe(
        [
            new HourlyRows("events", hour8.AddHours(2), 4),
            new HourlyRows("orders", hour8, 30),
            new HourlyRows("orders", hour8.AddHours(2), 3),
        ]);
        (await Catalog.GetRowsPerHourAsync("acme", hour8.AddHours(1), None)).ShouldBe([new HourlyRows("orders", hour8.AddHours(2), 3)]);
    }

    [CatalogFact]
    public async Task GroupErroredLoads_ByPipelineAndKind_WithCountsTimesAndTheNewestMessage()
    {
        var t0 = Clock.GetUtcNow();
        await ErroredAsync("a.csv", ErrorKind.Format, "not a gzip file");
        Clock.Advance(TimeSpan.FromMinutes(5));
        var newest = await ErroredAsync("b.csv", ErrorKind.Format, "bad quote on line 3");
        Clock.Advance(TimeSpan.FromMinutes(5));
        await ErroredAsync("c.csv", ErrorKind.Format, "bad quote", pipeline: "orders", customer: "globex"); // same pipeline, other customer
        await ErroredAsync("d.csv", ErrorKind.Schema, "column 3", pipeline: "invoices");
        var redriven = await ErroredAsync("e.csv", ErrorKind.Schema, "gone");
        (await Catalog.TransitionAsync(redriven, LoadStatus.Errored, LoadStatus.Ready, new TransitionDetails { ClearError = true }, None)).ShouldBeTrue();
        // a held load failed by an operator: errored without a kind
        var held = (await RegisterAsync("f.csv")).Load.Id;
        (await Catalog.TransitionAsync(held, LoadStatus.Ready, LoadStatus.Held, new TransitionDetails { HeldReason = "waiting" }, None)).ShouldBeTrue();
        (await Catalog.TransitionAsync(held, LoadStatus.Held, LoadStatus.ReadyForErroring, null, None)).ShouldBeTrue();
        (await ClaimAsync(from: LoadStatus.ReadyForErroring)).ShouldNotBeNull().Id.ShouldBe(held);
        (await Catalog.TransitionAsync(held, LoadStatus.Erroring, LoadStatus.Errored, null, None)).ShouldBeTrue();

        var acme = await Catalog.GroupErroredLoadsAsync("acme", None);

        acme.Select(g => (g.Pipeline, g.Kind, g.Loads)).ShouldBe([("invoices", ErrorKind.Schema, 1L), ("orders", null, 1L), ("orders", ErrorKind.Format, 2L)]);
        var format = acme[2];
        format.Oldest.ShouldBe(t0);
        format.Newest.ShouldBe(t0.AddMinutes(5));
        format.SampleLoadId.ShouldBe(newest);
        format.SampleMessage.ShouldBe("bad quote on line 3");
        acme[1].SampleLoadId.ShouldBe(held);

        var all = await Catalog.GroupErroredLoadsAsync(null, None);
        var allFormat = all.Single(g => g.Pipeline == "orders" && g.Kind == ErrorKind.Format);
        allFormat.Loads.ShouldBe(3);
        allFormat.Oldest.ShouldBe(t0);
        allFormat.Newest.ShouldBe(t0.AddMinutes(10));
        allFormat.SampleMessage.ShouldBe("bad quote");
        (await Catalog.GroupErroredLoadsAsync("globex", None)).Single().Loads.ShouldBe(1);
        (await IdsAsync(new LoadQuery { Status = LoadStatus.Errored, Pipeline = "orders", ErrorKind = ErrorKind.Format, Customer = "acme" })).Length.ShouldBe(2);
    }

    [CatalogFact]
    public async Task Rollups_AgreeWithTheLoadsAndStepRecords_AfterFailuresRedrivesSweepsAndCancels()
    {
        // Every path that changes a load or a step: registration (and a re-registration), claims, step records,
        // failures, erroring, archiving, re-drives of errored and archived loads, a sweep of several expired leases at
        // once (one statement, several rows), held and released, across two customers and three pipelines and hours.
        await ArchivedAsync("a.csv", 10, 100);
        await RegisterAsync("a.csv"); // seen again: nothing changes
        var e1 = await ErroredAsync("b.csv", ErrorKind.Format, "bad");
        Clock.Advance(TimeSpan.FromMinutes(70));
        var archived = await ArchivedAsync("c.csv", 20, 200, pipeline: "events", customer: "globex");
        await ErroredAsync("d.csv", ErrorKind.Integrity, "count", pipeline: "events", customer: "globex");
        (await Catalog.TransitionAsync(e1, LoadStatus.Errored, LoadStatus.Ready, new TransitionDetails { ClearError = true, ResetAttempts = true }, None)).ShouldBeTrue();
        (await Catalog.TransitionAsync(archived, LoadStatus.Archived, LoadStatus.Ready, new TransitionDetails { ClearError = true }, None)).ShouldBeTrue();
        await RegisterAsync("e.csv", pipeline: "invoices");
        await RegisterAsync("f.csv", pipeline: "invoices");
        (await ClaimAsync(pipelines: ["invoices"])).ShouldNotBeNull();
        (await ClaimAsync(pipelines: ["invoices"])).ShouldNotBeNull();
        (await ClaimAsync(pipelines: ["orders"])).ShouldNotBeNull().Id.ShouldBe(e1);
        var again = await Catalog.StartStepAsync(e1, "load", 2, "w1", None);
        await Catalog.FinishStepAsync(again, new StepResult { RowsOut = 4, BytesIn = 40 }, None);
        await Catalog.StartStepAsync(e1, "merge", 2, "w1", None); // still running: counts nowhere yet
        Clock.Advance(Lease + TimeSpan.FromSeconds(1));
        (await Catalog.SweepExpiredLeasesAsync(1, None)).ShouldBe(3); // all three to ready_for_erroring, kind transient
        var held = (await RegisterAsync("g.csv", customer: "globex")).Load.Id;
        (await Catalog.TransitionAsync(held, LoadStatus.Ready, LoadStatus.Held, new TransitionDetails { HeldReason = "snapshot first" }, None)).ShouldBeTrue();
        (await Catalog.TransitionAsync(held, LoadStatus.Held, LoadStatus.Ready, null, None)).ShouldBeTrue();

        // Small loads: the finished attempts of several loads written by one statement with their stage ends, one of
        // them a failure (counted), one load's end lost (its attempts not written).
        var small = new List<long>();
        for (var i = 0; i < 3; i++)
        {
            small.Add((await RegisterAsync($"s{i}.csv", pipeline: "small")).Load.Id);
            (await ClaimAsync($"s{i}", pipelines: ["small"])).ShouldNotBeNull().Id.ShouldBe(small[i]);
        }

        var at = Clock.GetUtcNow();
        var grouped = await Catalog.EndStagesTogetherAsync([.. small.Select((id, i) => new StageEnd
        {
            LoadId = id, From = LoadStatus.Ingesting, To = LoadStatus.ReadyForArchiving, Worker = i == 2 ? "someone-else" : $"s{i}",
            Done =
            [
                new FinishedStep("fetch", 1, at, at, i == 1 ? StepResult.Failed(ErrorKind.Transient, "reset") : new StepResult { BytesIn = 5 }),
                new FinishedStep("fetch", 2, at, at, new StepResult { BytesIn = 5 }),
                new FinishedStep("load", 1, at, at, new StepResult { RowsOut = 3, BytesIn = 5 }),
            ],
        })]);
        (await Task.WhenAll(grouped.Answers)).ShouldBe([LoadStatus.ReadyForArchiving, LoadStatus.ReadyForArchiving, null]);

        await ShouldAgreeWithTheLoadsAndStepsAsync();
    }

    [CatalogFact]
    public async Task Migrate_OntoACatalogWithLoads_FillsTheRollupsFromThem()
    {
        // This test's catalog is migrated already: start again on one at the version before the rollups.
        await DropAndRecreateAsync();
        var older = Open();
        await older.MigrateAsync(older.Migrations.Where(m => m.Version < 10).ToList(), None);
        Catalog = older;
        var archived = await ArchivedAsync("a.csv", 10, 100);
        await ErroredAsync("b.csv", ErrorKind.Format, "bad", pipeline: "events", customer: "globex");
        await RegisterAsync("c.csv");
        await Catalog.StartStepAsync(archived, "release", 1, "w1", None); // running: counts nowhere

        await older.MigrateAsync(None);

        await ShouldAgreeWithTheLoadsAndStepsAsync();
        (await Catalog.GetPipelineActivityAsync(null, None)).Single(a => a.Pipeline == "orders").RowsToday.ShouldBe(10);
    }

    /// <summary>Empties this test's database (a new file, a new PostgreSQL database).</summary>
    private async Task DropAndRecreateAsync()
    {
        foreach (var catalog in _opened)
        {
            await catalog.DisposeAsync();
        }

        _opened.Clear();
        await DropDatabaseAsync();
        await CreateDatabaseAsync();
    }

    /// <summary>The counts, per customer and for all, and the rows per hour, against the loads and step records themselves.</summary>
    private async Task ShouldAgreeWithTheLoadsAndStepsAsync()
    {
        var loads = await Catalog.ListLoadsAsync(new LoadQuery { Limit = 10_000 }, None);
        var steps = await Catalog.GetAllStepsAsync(null, 10_000, None);
        var byId = loads.ToDictionary(l => l.Id);
        foreach (var customer in new[] { null, "acme", "globex" })
        {
            var mine = loads.Where(l => customer is null || l.Customer == customer).ToList();
            var expected = mine.GroupBy(l => (l.Pipeline, l.Status)).Select(g => new LoadCount(g.Key.Pipeline, g.Key.Status, g.Count()))
                .OrderBy(c => c.Pipeline, StringComparer.Ordinal).ThenBy(c => c.Status.ToWord(), StringComparer.Ordinal).ToList();
            (await Catalog.CountByPipelineAndStatusAsync(customer, None)).ShouldBe(expected, $"customer {customer ?? "(all)"}");

            var expectedGroups = mine.Where(l => l.Status == LoadStatus.Errored).GroupBy(l => (l.Pipeline, l.ErrorKind))
                .Select(g => (g.Key.Pipeline, g.Key.ErrorKind, (long)g.Count())).OrderBy(g => g.Pipeline, StringComparer.Ordinal).ThenBy(g => g.ErrorKind?.ToWord() ?? "", StringComparer.Ordinal).ToList();
            (await Catalog.GroupErroredLoadsAsync(customer, None)).Select(g => (g.Pipeline, g.Kind, g.Loads)).ShouldBe(expectedGroups, $"customer {customer ?? "(all)"}");

            var expectedRows = steps
                .Where(s => s.Outcome == StepOutcome.Succeeded && ICatalogQueries.RowsSteps.Contains(s.Step) && (s.RowsOut ?? 0) > 0)
                .Where(s => customer is null || byId[s.LoadId].Customer == customer)
                .GroupBy(s => (byId[s.LoadId].Pipeline, Hour: new DateTimeOffset(s.FinishedAt!.Value.Ticks - (s.FinishedAt.Value.Ticks % TimeSpan.TicksPerHour), TimeSpan.Zero)))
                .Select(g => new HourlyRows(g.Key.Pipeline, g.Key.Hour, g.Sum(s => s.RowsOut ?? 0)))
                .OrderBy(h => h.Pipeline, StringComparer.Ordinal).ThenBy(h => h.Hour).ToList();
            (await Catalog.GetRowsPerHourAsync(customer, DateTimeOffset.UnixEpoch, None)).ShouldBe(expectedRows, $"customer {customer ?? "(all)"}");
        }
    }
}
