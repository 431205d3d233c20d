using System.Globalization;
using Intake.Catalog;
using Intake.Core.Model;
using Intake.Core.Ports;
using Microsoft.Playwright;

namespace Intake.Server.UiTests;

/// <summary>The Overview, Pipelines and Exports pages, driven in Chromium against a real <c>intake serve</c> (its own server and catalog).</summary>
public sealed class OverviewPageTests : IClassFixture<UiFixture>
{
    private readonly UiFixture _ui;

    public OverviewPageTests(UiFixture ui) => _ui = ui;

    [UiFact]
    public async Task Overview_ShowsEachCustomersLoadsPerStatus_AsTheCatalogCountsThem_AndNoOtherCustomersPipeline()
    {
        foreach (var (key, customer, mine, theirs) in new[] { (_ui.AcmeWrite, "acme", "orders", "events"), (_ui.GlobexWrite, "globex", "events", "orders") })
        {
            var page = await _ui.SignedInAsync(key);
            var table = page.GetByTestId("overview");
            (await table.Locator("tbody > tr").EvaluateAllAsync<string[]>("rows => rows.map(r => r.dataset.pipeline)")).ShouldBe([mine]);
            (await page.ContentAsync()).ShouldNotContain(theirs);

            await using var catalog = new PostgresCatalog(_ui.Connection, TimeProvider.System);
            var counts = await ((ICatalogQueries)catalog).CountByPipelineAndStatusAsync(customer, default);
            var shown = await table.Locator($"tr[data-pipeline={mine}] ul.counts > li").EvaluateAllAsync<string[]>("items => items.map(i => i.dataset.status + '=' + i.querySelector('.n').textContent)");
            shown.ShouldBe(counts.Where(c => c.Pipeline == mine).Select(c => $"{c.Status.ToWord()}={c.Count.ToString(CultureInfo.InvariantCulture)}").ToArray());
            shown.ShouldContain(s => s.StartsWith("errored=", StringComparison.Ordinal), customer); // seeded by the fixture: words, not colours
            (await table.Locator($"tr[data-pipeline={mine}] [data-testid=next-run]").InnerTextAsync()).ShouldContain("paused");
            (await table.Locator($"tr[data-pipeline={mine}] [data-testid=errors-24h] a").GetAttributeAsync("href")).ShouldBe($"/ui/errors?pipeline={mine}");
        }
    }

    [UiFact]
    public async Task Overview_ChartsRowsPerHour_ForTheLast7Days_FromTheLoadSteps()
    {
        await WrittenAsync("orders", "acme", 120);
        await WrittenAsync("orders", "acme", 5);
        await WrittenAsync("events", "globex", 70);

        var page = await _ui.SignedInAsync(_ui.AcmeRead);
        var chart = page.GetByTestId("rows-chart");
        (await chart.GetAttributeAsync("data-hours")).ShouldBe("168");
        var bars = await chart.Locator("rect.bar").EvaluateAllAsync<string[]>("bars => bars.map(b => b.dataset.rows)");
        bars.Length.ShouldBe(168); // one bar per hour of 7 days, the hours without rows too
        bars.Where(b => b != "0").ShouldBe(["125"]); // acme's two loads in this hour; never globex's rows
        (await chart.GetAttributeAsync("data-total")).ShouldBe("125");
        (await chart.Locator("svg > title").TextContentAsync()).ShouldBe("Rows written per hour, last 7 days");
        (await chart.Locator("svg > desc").TextContentAsync())!.ShouldContain("125 rows written");
        (await chart.Locator("rect.bar[data-rows='125'] > title").TextContentAsync())!.ShouldEndWith(": 125 rows");
        (await page.GetByTestId("overview").Locator("tr[data-pipeline=orders] [data-testid=rows-today]").TextContentAsync()).ShouldBe("125");

        await chart.GetByText("The figures as a table").ClickAsync();
        (await page.GetByTestId("chart-table").Locator("tbody > tr").CountAsync()).ShouldBe(1);
    }

    [UiFact]
    public async Task Pipeline_ResumeRunNowAndPause_DoWhatTheApiDoes()
    {
        File.WriteAllText(Path.Combine(_ui.Workspace.Incoming("orders"), "run-now.csv"), "id,name\n1,a\n");
        var page = await _ui.SignedInAsync(_ui.AcmeWrite, "/ui/pipelines/orders");
        (await page.GetByTestId("pipeline-state").GetAttributeAsync("data-paused")).ShouldBe("true");
        (await page.GetByTestId("config").InnerTextAsync()).ShouldContain("acme");
        (await page.GetByTestId("run").CountAsync()).ShouldBe(0); // a paused pipeline does not run

        await page.GetByRole(AriaRole.Button, new() { Name = "Resume" }).ClickAsync();
        await page.WaitForURLAsync("**/ui/pipelines/orders");
        (await page.GetByRole(AriaRole.Status).InnerTextAsync()).ShouldContain("Pipeline orders resumed");
        (await page.GetByTestId("pipeline-state").GetAttributeAsync("data-paused")).ShouldBe("false");
        (await PausedAsync()).ShouldNotContain("orders");

        await page.GetByRole(AriaRole.Button, new() { Name = "Run now" }).ClickAsync();
        await page.WaitForURLAsync("**/ui/pipelines/orders");
        // The server's own polling may queue the file first once the pipeline is resumed: the run then finds it already seen.
        (await page.GetByRole(AriaRole.Status).InnerTextAsync()).ShouldMatch("Pipeline orders ran: (1 new file queued as loads, 0 seen|0 new files queued as loads, 1 seen) in its source");
        await using (var catalog = new PostgresCatalog(_ui.Connection, TimeProvider.System))
        {
            (await catalog.ListLoadsAsync(new LoadQuery { Pipeline = "orders", SourceKey = "run-now.csv", SourceKeyMatch = SourceKeyMatch.Exact }, default)).Count.ShouldBe(1);
        }

        await page.GetByRole(AriaRole.Button, new() { Name = "Pause" }).ClickAsync();
        await page.WaitForURLAsync("**/ui/pipelines/orders");
        (await page.GetByRole(AriaRole.Status).InnerTextAsync()).ShouldContain("Pipeline orders paused");
        (await page.GetByTestId("pipeline-state").GetAttributeAsync("data-paused")).ShouldBe("true");
        (await PausedAsync()).ShouldContain("orders");
    }

    [UiFact]
    public async Task ReadKey_SeesNoPipelineActions_AndAForgedPauseIsRefused_AnotherCustomersPipelineIs404()
    {
        var page = await _ui.SignedInAsync(_ui.AcmeRead, "/ui/pipelines/events");
        (await page.GetByRole(AriaRole.Heading, new() { Level = 1 }).TextContentAsync()).ShouldBe("No such pipeline");

        var response = await page.GotoAsync("/ui/pipelines/orders");
        response!.Status.ShouldBe(200);
        (await page.GetByRole(AriaRole.Group, new() { Name = "Actions on this pipeline" }).CountAsync()).ShouldBe(0);
        (await page.GetByRole(AriaRole.Button).AllTextContentsAsync()).ShouldBe(["Sign out"]);

        var token = await page.Locator("input[name=__token]").First.InputValueAsync();
        var before = await PausedAsync();
        foreach (var action in new[] { "resume", "pause", "run" })
        {
            var post = await page.Context.APIRequest.PostAsync($"/ui/pipelines/orders/{action}", new APIRequestContextOptions { Form = page.Context.APIRequest.CreateFormData().Set("__token", token), MaxRedirects = 0 });
            post.Status.ShouldBe(403, action);
        }

        (await PausedAsync()).ShouldBe(before);

        // A write key of another customer: the pipeline does not exist for it.
        var globex = await _ui.SignedInAsync(_ui.GlobexWrite, "/ui/pipelines");
        var globexToken = await globex.Locator("input[name=__token]").First.InputValueAsync();
        var forged = await globex.Context.APIRequest.PostAsync("/ui/pipelines/orders/resume", new APIRequestContextOptions { Form = globex.Context.APIRequest.CreateFormData().Set("__token", globexToken), MaxRedirects = 0 });
        forged.Status.ShouldBe(404);
        (await PausedAsync()).ShouldBe(before);
        (await globex.GetByTestId("pipelines").Locator("tbody > tr").EvaluateAllAsync<string[]>("rows => rows.map(r => r.dataset.pipeline)")).ShouldBe(["events"]);
    }

    [UiFact]
    public async Task Exports_ShowsTheWatermarkOfEachPartition_ToItsCustomerOnly()
    {
        await using (var catalog = new PostgresCatalog(_ui.Connection, TimeProvider.System))
        {
            var now = DateTimeOffset.UtcNow;
            var end = new DateTimeOffset(2026, 11, 30, 0, 0, 0, TimeSpan.Zero);
            await catalog.AddExportRequestAsync(new ExportRequestRecord { Pipeline = "orders", Customer = "acme", RequestKey = "ui-export-1", ExportType = "daily", End = end, NotBefore = now, Tag = "nightly" }, default);
            await catalog.RecordExportPartitionAsync(new ExportPartitionResult { Pipeline = "orders", RequestKey = "ui-export-1", Partition = "study-7", WindowEnd = end, Succeeded = true, Rows = 10 }, end, default);
        }

        var page = await _ui.SignedInAsync(_ui.AcmeRead, "/ui/exports");
        var mark = page.GetByTestId("watermarks").Locator("tr[data-partition=study-7]");
        (await mark.GetAttributeAsync("data-pipeline")).ShouldBe("orders");
        (await mark.InnerTextAsync()).ShouldContain("2026-11-30");
        (await page.GetByTestId("export-requests").InnerTextAsync()).ShouldContain("nightly");

        var globex = await _ui.SignedInAsync(_ui.GlobexWrite, "/ui/exports");
        (await globex.GetByTestId("watermarks").CountAsync()).ShouldBe(0);
        (await globex.ContentAsync()).ShouldNotContain("study-7");
        (await globex.ContentAsync()).ShouldNotContain("nightly");
    }

    [UiFact]
    public async Task StreamsAndMail_AreOnlyShown_WhenTheKeyHasSuchPipelines()
    {
        var page = await _ui.SignedInAsync(_ui.Admin);
        var sections = await page.GetByRole(AriaRole.Navigation, new() { Name = "Sections" }).GetByRole(AriaRole.Link).AllTextContentsAsync();
        sections.ShouldContain("Pipelines");
        sections.ShouldContain("Exports");
        sections.ShouldNotContain("Streams"); // the fixture's pipelines read folders: no stream, no mail
        sections.ShouldNotContain("Mail");
        (await page.GotoAsync("/ui/streams"))!.Status.ShouldBe(404);
        (await page.GotoAsync("/ui/mail"))!.Status.ShouldBe(404);
        (await page.GetByTestId("status-message").TextContentAsync()).ShouldBe("No pipeline of this key has a mail source.");
    }

    private async Task<string[]> PausedAsync()
    {
        await using var catalog = new PostgresCatalog(_ui.Connection, TimeProvider.System);
        return [.. (await catalog.GetPausedPipelinesAsync(default)).Keys.Order(StringComparer.Ordinal)];
    }

    /// <summary>A load whose load step wrote <paramref name="rows"/> rows now, as a worker records it.</summary>
    private async Task WrittenAsync(string pipeline, string customer, long rows)
    {
        await using var catalog = new PostgresCatalog(_ui.Connection, TimeProvider.System);
        var id = (await catalog.RegisterLoadAsync(new NewLoad(pipeline, customer, $"chart-{Guid.NewGuid():N}.csv", "f", 100), default)).Load.Id;
        var step = await catalog.StartStepAsync(id, "load", 1, "seed", default);
        await catalog.FinishStepAsync(step, new StepResult { RowsIn = rows, RowsOut = rows, BytesIn = 100 }, default);
    }
}
