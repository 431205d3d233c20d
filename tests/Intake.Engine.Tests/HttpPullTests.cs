using System.IO.Compression;
using System.Text.Json;
using Intake.Engine.Http;
using Intake.TestApi;

namespace Intake.Engine.Tests;

/// <summary>The HTTP source against the local test API: paging, retries, failures, day replacement and backfill.</summary>
public sealed class HttpPullTests : IAsyncLifetime
{
    private static readonly DateOnly Day = new(2024, 3, 5);
    private readonly EmbeddedProject _project = new("intake-http-");
    private TestApiServer _api = null!;

    public async Task InitializeAsync()
    {
        _api = await TestApiServer.StartAsync(new TestApiOptions { RecordsPerDay = 250 });
        File.WriteAllText(Path.Combine(_project.Root, ".env"), "API_KEY=test-key\n");
    }

    public async Task DisposeAsync()
    {
        await _api.DisposeAsync();
        await _project.DisposeAsync();
    }

    private string StoreRoot => _project.Stored("");

    private void WritePipeline(string style = "cursor", string events = "[charge]", string extra = "", string key = "${API_KEY}", string steps = "[pull]", int pageSize = 100, int rollEvery = 70)
    {
        var (path, pagination, method) = style switch
        {
            "cursor" => ("/v1/events", "{ style: cursor, has_more: has_more }", "GET"),
            "cursor-full-pages" => ("/v1/events", "{ style: cursor }", "GET"),
            "post" => ("/v1/events/search", "{ style: cursor, has_more: has_more }", "POST"),
            "page" => ("/v1/events/pages", "{ style: page }", "GET"),
            _ => ("/v1/events/links", "{ style: next_link, next_link: links.next }", "GET"),
        };
        var request = method == "POST"
            ? """  body: '{"type": "{event}", "day": "{day}", "limit": {limit}}'"""
            : """  query: { type: "{event}", day: "{day}", limit: "{limit}" }""";
        _project.Pipeline("events", $"""
            name: events
            source:
              kind: http
              url: {_api.BaseUrl}{path}
              method: {method}
            {request}
              auth: {"{"} header: X-Api-Key, key: "{key}" {"}"}
              events: {events}
              page_size: {pageSize}
              page_size_min: 10
              page_size_max: 100
              pagination: {pagination}
              roll_every: {rollEvery}
              retry: {"{"} max_attempts: 6, base_delay: 1ms, max_delay: 5ms {"}"}
            {extra}
            steps: {steps}
            """);
    }

    private Task<IntakeRuntime> OpenAsync() => _project.OpenAsync();

    private async Task<(IReadOnlyList<BackfillDay> Plan, IReadOnlyList<Load> Finished)> BackfillAsync(DateOnly from, DateOnly to, bool rerun = false, int workers = 2)
    {
        await using var runtime = await OpenAsync();
        var pipeline = runtime.Pipeline("events");
        var plan = await Backfill.PlanAsync(runtime, pipeline, from, to, rerun, default);
        var finished = await Backfill.RunAsync(runtime, pipeline, workers, null, default);
        var loads = new List<Load>();
        foreach (var l in finished)
        {
            loads.Add((await runtime.Catalog.GetLoadAsync(l.Id, default))!);
        }

        return (plan, loads);
    }

    private List<string> PartFiles(string eventType, DateOnly day) =>
        Directory.Exists(Path.Combine(StoreRoot, "raw", eventType, $"date={day:yyyy-MM-dd}"))
            ? Directory.GetFiles(Path.Combine(StoreRoot, "raw", eventType, $"date={day:yyyy-MM-dd}")).Select(f => Path.GetFileName(f)).Order(StringComparer.Ordinal).ToList()
            : [];

    private List<JsonElement> ReadRecords(string eventType, DateOnly day)
    {
        var records = new List<JsonElement>();
        foreach (var f in PartFiles(eventType, day))
        {
            using var gz = new GZipStream(File.OpenRead(Path.Combine(StoreRoot, "raw", eventType, $"date={day:yyyy-MM-dd}", f)), CompressionMode.Decompress);
            using var reader = new StreamReader(gz);
            while (reader.ReadLine() is { } line)
            {
                records.Add(JsonDocument.Parse(line).RootElement.Clone());
            }
        }

        return records;
    }

    private static List<string> ExpectedIds(string eventType, DateOnly day, int count) => Enumerable.Range(0, count).Select(i => Records.Id(eventType, day, i)).ToList();

    [Theory]
    [InlineData("cursor", 250)]
    [InlineData("cursor", 200)] // the last page is full: the next, empty, page ends the day
    [InlineData("cursor-full-pages", 300)] // no has_more: a full page means "ask again"
    [InlineData("post", 237)]
    [InlineData("page", 200)]
    [InlineData("page", 251)]
    [InlineData("next_link", 250)]
    public async Task Pull_EveryPaginationStyle_WritesEveryRecordExactlyOnceInOrder(string style, int count)
    {
        _api.Options.RecordsPerDay = count;
        WritePipeline(style);

        var (_, finished) = await BackfillAsync(Day, Day);

        finished.ShouldHaveSingleItem().Status.ShouldBe(LoadStatus.Archived, finished[0].ErrorMessage);
        var records = ReadRecords("charge", Day);
        records.Select(r => r.GetProperty("id").GetString()!).ToList().ShouldBe(ExpectedIds("charge", Day, count));
        // the data really has records sharing a timestamp across page boundaries
        records.Select(r => r.GetProperty("created").GetInt64()).Distinct().Count().ShouldBeLessThan(count);
        // parts roll every 70 records, also in the middle of a page
        PartFiles("charge", Day).Count.ShouldBe((count + 69) / 70);
    }

    [Theory]
    [InlineData("cursor")]
    [InlineData("page")]
    [InlineData("next_link")]
    public async Task Pull_StoppedAfterAPageInTheMiddleOfAPart_ResumesAtTheNextPage(string style)
    {
        // Pages of 10 and parts of 100: page 14 is the fourth page of the second part. After it, six 502s use up the
        // request's attempts, the step fails transient, and the worker runs it again from the checkpoint.
        _api.Options.OnServed = n =>
        {
            if (n == 14)
            {
                _api.Options.StormRemaining = 6;
            }
        };
        WritePipeline(style, pageSize: 10, rollEvery: 100, extra: "  checkpoint_interval: 0");

        var (_, finished) = await BackfillAsync(Day, Day);

        var load = finished.ShouldHaveSingleItem();
        load.Status.ShouldBe(LoadStatus.Archived, load.ErrorMessage);
        await using (var runtime = await OpenAsync())
        {
            (await runtime.Catalog.GetStepsAsync(load.Id, default)).Count(s => s.Step == "pull").ShouldBe(2);
        }

        // no page asked for twice: the second attempt started at page 15, not at the part's first page (11)
        var served = _api.Served.ToList();
        served.Distinct().Count().ShouldBe(served.Count);
        served.Count.ShouldBeGreaterThanOrEqualTo(25);
        _api.Requests.ShouldBe(served.Count + 6);
        ReadRecords("charge", Day).Select(r => r.GetProperty("id").GetString()!).ToList().ShouldBe(ExpectedIds("charge", Day, 250));
        PartFiles("charge", Day).Count.ShouldBe(3);
        Directory.Exists(Path.Combine(_project.Root, ".intake", "spool", $"load-{load.Id}")).ShouldBeFalse();
    }

    [Theory]
    [InlineData("missing")]
    [InlineData("damaged")]
    public async Task Pull_ResumedWithoutAUsableSpoolFile_PullsTheOpenPartAgainAndWritesEveryRecordOnce(string what)
    {
        var spool = Path.Combine(_project.Root, ".intake", "spool");
        _api.Options.OnServed = n =>
        {
            if (n != 14)
            {
                return;
            }

            if (what == "missing")
            {
                Directory.Delete(spool, recursive: true); // the writer keeps its (now nameless) file open
            }
            else
            {
                // Pages 11 to 13 are checkpointed in it; zeros over the first of them stand for writes lost in a power cut.
                var file = Directory.GetFiles(spool, "*.ndjson.gz", SearchOption.AllDirectories).ShouldHaveSingleItem();
                using var handle = File.OpenHandle(file, FileMode.Open, FileAccess.Write, FileShare.ReadWrite);
                System.IO.RandomAccess.Write(handle, new byte[64], 20);
            }

            _api.Options.StormRemaining = 6;
        };
        WritePipeline(pageSize: 10, rollEvery: 100, extra: "  checkpoint_interval: 0");

        var (_, finished) = await BackfillAsync(Day, Day);

        finished.ShouldHaveSingleItem().Status.ShouldBe(LoadStatus.Archived, finished[0].ErrorMessage);
        // the second attempt asked again for page 10, where the first part ended, and then for pages 11 to 14
        var served = _api.Served.ToList();
        served.Count.ShouldBe(25 + 5);
        served[14].ShouldBe(served[9]);
        ReadRecords("charge", Day).Select(r => r.GetProperty("id").GetString()!).ToList().ShouldBe(ExpectedIds("charge", Day, 250));
        PartFiles("charge", Day).Count.ShouldBe(3);
    }

    [Fact]
    public async Task Pull_ThroughA502Storm_RetriesAndLosesNothing()
    {
        _api.Options.Fail502Every = 3;
        _api.Options.StormRemaining = 4;
        WritePipeline();

        var (_, finished) = await BackfillAsync(Day, Day);

        finished.ShouldHaveSingleItem().Status.ShouldBe(LoadStatus.Archived, finished[0].ErrorMessage);
        ReadRecords("charge", Day).Select(r => r.GetProperty("id").GetString()!).ToList().ShouldBe(ExpectedIds("charge", Day, 250));
        _api.Requests.ShouldBeGreaterThan(3 + 4);
    }

    [Fact]
    public async Task Pull_With429AndRetryAfter_WaitsAndCarriesOn()
    {
        _api.Options.Fail429Every = 2;
        _api.Options.RetryAfterSeconds = 0;
        WritePipeline();

        var (_, finished) = await BackfillAsync(Day, Day);

        finished.ShouldHaveSingleItem().Status.ShouldBe(LoadStatus.Archived, finished[0].ErrorMessage);
        ReadRecords("charge", Day).Count.ShouldBe(250);
    }

    [Fact]
    public async Task Pull_WhenTheApiNeverRecovers_FailsTransientAfterTheConfiguredAttempts()
    {
        _api.Options.StormRemaining = 1000;
        WritePipeline();

        var (_, finished) = await BackfillAsync(Day, Day);

        var load = finished.ShouldHaveSingleItem();
        load.Status.ShouldBe(LoadStatus.Errored);
        load.ErrorKind.ShouldBe(ErrorKind.Transient);
        load.ErrorMessage.ShouldNotBeNull().ShouldContain("502");
        // 6 attempts per request, and the worker's 2 attempts of the step
        _api.Requests.ShouldBe(12);
        PartFiles("charge", Day).ShouldBeEmpty();
    }

    [Fact]
    public async Task Pull_WithAWrongKey_FailsAtOnceWithTheReasonAndNoSecret()
    {
        WritePipeline(key: "not-the-key-s3cr3t");

        var (_, finished) = await BackfillAsync(Day, Day);

        var load = finished.ShouldHaveSingleItem();
        load.Status.ShouldBe(LoadStatus.Errored);
        load.ErrorKind.ShouldBe(ErrorKind.Security);
        load.ErrorMessage.ShouldNotBeNull().ShouldContain("401");
        load.ErrorMessage.ShouldContain("Invalid API key provided");
        load.ErrorMessage.ShouldNotContain("s3cr3t");
        _api.Requests.ShouldBe(1); // not retried
    }

    [Fact]
    public async Task Pull_WithAPageSizeTheApiRefuses_FailsAtOnceAsConfigWithTheBody()
    {
        _api.Options.MaxPageSize = 50; // the API's limit changed since the configuration was written
        WritePipeline();

        var (_, finished) = await BackfillAsync(Day, Day);

        var load = finished.ShouldHaveSingleItem();
        load.ErrorKind.ShouldBe(ErrorKind.Config);
        load.ErrorMessage.ShouldNotBeNull().ShouldContain("limit must be between 10 and 50");
        _api.Requests.ShouldBe(1);
    }

    [Fact]
    public async Task Rerun_OfADayWithFewerRecords_ReplacesItsPartsAsAWhole()
    {
        WritePipeline(rollEvery: 100);
        await BackfillAsync(Day, Day);
        PartFiles("charge", Day).Count.ShouldBe(3);

        _api.Options.RecordsPerDay = 120;
        var (plan, finished) = await BackfillAsync(Day, Day, rerun: true);

        plan.ShouldHaveSingleItem().Action.ShouldBe(BackfillAction.Rerun);
        finished.ShouldHaveSingleItem().Status.ShouldBe(LoadStatus.Archived);
        PartFiles("charge", Day).ShouldBe(["part-00001.ndjson.gz", "part-00002.ndjson.gz"]);
        ReadRecords("charge", Day).Select(r => r.GetProperty("id").GetString()!).ToList().ShouldBe(ExpectedIds("charge", Day, 120));
    }

    [Fact]
    public async Task Backfill_OfAWeek_WritesSevenDaysAndASecondRunWritesNothing()
    {
        WritePipeline(events: "[charge, refund]", rollEvery: 1000);
        var from = new DateOnly(2024, 2, 1);

        var (plan, finished) = await BackfillAsync(from, from.AddDays(6));

        plan.Count.ShouldBe(14);
        plan.ShouldAllBe(d => d.Action == BackfillAction.Registered);
        finished.Count.ShouldBe(14);
        finished.ShouldAllBe(l => l.Status == LoadStatus.Archived);
        for (var d = 0; d < 7; d++)
        {
            ReadRecords("charge", from.AddDays(d)).Count.ShouldBe(250);
            ReadRecords("refund", from.AddDays(d)).Count.ShouldBe(250);
        }

        var files = Directory.GetFiles(Path.Combine(StoreRoot, "raw"), "*", SearchOption.AllDirectories).ToDictionary(f => f, File.GetLastWriteTimeUtc);
        var requests = _api.Requests;

        var (again, finishedAgain) = await BackfillAsync(from, from.AddDays(6));

        again.ShouldAllBe(d => d.Action == BackfillAction.Skipped);
        finishedAgain.ShouldBeEmpty();
        _api.Requests.ShouldBe(requests);
        Directory.GetFiles(Path.Combine(StoreRoot, "raw"), "*", SearchOption.AllDirectories).ToDictionary(f => f, File.GetLastWriteTimeUtc).ShouldBe(files);
    }

    [Fact]
    public async Task Pull_OfFourEventTypesWithParallelTwo_HasAtMostTwoRequestsInFlight()
    {
        _api.Options.Latency = TimeSpan.FromMilliseconds(20);
        WritePipeline(events: "[charge, refund, dispute, customer]", extra: "  parallel: 2");

        var (_, finished) = await BackfillAsync(Day, Day, workers: 4);

        finished.Count.ShouldBe(4);
        finished.ShouldAllBe(l => l.Status == LoadStatus.Archived);
        _api.MaxInFlight.ShouldBe(2);
    }

    [Fact]
    public async Task Backfill_OfAFailedDay_RedrivesIt()
    {
        WritePipeline(key: "wrong");
        (await BackfillAsync(Day, Day)).Finished.ShouldHaveSingleItem().Status.ShouldBe(LoadStatus.Errored);

        WritePipeline();
        var (plan, finished) = await BackfillAsync(Day, Day);

        plan.ShouldHaveSingleItem().Action.ShouldBe(BackfillAction.Redriven);
        finished.ShouldHaveSingleItem().Status.ShouldBe(LoadStatus.Archived);
        ReadRecords("charge", Day).Count.ShouldBe(250);
    }

    [Fact]
    public async Task Load_WithFlatten_PutsNestedFieldsInColumnsAndArraysAsJson()
    {
        WritePipeline(extra: "  flatten: true\nload: { table: events }", steps: "[pull, load]");

        var (_, finished) = await BackfillAsync(Day, Day);

        finished.ShouldHaveSingleItem().Status.ShouldBe(LoadStatus.Archived, finished[0].ErrorMessage);
        using var c = _project.OpenWarehouse();
        using var cmd = c.CreateCommand();
        cmd.CommandText = """select count(*), count(distinct id), max("customer.address.city"), min(tags) from events where id = 'charge_20240305_0000002' or 1=1""";
        using var r = cmd.ExecuteReader();
        r.Read();
        r.GetInt64(0).ShouldBe(250);
        r.GetInt64(1).ShouldBe(250);
        r.GetString(2).ShouldBe("Turin");
        r.GetString(3).ShouldBe("[\"t0\",\"even\"]");
    }

    [Fact]
    public async Task Discovery_RegistersYesterdayForEachEvent_AndOnlyOnce()
    {
        WritePipeline(events: "[charge, refund]");
        await using var runtime = await OpenAsync();
        var discovery = new Discovery(runtime);

        var first = await discovery.DiscoverAsync(runtime.Pipeline("events"), default);
        var second = await discovery.DiscoverAsync(runtime.Pipeline("events"), default);

        first.New.ShouldBe(2);
        second.New.ShouldBe(0);
        second.Seen.ShouldBe(2);
        var yesterday = DateOnly.FromDateTime(DateTime.UtcNow).AddDays(-1);
        (await runtime.Catalog.ListLoadsAsync(new LoadQuery { Pipeline = "events" }, default)).Select(l => l.SourceKey).Order(StringComparer.Ordinal)
            .ShouldBe([$"charge/{yesterday:yyyy-MM-dd}", $"refund/{yesterday:yyyy-MM-dd}"]);
        runtime.Pipeline("events").Schedule.ShouldNotBeNull().Expression.ShouldBe("0 7 * * *");
    }
}
