using System.Globalization;
using System.Text.RegularExpressions;
using Intake.Core.Model;
using Microsoft.Playwright;
using Xunit.Abstractions;

namespace Intake.Server.UiTests;

/// <summary>Sign-in, sign-out, the Load page and its actions, driven in Chromium against a real <c>intake serve</c>.</summary>
public sealed class LoadPageTests : IClassFixture<UiFixture>
{
    private readonly UiFixture _ui;
    private readonly ITestOutputHelper _output;

    public LoadPageTests(UiFixture ui, ITestOutputHelper output)
    {
        _ui = ui;
        _output = output;
    }

    private static string Id(long id) => id.ToString(CultureInfo.InvariantCulture);

    [UiFact]
    public async Task SignIn_WithAWrongKey_ShowsTheErrorAndStaysSignedOut()
    {
        var page = await _ui.NewPageAsync();
        await page.GotoAsync("/ui/");
        page.Url.ShouldContain("/ui/signin");
        await page.GetByLabel("API key").FillAsync(_ui.AcmeWrite[..^4] + "AAAA");
        await page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();

        (await page.GetByRole(AriaRole.Alert).InnerTextAsync()).ShouldContain("This key was not accepted");
        (await page.GetByLabel("API key").GetAttributeAsync("aria-invalid")).ShouldBe("true");
        await page.GotoAsync("/ui/loads/" + Id(_ui.OrdersErrored));
        page.Url.ShouldContain("/ui/signin"); // still signed out
    }

    [UiFact]
    public async Task SignIn_WithAValidKey_ShowsItsCustomerAndScope_AndReturnsToThePageAsked()
    {
        var page = await _ui.NewPageAsync();
        await page.GotoAsync("/ui/loads/" + Id(_ui.OrdersErrored));
        page.Url.ShouldContain("/ui/signin?returnUrl=");
        await page.GetByLabel("API key").FillAsync(_ui.AcmeWrite);
        await page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();

        await page.WaitForURLAsync("**/ui/loads/" + Id(_ui.OrdersErrored));
        (await page.GetByTestId("customer").TextContentAsync()).ShouldBe("acme");
        (await page.GetByTestId("scope").TextContentAsync()).ShouldBe("write");
        var cookie = (await page.Context.CookiesAsync()).Single(c => c.Name == "intake_ui");
        cookie.HttpOnly.ShouldBeTrue();
        cookie.SameSite.ShouldBe(SameSiteAttribute.Strict);
        cookie.Value.ShouldNotContain(_ui.AcmeWrite); // the key travels encrypted, never in clear
    }

    [UiFact]
    public async Task SignIn_WithAReturnUrlToAnotherSite_LandsOnTheUi()
    {
        var page = await _ui.NewPageAsync();
        await page.GotoAsync("/ui/signin?returnUrl=" + Uri.EscapeDataString("//example.com/ui/x"));
        await page.GetByLabel("API key").FillAsync(_ui.AcmeRead);
        await page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();

        await page.WaitForURLAsync(new Regex("/ui/$"));
        new Uri(page.Url).Host.ShouldBe(_ui.Serve.BaseAddress.Host);
    }

    [UiFact]
    public async Task SignOut_EndsTheSession()
    {
        var page = await _ui.SignedInAsync(_ui.AcmeRead);
        await page.GetByRole(AriaRole.Button, new() { Name = "Sign out" }).ClickAsync();

        await page.WaitForURLAsync("**/ui/signin");
        (await page.Context.CookiesAsync()).ShouldNotContain(c => c.Name == "intake_ui");
        await page.GotoAsync("/ui/loads/" + Id(_ui.OrdersErrored));
        page.Url.ShouldContain("/ui/signin");
    }

    [UiFact]
    public async Task LoadPage_ShowsEveryStepAttempt_TheErrorAndTheOutputs()
    {
        var page = await _ui.SignedInAsync(_ui.AcmeRead, "/ui/loads/" + Id(_ui.OrdersErrored));

        (await page.GetByTestId("status").GetAttributeAsync("data-status")).ShouldBe("errored");
        (await page.GetByTestId("source-key").TextContentAsync()).ShouldBe("2026/12/orders-a.csv.gz");
        (await page.GetByTestId("error-kind").TextContentAsync()).ShouldBe("format");
        var attempts = page.GetByTestId("timeline").Locator("> li");
        (await attempts.CountAsync()).ShouldBe(2);
        (await attempts.Nth(0).GetAttributeAsync("data-step")).ShouldBe("fetch");
        (await attempts.Nth(0).GetAttributeAsync("data-outcome")).ShouldBe("succeeded");
        (await attempts.Nth(1).GetAttributeAsync("data-step")).ShouldBe("decompress");
        (await attempts.Nth(1).GetAttributeAsync("data-outcome")).ShouldBe("failed");
        (await attempts.Nth(1).InnerTextAsync()).ShouldContain("not a gzip file (byte 0 is 0x69");
        (await attempts.Nth(0).InnerTextAsync()).ShouldContain("2.0 KiB");
        (await page.GetByTestId("outputs").InnerTextAsync()).ShouldContain("inbox:acme/2026/12/orders-a.csv.gz");
    }

    [UiFact]
    public async Task LoadPage_OfAnotherCustomersLoad_Answers404_AndItsRedriveIsRefused()
    {
        var page = await _ui.SignedInAsync(_ui.AcmeWrite);
        var response = await page.GotoAsync("/ui/loads/" + Id(_ui.EventsErrored));

        response!.Status.ShouldBe(404);
        (await page.GetByRole(AriaRole.Heading, new() { Level = 1 }).TextContentAsync()).ShouldBe("No such load");
        (await page.ContentAsync()).ShouldNotContain("events-1.csv.gz");

        // A forged form: a valid anti-forgery token of this session, posted at the other customer's load.
        var post = await page.Context.APIRequest.PostAsync("/ui/loads/" + Id(_ui.EventsErrored) + "/redrive", new APIRequestContextOptions { Form = await FormWithTokenAsync(page), MaxRedirects = 0 });
        post.Status.ShouldBe(404);
        (await _ui.LoadAsync(_ui.EventsErrored)).Status.ShouldBe(LoadStatus.Errored);
    }

    [UiFact]
    public async Task ReadKey_SeesNoActions_AndAForgedRedriveIsRefused()
    {
        var page = await _ui.SignedInAsync(_ui.AcmeRead, "/ui/loads/" + Id(_ui.OrdersErrored));

        (await page.GetByTestId("status").GetAttributeAsync("data-status")).ShouldBe("errored");
        (await page.GetByRole(AriaRole.Button, new() { Name = "Re-drive" }).CountAsync()).ShouldBe(0);
        (await page.GetByRole(AriaRole.Button, new() { Name = "Cancel" }).CountAsync()).ShouldBe(0);

        var post = await page.Context.APIRequest.PostAsync("/ui/loads/" + Id(_ui.OrdersErrored) + "/redrive", new APIRequestContextOptions { Form = await FormWithTokenAsync(page), MaxRedirects = 0 });
        post.Status.ShouldBe(403);
        (await post.TextAsync()).ShouldContain("has scope read");
        (await _ui.LoadAsync(_ui.OrdersErrored)).Status.ShouldBe(LoadStatus.Errored);
    }

    [UiFact]
    public async Task Redrive_OfAnErroredLoad_MakesItReady_AndSaysSo()
    {
        var page = await _ui.SignedInAsync(_ui.AcmeWrite, "/ui/loads/" + Id(_ui.OrdersToRedrive));
        (await page.GetByTestId("status").GetAttributeAsync("data-status")).ShouldBe("errored");

        await page.GetByRole(AriaRole.Button, new() { Name = "Re-drive" }).ClickAsync();

        await page.WaitForURLAsync("**/ui/loads/" + Id(_ui.OrdersToRedrive)); // post, redirect, get
        (await page.GetByRole(AriaRole.Status).InnerTextAsync()).ShouldContain($"Load {Id(_ui.OrdersToRedrive)} re-driven");
        (await page.GetByTestId("status").GetAttributeAsync("data-status")).ShouldBe("ready");
        var load = await _ui.LoadAsync(_ui.OrdersToRedrive);
        load.Status.ShouldBe(LoadStatus.Ready); // orders is paused: no worker takes it meanwhile
        load.ErrorMessage.ShouldBeNull();
        (await page.GetByRole(AriaRole.Button, new() { Name = "Re-drive" }).CountAsync()).ShouldBe(0);
        (await page.GetByRole(AriaRole.Button, new() { Name = "Cancel" }).CountAsync()).ShouldBe(1);
    }

    [UiFact]
    public async Task Cancel_OfAReadyLoad_HoldsIt_AndSaysSo()
    {
        var page = await _ui.SignedInAsync(_ui.AcmeWrite, "/ui/loads/" + Id(_ui.OrdersToCancel));
        (await page.GetByTestId("status").GetAttributeAsync("data-status")).ShouldBe("ready");

        await page.GetByRole(AriaRole.Button, new() { Name = "Cancel" }).ClickAsync();

        (await page.GetByRole(AriaRole.Status).InnerTextAsync()).ShouldContain($"Load {Id(_ui.OrdersToCancel)} cancelled: it is held");
        (await page.GetByTestId("status").GetAttributeAsync("data-status")).ShouldBe("held");
        (await page.GetByTestId("held-reason").InnerTextAsync()).ShouldContain("cancelled in the web UI by key");
        (await _ui.LoadAsync(_ui.OrdersToCancel)).Status.ShouldBe(LoadStatus.Held);
    }

    [UiFact]
    public async Task LoadPage_OfALoadInProgress_FollowsItsChanges_WithoutReloading()
    {
        var page = await _ui.SignedInAsync(_ui.AcmeRead, "/ui/loads/" + Id(_ui.OrdersWatched));
        (await page.GetByTestId("status").GetAttributeAsync("data-status")).ShouldBe("ready");
        (await page.Locator("main").GetAttributeAsync("data-refresh")).ShouldNotBeNull();
        var navigations = 0;
        page.FrameNavigated += (_, frame) => navigations += frame == page.MainFrame ? 1 : 0;

        await _ui.HoldAsync(_ui.OrdersWatched, "waiting for the day's manifest");

        await page.WaitForFunctionAsync("() => document.querySelector('[data-testid=status]').dataset.status === 'held'", null, new PageWaitForFunctionOptions { Timeout = 30_000 });
        (await page.GetByTestId("held-reason").InnerTextAsync()).ShouldContain("waiting for the day's manifest");
        (await page.Locator("main").GetAttributeAsync("data-refresh")).ShouldBeNull(); // at rest: the page stops asking
        navigations.ShouldBe(0);
    }

    [UiFact]
    public async Task Post_WithoutTheAntiForgeryToken_IsRefusedWith400()
    {
        var page = await _ui.SignedInAsync(_ui.AcmeWrite, "/ui/loads/" + Id(_ui.OrdersErrored));

        var post = await page.Context.APIRequest.PostAsync("/ui/loads/" + Id(_ui.OrdersErrored) + "/redrive", new APIRequestContextOptions { Form = page.Context.APIRequest.CreateFormData(), MaxRedirects = 0 });

        post.Status.ShouldBe(400);
        (await post.TextAsync()).ShouldContain("anti-forgery token");
        (await _ui.LoadAsync(_ui.OrdersErrored)).Status.ShouldBe(LoadStatus.Errored);
    }

    [UiFact]
    public async Task SignInForm_WorksWithTheKeyboardAlone_WithAVisibleFocus()
    {
        var page = await _ui.NewPageAsync();
        await page.GotoAsync("/ui/signin");
        await page.EvaluateAsync("() => document.activeElement && document.activeElement.blur()");

        for (var i = 0; i < 10 && await page.EvaluateAsync<string>("() => document.activeElement.id") != "key"; i++)
        {
            await page.Keyboard.PressAsync("Tab");
        }

        (await page.EvaluateAsync<string>("() => document.activeElement.id")).ShouldBe("key");
        (await page.EvaluateAsync<string>("() => getComputedStyle(document.activeElement).outlineStyle")).ShouldNotBe("none");
        await page.Keyboard.TypeAsync(_ui.AcmeRead);
        await page.Keyboard.PressAsync("Enter");

        await page.WaitForURLAsync(new Regex("/ui/$"));
        (await page.GetByTestId("customer").TextContentAsync()).ShouldBe("acme");
    }

    [UiFact]
    public async Task LoadPage_Screenshots_InLightAndDarkMode()
    {
        foreach (var scheme in new[] { ColorScheme.Light, ColorScheme.Dark })
        {
            var page = await _ui.SignedInAsync(_ui.AcmeWrite, "/ui/loads/" + Id(_ui.OrdersErrored));
            await page.EmulateMediaAsync(new PageEmulateMediaOptions { ColorScheme = scheme });
            Directory.CreateDirectory(UiFixture.Artifacts);
            var path = Path.Combine(UiFixture.Artifacts, $"load-page-{scheme.ToString().ToLowerInvariant()}.png");
            await page.ScreenshotAsync(new PageScreenshotOptions { Path = path, FullPage = true });

            new FileInfo(path).Length.ShouldBeGreaterThan(10_000);
            _output.WriteLine($"screenshot: {path}");
            Console.WriteLine($"screenshot: {path}");
        }
    }

    /// <summary>The anti-forgery field of a form on the page (the sign-out form is on every page), as a form to post.</summary>
    private static async Task<IFormData> FormWithTokenAsync(IPage page)
    {
        var token = page.Locator("input[name=__token]").First;
        return page.Context.APIRequest.CreateFormData().Set("__token", await token.InputValueAsync());
    }
}
