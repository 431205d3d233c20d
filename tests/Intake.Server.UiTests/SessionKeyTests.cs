using Intake.Catalog;
using Intake.Core.Ports;
using Intake.Server.Auth;
using Intake.Server.Tests;
using Intake.Tests.Shared;
using Microsoft.Playwright;

namespace Intake.Server.UiTests;

/// <summary>
/// Sign-ins outlive a restart and work on every server of one catalog: the keys that protect the session cookie are
/// kept in the catalog, not in one process's memory. Each test starts its own servers on its own catalog.
/// </summary>
public sealed class SessionKeyTests : IAsyncLifetime
{
    private Workspace _workspace = null!;
    private IPlaywright _playwright = null!;
    private IBrowser _browser = null!;
    private string _key = null!;

    public async Task InitializeAsync()
    {
        if (!TestPostgres.IsReachable || !TestChromium.IsInstalled)
        {
            return; // every test is a [UiFact]: skipped locally, failing in CI
        }

        var connection = await TestPostgres.CreateDatabaseAsync("uisess");
        _workspace = new Workspace(connection);
        _workspace.WritePipeline("orders", "acme");
        await using (var catalog = new PostgresCatalog(connection, TimeProvider.System))
        {
            await catalog.MigrateAsync(default);
            _key = (await ApiKeys.CreateAsync(catalog, "acme", ApiKeyScope.Read, "acme reader", default)).Key;
        }

        _playwright = await Playwright.CreateAsync();
        _browser = await _playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = TestChromium.Executable,
            Args = Environment.UserName == "root" ? ["--no-sandbox"] : [],
            Headless = true,
        });
    }

    private Task<Workspace.Serve> StartAsync() => _workspace.StartServeAsync("--anonymous-rate-limit", "100000/1m", "--workers", "0");

    /// <summary>Signs in on <paramref name="server"/> through its form, in a browser session of its own.</summary>
    private async Task<IPage> SignInAsync(Workspace.Serve server)
    {
        var context = await _browser.NewContextAsync();
        var page = await context.NewPageAsync();
        await page.GotoAsync(new Uri(server.BaseAddress, "/ui/").ToString());
        await page.GetByLabel("API key").FillAsync(_key);
        await page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
        await page.WaitForURLAsync(u => !u.Contains("/ui/signin", StringComparison.Ordinal));
        (await page.GetByTestId("customer").TextContentAsync()).ShouldBe("acme");
        return page;
    }

    /// <summary>Opens a page of <paramref name="server"/> with the browser's cookies; true when it opened signed in (no sign-in form).</summary>
    private static async Task<bool> OpensSignedInAsync(IPage page, Workspace.Serve server, string path)
    {
        var response = (await page.GotoAsync(new Uri(server.BaseAddress, path).ToString()))!;
        response.Status.ShouldBe(200);
        return !page.Url.Contains("/ui/signin", StringComparison.Ordinal) && await page.GetByTestId("customer").CountAsync() == 1;
    }

    [UiFact]
    public async Task ASignIn_SurvivesARestartOfTheServer()
    {
        var first = await StartAsync();
        IPage page;
        try
        {
            page = await SignInAsync(first);
        }
        finally
        {
            await first.DisposeAsync();
        }

        // The same catalog, a new process (and a new port: cookies belong to the host, not the port).
        await using var restarted = await StartAsync();
        (await OpensSignedInAsync(page, restarted, "/ui/loads")).ShouldBeTrue();
        (await page.GetByTestId("customer").TextContentAsync()).ShouldBe("acme");
    }

    [UiFact]
    public async Task TwoServersOnOneCatalog_AcceptOneCookie_AndEachOthersFormTokens()
    {
        await using var a = await StartAsync();
        await using var b = await StartAsync();
        var page = await SignInAsync(a);

        (await OpensSignedInAsync(page, b, "/ui/")).ShouldBeTrue();
        (await OpensSignedInAsync(page, a, "/ui/loads")).ShouldBeTrue();

        // A form of a page server a rendered, posted to server b (a load balancer may send the post anywhere).
        await page.GotoAsync(new Uri(a.BaseAddress, "/ui/").ToString());
        var token = await page.Locator("input[name=__token]").First.InputValueAsync();
        var signOut = await page.Context.APIRequest.PostAsync(new Uri(b.BaseAddress, "/ui/signout").ToString(), new()
        {
            Form = page.Context.APIRequest.CreateFormData().Set("__token", token),
            MaxRedirects = 0,
        });
        signOut.Status.ShouldBe(303);
        (await OpensSignedInAsync(page, a, "/ui/")).ShouldBeFalse(); // signed out everywhere: the cookie is gone
    }

    public async Task DisposeAsync()
    {
        if (_browser is not null)
        {
            await _browser.DisposeAsync();
        }

        _playwright?.Dispose();
        _workspace?.Dispose();
    }
}
