using System.Globalization;
using Intake.Catalog;
using Intake.Core.Errors;
using Intake.Core.Model;
using Intake.Core.Ports;
using Intake.Server.Auth;
using Intake.Server.Tests;
using Intake.Tests.Shared;
using Microsoft.Playwright;
using Xunit.Abstractions;

namespace Intake.Server.UiTests;

/// <summary>
/// The screenshots in docs/ (ui-overview.png, ui-loads.png), taken of a catalog that looks like a working week: four
/// pipelines of two customers, a load every two hours each for seven days with rows that rise and fall over the day,
/// some errored (several kinds), one held, one pipeline paused. Light mode, 1280×800. They are written under the test
/// output folder; with <c>INTAKE_UI_DOCS_SCREENSHOTS=1</c> also over the ones in docs/ (run it after a visible change:
/// <c>INTAKE_UI_DOCS_SCREENSHOTS=1 dotnet test tests/Intake.Server.UiTests --filter DocsScreenshotTests</c>).
/// </summary>
public sealed class DocsScreenshotTests : IAsyncLifetime
{
    private static readonly (string Name, string Customer, int Rows)[] Pipelines =
    [
        ("orders", "acme", 1800), ("invoices", "acme", 420), ("events", "globex", 5200), ("clickstream", "globex", 2600),
    ];

    private readonly ITestOutputHelper _output;
    private Workspace _workspace = null!;
    private Workspace.Serve _serve = null!;
    private IPlaywright _playwright = null!;
    private IBrowser _browser = null!;
    private string _admin = null!;

    public DocsScreenshotTests(ITestOutputHelper output) => _output = output;

    public async Task InitializeAsync()
    {
        if (!TestPostgres.IsReachable || !TestChromium.IsInstalled)
        {
            return; // every test is a [UiFact]: skipped locally, failing in CI
        }

        var connection = await TestPostgres.CreateDatabaseAsync("uidocs");
        _workspace = new Workspace(connection);
        _workspace.WritePipeline("orders", "acme", "schedule: \"0 * * * *\"");
        _workspace.WritePipeline("invoices", "acme");
        _workspace.WritePipeline("events", "globex", "schedule: \"*/30 * * * *\"");
        _workspace.WritePipeline("clickstream", "globex");

        var now = DateTimeOffset.UtcNow;
        var clock = new ManualTimeProvider(now);
        await using (var catalog = new PostgresCatalog(connection, clock))
        {
            await catalog.MigrateAsync(default);
            var errors = new (ErrorKind Kind, string Message)[]
            {
                (ErrorKind.Format, "line 1: the file is not a gzip file (byte 0 is 0x69, not 0x1f); check the file or the pipeline's compression"),
                (ErrorKind.Schema, "line 214, column \"amount\": \"12,50\" is not a number; fix the file or declare the column as text"),
                (ErrorKind.Integrity, "the archive's checksum does not match the file's (sha-256 differs); the upload was cut short, send the file again"),
            };
            var n = 0;
            for (var hoursAgo = 167; hoursAgo >= 0; hoursAgo -= 2)
            {
                foreach (var (name, customer, rows) in Pipelines)
                {
                    n++;
                    clock.Set(now - TimeSpan.FromHours(hoursAgo) - TimeSpan.FromMinutes(5 + (n % 40)));
                    var key = $"in/{customer}/{name}/{clock.GetUtcNow():yyyy/MM/dd}/{name}_{clock.GetUtcNow():HHmm}.csv.gz";
                    var hour = clock.GetUtcNow().Hour;
                    // busier by day than by night, and a little different every load
                    var count = (long)(rows * (0.35 + 0.65 * Math.Max(0, Math.Sin((hour - 5) / 24.0 * 2 * Math.PI))) * (0.8 + 0.4 * ((n * 37) % 11) / 10.0));
                    if (n % 23 == 0 || (hoursAgo < 20 && n % 7 == 0))
                    {
                        var (kind, message) = errors[n % errors.Length];
                        await ErroredAsync(catalog, name, customer, key, kind, message);
                    }
                    else
                    {
                        await ArchivedAsync(catalog, name, customer, key, count);
                    }
                }
            }

            clock.Set(now - TimeSpan.FromMinutes(3));
            var held = (await catalog.RegisterLoadAsync(new NewLoad("invoices", "acme", $"in/acme/invoices/{now:yyyy/MM/dd}/invoices_late.csv.gz", "f", 18_432), default)).Load.Id;
            (await catalog.TransitionAsync(held, LoadStatus.Ready, LoadStatus.Held, new TransitionDetails { HeldReason = "waits for the day's orders file (prerequisite orders)" }, default)).ShouldBeTrue();
            await catalog.PausePipelineAsync("clickstream", "key ops (maintenance of the warehouse table)", default);
            _admin = (await ApiKeys.CreateAsync(catalog, "*", ApiKeyScope.Admin, "ops", default)).Key;
        }

        _serve = await _workspace.StartServeAsync("--anonymous-rate-limit", "100000/1m", "--workers", "1");
        _playwright = await Playwright.CreateAsync();
        _browser = await _playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = TestChromium.Executable,
            Args = Environment.UserName == "root" ? ["--no-sandbox"] : [],
            Headless = true,
        });
    }

    private static async Task ArchivedAsync(PostgresCatalog catalog, string pipeline, string customer, string key, long rows)
    {
        var bytes = rows * 61;
        var id = (await catalog.RegisterLoadAsync(new NewLoad(pipeline, customer, key, "f", bytes / 6), default)).Load.Id;
        (await catalog.ClaimAsync(new ClaimRequest { Worker = "w1", Lease = TimeSpan.FromMinutes(5), Pipelines = [pipeline] }, default))!.Id.ShouldBe(id);
        foreach (var (step, result) in new (string, StepResult)[]
        {
            ("fetch", new StepResult { BytesIn = bytes / 6, BytesOut = bytes / 6, Outputs = [$"inbox:{key}"] }),
            ("decompress", new StepResult { BytesIn = bytes / 6, BytesOut = bytes }),
            ("validate", new StepResult { RowsIn = rows, RowsOut = rows, BytesIn = bytes, BytesOut = bytes }),
        })
        {
            await catalog.FinishStepAsync(await catalog.StartStepAsync(id, step, 1, "w1", default), result, default);
        }

        (await catalog.TransitionAsync(id, LoadStatus.Ingesting, LoadStatus.ReadyForArchiving, new TransitionDetails { LeaseOwner = "w1", InboxKey = key }, default)).ShouldBeTrue();
        (await catalog.ClaimAsync(new ClaimRequest { Worker = "w1", From = LoadStatus.ReadyForArchiving, Lease = TimeSpan.FromMinutes(5), Pipelines = [pipeline] }, default))!.Id.ShouldBe(id);
        await catalog.FinishStepAsync(await catalog.StartStepAsync(id, "archive", 1, "w1", default), new StepResult { BytesIn = bytes / 6, BytesOut = bytes / 6, Outputs = [$"archive:{key}"] }, default);
        await catalog.FinishStepAsync(await catalog.StartStepAsync(id, "load", 1, "w1", default), new StepResult { RowsIn = rows, RowsOut = rows, BytesIn = bytes, Outputs = [$"table:{pipeline}"] }, default);
        (await catalog.TransitionAsync(id, LoadStatus.Archiving, LoadStatus.Archived, new TransitionDetails { LeaseOwner = "w1" }, default)).ShouldBeTrue();
    }

    private static async Task ErroredAsync(PostgresCatalog catalog, string pipeline, string customer, string key, ErrorKind kind, string message)
    {
        var id = (await catalog.RegisterLoadAsync(new NewLoad(pipeline, customer, key, "f", 20_480), default)).Load.Id;
        (await catalog.ClaimAsync(new ClaimRequest { Worker = "w1", Lease = TimeSpan.FromMinutes(5), Pipelines = [pipeline] }, default))!.Id.ShouldBe(id);
        await catalog.FinishStepAsync(await catalog.StartStepAsync(id, "fetch", 1, "w1", default), new StepResult { BytesIn = 20_480, BytesOut = 20_480 }, default);
        await catalog.FinishStepAsync(await catalog.StartStepAsync(id, "decompress", 1, "w1", default), StepResult.Failed(kind, message), default);
        (await catalog.TransitionAsync(id, LoadStatus.Ingesting, LoadStatus.ReadyForErroring, new TransitionDetails { LeaseOwner = "w1", ErrorKind = kind, ErrorMessage = message }, default)).ShouldBeTrue();
        (await catalog.ClaimAsync(new ClaimRequest { Worker = "w1", From = LoadStatus.ReadyForErroring, Lease = TimeSpan.FromMinutes(5), Pipelines = [pipeline] }, default))!.Id.ShouldBe(id);
        (await catalog.TransitionAsync(id, LoadStatus.Erroring, LoadStatus.Errored, new TransitionDetails { LeaseOwner = "w1" }, default)).ShouldBeTrue();
    }

    [UiFact]
    public async Task Screenshots_OfTheOverviewAndTheLoads_ForTheDocs()
    {
        var context = await _browser.NewContextAsync(new BrowserNewContextOptions
        {
            BaseURL = _serve.BaseAddress.ToString(), ColorScheme = ColorScheme.Light, ViewportSize = new ViewportSize { Width = 1280, Height = 800 },
        });
        var page = await context.NewPageAsync();
        await page.GotoAsync("/ui/");
        await page.GetByLabel("API key").FillAsync(_admin);
        await page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
        await page.WaitForURLAsync(u => !u.Contains("/ui/signin", StringComparison.Ordinal));

        // What the pictures must show: every pipeline, errors, and a chart with rows in most hours.
        (await page.GetByTestId("overview").Locator("tbody > tr").CountAsync()).ShouldBe(Pipelines.Length);
        var bars = await page.GetByTestId("rows-chart").Locator("rect.bar").EvaluateAllAsync<string[]>("bars => bars.map(b => b.dataset.rows)");
        bars.Count(b => b != "0").ShouldBeGreaterThan(60);
        await ShootAsync(page, "ui-overview.png");

        await page.GotoAsync("/ui/loads");
        (await page.Locator("[data-testid=loads] tbody tr").CountAsync()).ShouldBe(50);
        (await page.GetByText("errored", new() { Exact = true }).CountAsync()).ShouldBeGreaterThan(0);
        await ShootAsync(page, "ui-loads.png");
    }

    private async Task ShootAsync(IPage page, string name)
    {
        Directory.CreateDirectory(UiFixture.Artifacts);
        var path = Path.Combine(UiFixture.Artifacts, name);
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = path });
        var size = new FileInfo(path).Length;
        size.ShouldBeGreaterThan(20_000);
        size.ShouldBeLessThan(200_000, "a screenshot for the docs stays small");
        _output.WriteLine($"screenshot: {path} ({size.ToString(CultureInfo.InvariantCulture)} bytes)");
        if (Environment.GetEnvironmentVariable("INTAKE_UI_DOCS_SCREENSHOTS") == "1")
        {
            File.Copy(path, Path.Combine(TestRepo.Root, "docs", name), overwrite: true);
            _output.WriteLine($"copied to docs/{name}");
        }
    }

    public async Task DisposeAsync()
    {
        if (_browser is not null)
        {
            await _browser.DisposeAsync();
        }

        _playwright?.Dispose();
        if (_serve is not null)
        {
            await _serve.DisposeAsync();
        }

        _workspace?.Dispose();
    }
}
