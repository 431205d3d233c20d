using System.Text.Json;
using Intake.Tests.Shared;

namespace Intake.Server.Tests;

/// <summary>What each endpoint does, through a real <c>intake serve</c> on a PostgreSQL catalog.</summary>
public sealed class EndpointTests : IClassFixture<ApiFixture>
{
    private readonly ApiFixture _f;

    public EndpointTests(ApiFixture fixture) => _f = fixture;

    private HttpClient Acme => _f.Serve.Client(_f.AcmeWrite);

    [PostgresFact]
    public async Task Pipelines_ListAndShow_GiveScheduleTimeoutPauseAndCounts()
    {
        using var client = Acme;
        var (status, list, _) = await client.GetJsonAsync("/api/v1/pipelines");
        status.ShouldBe(200);
        var frozen = list.GetProperty("items").EnumerateArray().Single(p => p.GetProperty("name").GetString() == "frozen");
        frozen.GetProperty("paused").GetBoolean().ShouldBeTrue();
        frozen.GetProperty("loads").GetProperty("ready").GetInt64().ShouldBe(2);

        var (_, orders, _) = await client.GetJsonAsync("/api/v1/pipelines/orders");
        orders.GetProperty("customer").GetString().ShouldBe("acme");
        orders.GetProperty("table").GetString().ShouldBe("orders");
        orders.GetProperty("steps").GetArrayLength().ShouldBe(5);
        orders.GetProperty("loads").GetProperty("errored").GetInt64().ShouldBeGreaterThanOrEqualTo(1);

        using var globex = _f.Serve.Client(_f.GlobexWrite);
        (await globex.GetJsonAsync("/api/v1/pipelines/events")).Body.GetProperty("timeout").GetString().ShouldBe("30m");
        (await client.GetJsonAsync("/api/v1/pipelines/nope")).Status.ShouldBe(404);
    }

    [PostgresFact]
    public async Task PauseThenResume_IsStoredAndShown()
    {
        using var client = _f.Serve.Client(_f.Admin);
        var (status, paused, _) = await client.PostJsonAsync("/api/v1/pipelines/events/pause");
        status.ShouldBe(200);
        paused.GetProperty("paused").GetBoolean().ShouldBeTrue();
        paused.GetProperty("paused_by").GetString()!.ShouldStartWith("key ");
        (await client.GetJsonAsync("/api/v1/pipelines/events")).Body.GetProperty("paused").GetBoolean().ShouldBeTrue();

        // A paused pipeline does not run on request either.
        var (runStatus, problem, _) = await client.PostJsonAsync("/api/v1/pipelines/events/run");
        runStatus.ShouldBe(409);
        problem.GetProperty("detail").GetString()!.ShouldContain("paused");

        var (_, resumed, _) = await client.PostJsonAsync("/api/v1/pipelines/events/resume");
        resumed.GetProperty("paused").GetBoolean().ShouldBeFalse();
    }

    [PostgresFact]
    public async Task RunNow_RegistersTheNewFile_AndWorkersArchiveIt_WithStepHistoryAndLogs()
    {
        File.WriteAllText(Path.Combine(_f.Workspace.Incoming("orders"), "run-now.csv"), "id,name\n1,one\n2,two\n");
        using var client = Acme;
        var (status, run, response) = await client.PostJsonAsync("/api/v1/pipelines/orders/run", """{"parameters": {"source_key": "run-now.csv"}}""");
        status.ShouldBe(202);
        response.Headers.Location!.ToString().ShouldContain("/api/v1/loads?pipeline=orders");
        run.GetProperty("new").GetInt32().ShouldBe(1);
        var id = run.GetProperty("load_ids")[0].GetInt64();

        JsonElement detail = default;
        for (var i = 0; i < 100; i++)
        {
            detail = (await client.GetJsonAsync($"/api/v1/jobs/{id}")).Body;
            if (detail.GetProperty("load").GetProperty("status").GetString() is "archived" or "errored")
            {
                break;
            }

            await Task.Delay(100);
        }

        detail.GetProperty("load").GetProperty("status").GetString().ShouldBe("archived");
        var steps = detail.GetProperty("steps").EnumerateArray().ToList();
        // In the order they ran: archive at the archiving stage, after the load.
        steps.Select(s => s.GetProperty("step").GetString()).ShouldBe(["fetch", "decompress", "validate", "load", "archive"]);
        steps.ShouldAllBe(s => s.GetProperty("outcome").GetString() == "succeeded");
        steps.Single(s => s.GetProperty("step").GetString() == "load").GetProperty("rows_out").GetInt64().ShouldBe(2);

        // A second run finds nothing new: the file is known.
        var (_, again, _) = await client.PostJsonAsync("/api/v1/pipelines/orders/run");
        again.GetProperty("new").GetInt32().ShouldBe(0);
        again.GetProperty("seen").GetInt32().ShouldBeGreaterThanOrEqualTo(1);

        // JSON log lines about the load carry its id and pipeline as fields.
        await Task.Delay(200);
        var lines = _f.Serve.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(l => l.StartsWith('{')).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        var aboutLoad = lines.Where(l => l.TryGetProperty("State", out var s) && s.TryGetProperty("LoadId", out var v) && v.GetInt64() == id).ToList();
        aboutLoad.Count.ShouldBeGreaterThan(5);
        aboutLoad.ShouldAllBe(l => l.GetProperty("State").GetProperty("Pipeline").GetString() == "orders");
    }

    [PostgresFact]
    public async Task RunNow_WithBadParameters_Returns400NamingTheParameter_OrMissingKey404()
    {
        using var client = Acme;
        var (status, body, response) = await client.PostJsonAsync("/api/v1/pipelines/orders/run", """{"parameters": {"sourcekey": "x", "source_keys": [1]}}""");
        status.ShouldBe(400);
        response.Content.Headers.ContentType!.MediaType.ShouldBe("application/problem+json");
        body.GetProperty("errors").GetProperty("parameters.sourcekey")[0].GetString()!.ShouldContain("unknown parameter; a run accepts: source_key, source_keys");
        body.GetProperty("errors").GetProperty("parameters.source_keys")[0].GetString()!.ShouldContain("array of non-empty strings");

        (await client.PostJsonAsync("/api/v1/pipelines/orders/run", "{not json")).Body.GetProperty("errors").GetProperty("body")[0].GetString()!.ShouldContain("not valid JSON");

        var (missing, problem, _) = await client.PostJsonAsync("/api/v1/pipelines/orders/run", """{"parameters": {"source_key": "never-uploaded.csv"}}""");
        missing.ShouldBe(404);
        problem.GetProperty("detail").GetString()!.ShouldContain("never-uploaded.csv");
    }

    [PostgresFact]
    public async Task Loads_DefaultToTheLast24Hours_NewestFirst_AndSinceReachesFurther()
    {
        using var client = Acme;
        var recent = (await client.GetJsonAsync("/api/v1/loads?pipeline=frozen")).Body.Ids();
        recent.ShouldBe([_f.FrozenReady]);
        var since = Uri.EscapeDataString(DateTimeOffset.UtcNow.AddDays(-3).ToString("o"));
        (await client.GetJsonAsync($"/api/v1/loads?pipeline=frozen&since={since}")).Body.Ids().ShouldBe([_f.FrozenReady, _f.FrozenOld]);
        var until = Uri.EscapeDataString(DateTimeOffset.UtcNow.AddDays(-1).ToString("o"));
        (await client.GetJsonAsync($"/api/v1/loads?pipeline=frozen&since={since}&until={until}")).Body.Ids().ShouldBe([_f.FrozenOld]);

        var errored = (await client.GetJsonAsync("/api/v1/loads?status=errored&customer=acme")).Body;
        errored.GetProperty("items").EnumerateArray().ShouldAllBe(l => l.GetProperty("status").GetString() == "errored" && l.GetProperty("customer").GetString() == "acme");
        errored.Ids().ShouldContain(_f.OrdersErrored);
        var first = errored.GetProperty("items").EnumerateArray().Single(l => l.GetProperty("id").GetInt64() == _f.OrdersErrored);
        first.GetProperty("error_kind").GetString().ShouldBe("format");
    }

    [PostgresFact]
    public async Task Loads_ByErrorKindAndSourceKey_FindTheFile_WhenEverItCame_OnlyForItsCustomer()
    {
        using var client = Acme;
        // old.csv was registered two days ago: outside the default 24 hours, but a search looks everywhere.
        (await client.GetJsonAsync("/api/v1/loads?source_key=old.csv&source_key_match=exact")).Body.Ids().ShouldBe([_f.FrozenOld]);
        (await client.GetJsonAsync("/api/v1/loads?source_key=OLD.C")).Body.Ids().ShouldBe([_f.FrozenOld]);
        (await client.GetJsonAsync("/api/v1/loads?source_key=ol&source_key_match=prefix&pipeline=frozen")).Body.Ids().ShouldBe([_f.FrozenOld]);
        (await client.GetJsonAsync("/api/v1/loads?source_key=e.csv&source_key_match=exact")).Body.Ids().ShouldBeEmpty(); // globex's file
        using (var globex = _f.Serve.Client(_f.GlobexWrite))
        {
            (await globex.GetJsonAsync("/api/v1/loads?source_key=e.csv&source_key_match=exact")).Body.Ids().ShouldBe([_f.EventsErrored]);
            (await globex.GetJsonAsync("/api/v1/loads?source_key=old.csv")).Body.Ids().ShouldBeEmpty();
        }

        var format = (await client.GetJsonAsync("/api/v1/loads?error_kind=format")).Body;
        format.Ids().ShouldContain(_f.OrdersErrored);
        format.GetProperty("items").EnumerateArray().ShouldAllBe(l => l.GetProperty("error_kind").GetString() == "format" && l.GetProperty("customer").GetString() == "acme");
        (await client.GetJsonAsync("/api/v1/loads?error_kind=schema")).Body.Ids().ShouldBeEmpty();

        var (status, body, _) = await client.GetJsonAsync("/api/v1/loads?error_kind=broken&source_key_match=fuzzy&source_key=");
        status.ShouldBe(400);
        var errors = body.GetProperty("errors");
        errors.GetProperty("error_kind")[0].GetString()!.ShouldContain("'broken' is not an error kind; use one of transient, empty, format");
        errors.GetProperty("source_key_match")[0].GetString()!.ShouldContain("use contains, prefix or exact");
        errors.GetProperty("source_key")[0].GetString()!.ShouldContain("must not be empty");
    }

    [PostgresFact]
    public async Task Loads_PageWithACursor_WithoutRepeatsOrGaps()
    {
        using var client = _f.Serve.Client(_f.Admin);
        var all = (await client.GetJsonAsync("/api/v1/loads?limit=1000")).Body.Ids();
        all.Count.ShouldBeGreaterThan(4);
        all.ShouldBe(all.OrderByDescending(i => i).ToList());

        var paged = new List<long>();
        string? cursor = null;
        do
        {
            var (status, page, _) = await client.GetJsonAsync("/api/v1/loads?limit=2" + (cursor is null ? "" : "&cursor=" + cursor));
            status.ShouldBe(200);
            page.Ids().Count.ShouldBeLessThanOrEqualTo(2);
            paged.AddRange(page.Ids());
            cursor = page.GetProperty("next_cursor").GetString();
        }
        while (cursor is not null && paged.Count < 100);

        paged.Where(all.Contains).ShouldBe(all.Where(i => i <= paged.Max()).ToList());
        paged.Distinct().Count().ShouldBe(paged.Count);
    }

    [PostgresFact]
    public async Task Loads_AWindowPagedWithACursor_GivesEveryLoadOnce_NewestCreatedFirst_AndAnIdOnlyCursorIsRefused()
    {
        using var client = _f.Serve.Client(_f.Admin);
        var window = "since=" + Uri.EscapeDataString(DateTimeOffset.UtcNow.AddDays(-3).ToString("o")) + "&until=" + Uri.EscapeDataString(DateTimeOffset.UtcNow.AddMinutes(1).ToString("o"));
        var whole = (await client.GetJsonAsync($"/api/v1/loads?{window}&limit=1000")).Body;
        var all = whole.Ids();
        all.ShouldContain(_f.FrozenOld); // two days back: the window reaches it
        var created = whole.GetProperty("items").EnumerateArray().Select(l => (l.GetProperty("created_at").GetDateTimeOffset(), l.GetProperty("id").GetInt64())).ToList();
        created.ShouldBe(created.OrderByDescending(c => c.Item1).ThenByDescending(c => c.Item2).ToList());

        var paged = new List<long>();
        string? cursor = null;
        do
        {
            var (status, page, _) = await client.GetJsonAsync($"/api/v1/loads?{window}&limit=1" + (cursor is null ? "" : "&cursor=" + cursor));
            status.ShouldBe(200);
            paged.AddRange(page.Ids());
            cursor = page.GetProperty("next_cursor").GetString();
        }
        while (cursor is not null && paged.Count < 100);

        paged.ShouldBe(all);

        // A cursor of the id-only form earlier versions returned: refused, saying to start from the first page's.
        var idOnly = Intake.Server.Api.ApiInput.NewCursor("loads", _f.FrozenReady.ToString(System.Globalization.CultureInfo.InvariantCulture), "");
        var (refused, body, _) = await client.GetJsonAsync($"/api/v1/loads?{window}&cursor={idOnly}");
        refused.ShouldBe(400);
        body.GetProperty("errors").GetProperty("cursor")[0].GetString()!.ShouldContain("next_cursor");
    }

    [PostgresFact]
    public async Task Loads_WithInvalidFilters_Return400SayingWhatIsWrong()
    {
        using var client = Acme;
        var (status, body, response) = await client.GetJsonAsync("/api/v1/loads?status=broken&limit=0&since=yesterday&cursor=%%%");
        status.ShouldBe(400);
        response.Content.Headers.ContentType!.MediaType.ShouldBe("application/problem+json");
        var errors = body.GetProperty("errors");
        errors.GetProperty("status")[0].GetString()!.ShouldContain("'broken' is not a load status; use one of ready, ingesting");
        errors.GetProperty("limit")[0].GetString()!.ShouldContain("from 1 to 1000");
        errors.GetProperty("since")[0].GetString()!.ShouldContain("ISO 8601");
        errors.GetProperty("cursor")[0].GetString()!.ShouldContain("next_cursor");
        (await client.GetJsonAsync("/api/v1/loads?pipeline=nope")).Status.ShouldBe(404);
    }

    [PostgresFact]
    public async Task ShowLoad_GivesTheStepHistory()
    {
        using var client = Acme;
        var (status, detail, _) = await client.GetJsonAsync($"/api/v1/loads/{_f.OrdersErrored}");
        status.ShouldBe(200);
        detail.GetProperty("load").GetProperty("status").GetString().ShouldBe("errored");
        var steps = detail.GetProperty("steps").EnumerateArray().ToList();
        steps.Select(s => (s.GetProperty("step").GetString(), s.GetProperty("outcome").GetString())).ShouldBe([("fetch", "succeeded"), ("decompress", "failed")]);
        steps[1].GetProperty("error_kind").GetString().ShouldBe("format");
        steps[1].GetProperty("message").GetString().ShouldBe("not a gzip file");
        (await client.GetJsonAsync("/api/v1/loads/999999")).Status.ShouldBe(404);
    }

    [PostgresFact]
    public async Task Redrive_ErroredLoad_GoesBackToReady_ButAnIngestingOneIsRefused()
    {
        using var client = Acme;
        var (status, load, _) = await client.PostJsonAsync($"/api/v1/loads/{_f.OrdersToRedrive}/redrive");
        status.ShouldBe(200);
        load.GetProperty("status").GetString().ShouldBe("ready");
        load.GetProperty("error_kind").ValueKind.ShouldBe(JsonValueKind.Null);
        load.GetProperty("attempts").GetInt32().ShouldBe(0);

        // The workers take it again and resume at the first step without a success (decompress, attempt 2).
        var resumed = false;
        for (var i = 0; i < 100 && !resumed; i++)
        {
            var steps = (await client.GetJsonAsync($"/api/v1/loads/{_f.OrdersToRedrive}")).Body.GetProperty("steps").EnumerateArray();
            resumed = steps.Any(st => st.GetProperty("step").GetString() == "decompress" && st.GetProperty("attempt").GetInt32() == 2);
            await Task.Delay(100);
        }

        resumed.ShouldBeTrue();

        var (conflict, problem, _) = await client.PostJsonAsync($"/api/v1/jobs/{_f.OrdersIngestingToKeep}/redrive");
        conflict.ShouldBe(409);
        problem.GetProperty("detail").GetString()!.ShouldContain("is ingesting; only errored, held or archived loads can be re-driven");
    }

    [PostgresFact]
    public async Task Cancel_ReadyLoadIsHeld_IngestingLoadFails_ArchivedLoadIsRefused()
    {
        using var client = Acme;
        var (status, held, _) = await client.PostJsonAsync($"/api/v1/loads/{_f.FrozenReady}/cancel");
        status.ShouldBe(200);
        held.GetProperty("status").GetString().ShouldBe("held");
        held.GetProperty("held_reason").GetString()!.ShouldContain("cancelled through the API");

        var (_, failed, _) = await client.PostJsonAsync($"/api/v1/jobs/{_f.OrdersIngesting}/cancel");
        failed.GetProperty("status").GetString().ShouldBe("ready_for_erroring");
        failed.GetProperty("error_kind").GetString().ShouldBe("transient");
        failed.GetProperty("error_message").GetString()!.ShouldContain("cancelled through the API");
        failed.GetProperty("lease_owner").ValueKind.ShouldBe(JsonValueKind.Null);
        // The error path then quarantines it: errored, with the cancellation as its error.
        var final = "";
        for (var i = 0; i < 100 && final != "errored"; i++)
        {
            await Task.Delay(100);
            final = (await client.GetJsonAsync($"/api/v1/loads/{_f.OrdersIngesting}")).Body.GetProperty("load").GetProperty("status").GetString()!;
        }

        final.ShouldBe("errored");

        var (conflict, problem, _) = await client.PostJsonAsync($"/api/v1/loads/{_f.OrdersArchived}/cancel");
        conflict.ShouldBe(409);
        problem.GetProperty("detail").GetString()!.ShouldContain("only ready or ingesting loads can be cancelled");
    }

    [PostgresFact]
    public async Task Tables_AndWatermarks_AreListed()
    {
        using var client = Acme;
        var (_, table, _) = await client.GetJsonAsync("/api/v1/tables/orders");
        table.GetProperty("warehouse").GetString().ShouldBe("main");
        table.GetProperty("pipelines").EnumerateArray().Select(p => p.GetString()).ShouldBe(["orders"]);
        table.GetProperty("columns").EnumerateArray().Select(c => c.GetProperty("name").GetString()).ShouldBe(["id", "name"]);
        (await client.GetJsonAsync("/api/v1/tables/nope")).Status.ShouldBe(404);

        var (_, marks, _) = await client.GetJsonAsync("/api/v1/watermarks?pipeline=orders");
        var mark = marks.GetProperty("items").EnumerateArray().Single();
        mark.GetProperty("partition").GetString().ShouldBe("eu");
        mark.GetProperty("value").GetString().ShouldBe("2026-01-31");
    }

    [PostgresFact]
    public async Task OpenApiDocument_DescribesEveryEndpoint()
    {
        using var client = _f.Serve.Client(null);
        var (status, doc, _) = await client.GetJsonAsync("/api/v1/openapi.json");
        status.ShouldBe(200);
        var paths = doc.GetProperty("paths").EnumerateObject().Select(p => p.Name).ToList();
        paths.ShouldContain("/api/v1/pipelines/{name}/run");
        paths.ShouldContain("/api/v1/loads/{id}/redrive");
        paths.ShouldContain("/api/v1/jobs");
        paths.ShouldContain("/api/v1/watermarks");
        paths.ShouldContain("/api/v1/tables/{name}");
    }

    [PostgresFact]
    public async Task HealthReadyAndMetrics_AnswerWithoutAKey()
    {
        using var client = _f.Serve.Client(null);
        (await client.GetJsonAsync("/healthz")).Body.GetProperty("status").GetString().ShouldBe("ok");
        var (status, ready, _) = await client.GetJsonAsync("/readyz");
        status.ShouldBe(200);
        ready.GetProperty("checks").GetProperty("catalog").GetString().ShouldBe("ok");
        ready.GetProperty("checks").GetProperty("store:local").GetString().ShouldBe("ok");

        var response = await client.GetAsync("/metrics");
        response.Content.Headers.ContentType!.MediaType.ShouldBe("text/plain");
        var text = await response.Content.ReadAsStringAsync();
        text.ShouldContain("intake_loads{pipeline=\"events\",status=\"errored\"} 1");
        text.ShouldContain("# TYPE intake_queue_depth gauge");
        text.ShouldContain("intake_queue_depth{pool=\"ingest\"}");
        text.ShouldContain("# TYPE intake_step_duration_seconds histogram");
    }
}
