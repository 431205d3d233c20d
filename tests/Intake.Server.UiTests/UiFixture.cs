using Intake.Catalog;
using Intake.Core.Errors;
using Intake.Core.Model;
using Intake.Core.Ports;
using Intake.Server.Auth;
using Intake.Server.Tests;
using Intake.Tests.Shared;
using Microsoft.Playwright;

namespace Intake.Server.UiTests;

/// <summary>
/// One <c>intake serve</c> on a fresh PostgreSQL catalog and one headless Chromium, shared by the UI tests. Two
/// customers: acme (pipeline orders) and globex (pipeline events), keys of each scope, and errored and archived loads
/// of each. orders is paused, so a load re-driven by a test stays <c>ready</c> (no worker takes it) and the test sees
/// exactly what the action did.
/// </summary>
public sealed class UiFixture : IAsyncLifetime
{
    public Workspace Workspace { get; private set; } = null!;
    public Workspace.Serve Serve { get; private set; } = null!;
    public string Connection { get; private set; } = null!;
    public IPlaywright Playwright { get; private set; } = null!;
    public IBrowser Browser { get; private set; } = null!;

    public string AcmeRead { get; private set; } = null!;
    public string AcmeWrite { get; private set; } = null!;
    public string GlobexWrite { get; private set; } = null!;
    public string Admin { get; private set; } = null!;

    public long OrdersErrored { get; private set; }
    public long OrdersToRedrive { get; private set; }
    public long OrdersArchived { get; private set; }
    public long EventsErrored { get; private set; }
    /// <summary>Ready loads of the paused orders: one to cancel, one whose page watches it change.</summary>
    public long OrdersToCancel { get; private set; }
    public long OrdersWatched { get; private set; }

    /// <summary>Where screenshots go: under the test output folder.</summary>
    public static string Artifacts { get; } = Path.Combine(AppContext.BaseDirectory, "artifacts");

    public async Task InitializeAsync()
    {
        if (!TestPostgres.IsReachable || !TestChromium.IsInstalled)
        {
            return; // every test is a [UiFact]: skipped locally, failing in CI
        }

        Connection = await TestPostgres.CreateDatabaseAsync("ui");
        Workspace = new Workspace(Connection);
        Workspace.WritePipeline("orders", "acme");
        Workspace.WritePipeline("events", "globex");

        await using (var catalog = new PostgresCatalog(Connection, TimeProvider.System))
        {
            await catalog.MigrateAsync(default);
            OrdersErrored = await ErroredAsync(catalog, "orders", "acme", "2026/12/orders-a.csv.gz");
            OrdersToRedrive = await ErroredAsync(catalog, "orders", "acme", "2026/12/orders-b.csv.gz");
            OrdersArchived = await ArchivedAsync(catalog, "orders", "acme", "2026/12/orders-c.csv");
            EventsErrored = await ErroredAsync(catalog, "events", "globex", "events-1.csv.gz");
            await catalog.PausePipelineAsync("orders", "ui tests", default);
            OrdersToCancel = (await catalog.RegisterLoadAsync(new NewLoad("orders", "acme", "2026/12/orders-d.csv", "f"), default)).Load.Id;
            OrdersWatched = (await catalog.RegisterLoadAsync(new NewLoad("orders", "acme", "2026/12/orders-e.csv", "f"), default)).Load.Id;
            await catalog.PausePipelineAsync("events", "ui tests", default);

            AcmeRead = (await ApiKeys.CreateAsync(catalog, "acme", ApiKeyScope.Read, "acme reader", default)).Key;
            AcmeWrite = (await ApiKeys.CreateAsync(catalog, "acme", ApiKeyScope.Write, "acme writer", default)).Key;
            GlobexWrite = (await ApiKeys.CreateAsync(catalog, "globex", ApiKeyScope.Write, null, default)).Key;
            Admin = (await ApiKeys.CreateAsync(catalog, "*", ApiKeyScope.Admin, "ops", default)).Key;
        }

        // A browser sends many requests without a key (sign-in pages, redirects): lift the per-address limit.
        Serve = await Workspace.StartServeAsync("--anonymous-rate-limit", "100000/1m", "--workers", "1", "--poll", "200ms");
        Playwright = await Microsoft.Playwright.Playwright.CreateAsync();
        // Debian's chromium; as root it runs only without its sandbox.
        Browser = await Playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = TestChromium.Executable,
            Args = Environment.UserName == "root" ? ["--no-sandbox"] : [],
            Headless = true,
        });
    }

    /// <summary>A fresh browser session (its own cookies) on the server.</summary>
    public async Task<IPage> NewPageAsync(ColorScheme scheme = ColorScheme.Light)
    {
        var context = await Browser.NewContextAsync(new BrowserNewContextOptions { BaseURL = Serve.BaseAddress.ToString(), ColorScheme = scheme, ViewportSize = new ViewportSize { Width = 1280, Height = 900 } });
        return await context.NewPageAsync();
    }

    /// <summary>Signs in through the form, as an operator does, and returns the page it lands on.</summary>
    public async Task<IPage> SignedInAsync(string key, string path = "/ui/")
    {
        var page = await NewPageAsync();
        await page.GotoAsync(path);
        await page.GetByLabel("API key").FillAsync(key);
        await page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
        await page.WaitForURLAsync(u => !u.Contains("/ui/signin", StringComparison.Ordinal));
        return page;
    }

    /// <summary>Holds a ready load, as a step waiting for a prerequisite does, behind the UI's back.</summary>
    public async Task HoldAsync(long id, string reason)
    {
        await using var catalog = new PostgresCatalog(Connection, TimeProvider.System);
        (await catalog.TransitionAsync(id, LoadStatus.Ready, LoadStatus.Held, new TransitionDetails { HeldReason = reason }, default)).ShouldBeTrue();
    }

    public async Task<Load> LoadAsync(long id)
    {
        await using var catalog = new PostgresCatalog(Connection, TimeProvider.System);
        return (await catalog.GetLoadAsync(id, default))!;
    }

    private static async Task<long> ErroredAsync(ICatalog catalog, string pipeline, string customer, string key)
    {
        var id = (await catalog.RegisterLoadAsync(new NewLoad(pipeline, customer, key, "f", 2048), default)).Load.Id;
        (await catalog.ClaimAsync(new ClaimRequest { Worker = "seed", Lease = TimeSpan.FromMinutes(5), Pipelines = [pipeline] }, default))!.Id.ShouldBe(id);
        var fetch = await catalog.StartStepAsync(id, "fetch", 1, "seed", default);
        await catalog.FinishStepAsync(fetch, new StepResult { BytesIn = 2048, BytesOut = 2048, Outputs = [$"inbox:{customer}/{key}"] }, default);
        var decompress = await catalog.StartStepAsync(id, "decompress", 1, "seed", default);
        await catalog.FinishStepAsync(decompress, StepResult.Failed(ErrorKind.Format, $"{key}: not a gzip file (byte 0 is 0x69, not 0x1f); check the file or the pipeline's compression"), default);
        (await catalog.TransitionAsync(id, LoadStatus.Ingesting, LoadStatus.ReadyForErroring, new TransitionDetails { LeaseOwner = "seed", ErrorKind = ErrorKind.Format, ErrorMessage = $"{key}: not a gzip file" }, default)).ShouldBeTrue();
        (await catalog.ClaimAsync(new ClaimRequest { Worker = "seed", From = LoadStatus.ReadyForErroring, Lease = TimeSpan.FromMinutes(5), Pipelines = [pipeline] }, default))!.Id.ShouldBe(id);
        (await catalog.TransitionAsync(id, LoadStatus.Erroring, LoadStatus.Errored, new TransitionDetails { LeaseOwner = "seed" }, default)).ShouldBeTrue();
        return id;
    }

    private static async Task<long> ArchivedAsync(ICatalog catalog, string pipeline, string customer, string key)
    {
        var id = (await catalog.RegisterLoadAsync(new NewLoad(pipeline, customer, key, "f", 4096), default)).Load.Id;
        (await catalog.ClaimAsync(new ClaimRequest { Worker = "seed", Lease = TimeSpan.FromMinutes(5), Pipelines = [pipeline] }, default))!.Id.ShouldBe(id);
        var fetch = await catalog.StartStepAsync(id, "fetch", 1, "seed", default);
        await catalog.FinishStepAsync(fetch, new StepResult { BytesIn = 4096, BytesOut = 4096, Outputs = [$"inbox:{customer}/{key}"] }, default);
        (await catalog.TransitionAsync(id, LoadStatus.Ingesting, LoadStatus.ReadyForArchiving, new TransitionDetails { LeaseOwner = "seed", InboxKey = $"{customer}/{key}" }, default)).ShouldBeTrue();
        (await catalog.ClaimAsync(new ClaimRequest { Worker = "seed", From = LoadStatus.ReadyForArchiving, Lease = TimeSpan.FromMinutes(5), Pipelines = [pipeline] }, default))!.Id.ShouldBe(id);
        var archive = await catalog.StartStepAsync(id, "archive", 1, "seed", default);
        await catalog.FinishStepAsync(archive, new StepResult { BytesIn = 4096, BytesOut = 4096, Outputs = [$"archive:{customer}/{key}"] }, default);
        (await catalog.TransitionAsync(id, LoadStatus.Archiving, LoadStatus.Archived, new TransitionDetails { LeaseOwner = "seed" }, default)).ShouldBeTrue();
        return id;
    }

    public async Task DisposeAsync()
    {
        if (Browser is not null)
        {
            await Browser.DisposeAsync();
        }

        Playwright?.Dispose();
        if (Serve is not null)
        {
            await Serve.DisposeAsync();
        }

        Workspace?.Dispose();
    }
}
