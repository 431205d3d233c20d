using System.Globalization;
using System.Text.RegularExpressions;
using Intake.Catalog;
using Intake.Core.Errors;
using Intake.Core.Model;
using Intake.Core.Ports;
using Microsoft.Playwright;

namespace Intake.Server.UiTests;

/// <summary>
/// The Loads page (filters, source-key search, paging, tenant isolation) and the Errors page with its re-drives of a
/// group and of a selection, driven in Chromium against a real <c>intake serve</c>. This class has its own server and
/// catalog (a class fixture), seeded once with more loads of the paused pipeline orders: 60 ready ones under
/// <c>bulk/</c> (more than a page), a group of 37 errored with kind schema and 3 errored with kind integrity.
/// </summary>
public sealed class LoadsPageTests : IClassFixture<UiFixture>
{
    private static readonly SemaphoreSlim SeedLock = new(1, 1);
    private static Seed? _seed;
    private readonly UiFixture _ui;

    public LoadsPageTests(UiFixture ui) => _ui = ui;

    private sealed record Seed(IReadOnlyList<long> Bulk, IReadOnlyList<long> Schema, IReadOnlyList<long> Integrity, long GlobexOrdersNamed);

    private static string Id(long id) => id.ToString(CultureInfo.InvariantCulture);

    private async Task<Seed> SeedAsync()
    {
        await SeedLock.WaitAsync();
        try
        {
            if (_seed is not null)
            {
                return _seed;
            }

            await using var catalog = new PostgresCatalog(_ui.Connection, TimeProvider.System);
            var bulk = new List<long>();
            for (var i = 0; i < 60; i++)
            {
                bulk.Add((await catalog.RegisterLoadAsync(new NewLoad("orders", "acme", $"bulk/page-{i:000}.csv", "f"), default)).Load.Id);
            }

            var schema = new List<long>();
            for (var i = 0; i < 37; i++)
            {
                schema.Add(await ErroredAsync(catalog, $"group/schema-{i:00}.csv", ErrorKind.Schema));
            }

            var integrity = new List<long>();
            for (var i = 0; i < 3; i++)
            {
                integrity.Add(await ErroredAsync(catalog, $"sel/integrity-{i}.csv", ErrorKind.Integrity));
            }

            // A globex file whose name an acme search would match: it must never show for acme.
            var globex = (await catalog.RegisterLoadAsync(new NewLoad("events", "globex", "2026/12/orders-globex.csv", "f"), default)).Load.Id;
            return _seed = new Seed(bulk, schema, integrity, globex);
        }
        finally
        {
            SeedLock.Release();
        }
    }

    /// <summary>An errored load of orders with the given kind: registered, held, sent to the error path and errored, as the worker would.</summary>
    private static async Task<long> ErroredAsync(ICatalog catalog, string key, ErrorKind kind)
    {
        var id = (await catalog.RegisterLoadAsync(new NewLoad("orders", "acme", key, "f"), default)).Load.Id;
        (await catalog.TransitionAsync(id, LoadStatus.Ready, LoadStatus.Held, new TransitionDetails { HeldReason = "seed" }, default)).ShouldBeTrue();
        (await catalog.TransitionAsync(id, LoadStatus.Held, LoadStatus.ReadyForErroring, new TransitionDetails { ErrorKind = kind, ErrorMessage = $"{key}: line 2: seeded {kind.ToWord()} error" }, default)).ShouldBeTrue();
        (await catalog.ClaimAsync(new ClaimRequest { Worker = "seed", From = LoadStatus.ReadyForErroring, Lease = TimeSpan.FromMinutes(5), Pipelines = ["orders"] }, default))!.Id.ShouldBe(id);
        (await catalog.TransitionAsync(id, LoadStatus.Erroring, LoadStatus.Errored, new TransitionDetails { LeaseOwner = "seed" }, default)).ShouldBeTrue();
        return id;
    }

    private static async Task<List<long>> RowIdsAsync(IPage page)
    {
        var ids = new List<long>();
        foreach (var row in await page.Locator("[data-testid=loads] tbody tr").AllAsync())
        {
            ids.Add(long.Parse((await row.GetAttributeAsync("data-load"))!, CultureInfo.InvariantCulture));
        }

        return ids;
    }

    [UiFact]
    public async Task Filter_ByPipelineAndStatus_ShowsOnlyThoseLoads_AndTheFilterIsALink()
    {
        await SeedAsync();
        var page = await _ui.SignedInAsync(_ui.AcmeRead, "/ui/loads");

        await page.GetByLabel("Pipeline", new() { Exact = true }).SelectOptionAsync("orders");
        await page.GetByLabel("Status", new() { Exact = true }).SelectOptionAsync("archived");
        await page.GetByRole(AriaRole.Button, new() { Name = "Show" }).ClickAsync();

        await page.WaitForURLAsync(u => u.Contains("pipeline=orders", StringComparison.Ordinal) && u.Contains("status=archived", StringComparison.Ordinal));
        (await RowIdsAsync(page)).ShouldBe([_ui.OrdersArchived]);
        (await page.Locator("[data-testid=loads] tbody tr").First.InnerTextAsync()).ShouldContain("2026/12/orders-c.csv");

        // The same view from its address alone, as a shared link opens it; another status, another list.
        await page.GotoAsync("/ui/loads?pipeline=orders&status=errored&error_kind=format");
        (await RowIdsAsync(page)).ShouldBe([_ui.OrdersToRedrive, _ui.OrdersErrored], ignoreOrder: true);
        (await page.GetByLabel("Status", new() { Exact = true }).InputValueAsync()).ShouldBe("errored");
        foreach (var status in await page.Locator("[data-testid=loads] tbody tr").EvaluateAllAsync<string[]>("rows => rows.map(r => r.dataset.status)"))
        {
            status.ShouldBe("errored");
        }
    }

    [UiFact]
    public async Task SourceKeySearch_FindsTheFile_ByPartPrefixOrExactKey()
    {
        await SeedAsync();
        var page = await _ui.SignedInAsync(_ui.AcmeRead, "/ui/loads");

        await page.GetByLabel("Source key", new() { Exact = true }).FillAsync("ORDERS-C");
        await page.GetByRole(AriaRole.Button, new() { Name = "Show" }).ClickAsync();
        await page.WaitForURLAsync(u => u.Contains("source_key=ORDERS-C", StringComparison.Ordinal));
        (await RowIdsAsync(page)).ShouldBe([_ui.OrdersArchived]); // part of the key, any case

        await page.GetByLabel("Source key", new() { Exact = true }).FillAsync("2026/12/orders-c.csv");
        await page.GetByLabel("How the source key matches", new() { Exact = true }).SelectOptionAsync("exact");
        await page.GetByRole(AriaRole.Button, new() { Name = "Show" }).ClickAsync();
        await page.WaitForURLAsync(u => u.Contains("source_key_match=exact", StringComparison.Ordinal));
        (await RowIdsAsync(page)).ShouldBe([_ui.OrdersArchived]);

        await page.GotoAsync("/ui/loads?source_key=orders-c.csv&source_key_match=exact");
        (await RowIdsAsync(page)).ShouldBeEmpty();
        (await page.GetByTestId("no-loads").IsVisibleAsync()).ShouldBeTrue();

        await page.GotoAsync("/ui/loads?source_key=2026%2F12%2F&source_key_match=prefix");
        (await RowIdsAsync(page)).ShouldBe([_ui.OrdersWatched, _ui.OrdersToCancel, _ui.OrdersArchived, _ui.OrdersToRedrive, _ui.OrdersErrored]); // newest first
    }

    [UiFact]
    public async Task Paging_GoesToOlderLoadsAndBack_ByCreationTimeAndIdNotOffset()
    {
        var seed = await SeedAsync();
        var page = await _ui.SignedInAsync(_ui.AcmeRead, "/ui/loads?source_key=bulk%2F&source_key_match=prefix");

        var first = await RowIdsAsync(page);
        first.ShouldBe(seed.Bulk.Reverse().Take(50));
        (await page.GetByTestId("newer").CountAsync()).ShouldBe(0);

        await page.GetByTestId("older").ClickAsync();
        // The position is the last shown load's creation time and id (loads registered in one millisecond tell apart by id).
        await page.WaitForURLAsync(new Regex($"before=\\d{{8}}T\\d{{6}}\\.\\d{{3}}Z_{Id(seed.Bulk[10])}(&|$)"));
        (await RowIdsAsync(page)).ShouldBe(seed.Bulk.Take(10).Reverse());
        (await page.GetByTestId("older").CountAsync()).ShouldBe(0);
        page.Url.ShouldContain("source_key=bulk"); // the filters stay on every page

        await page.GetByTestId("newer").ClickAsync();
        await page.WaitForURLAsync(new Regex($"after=\\d{{8}}T\\d{{6}}\\.\\d{{3}}Z_{Id(seed.Bulk[9])}(&|$)"));
        (await RowIdsAsync(page)).ShouldBe(first);
        (await page.GetByTestId("newer").CountAsync()).ShouldBe(0); // nothing newer than the first page
        page.Url.ShouldNotContain("offset");
    }

    [UiFact]
    public async Task LoadsList_OfACustomerKey_NeverShowsAnotherCustomersLoads_EvenWhenAskedFor()
    {
        var seed = await SeedAsync();
        var page = await _ui.SignedInAsync(_ui.AcmeWrite, "/ui/loads?source_key=orders");

        var ids = await RowIdsAsync(page);
        ids.ShouldContain(_ui.OrdersArchived);
        ids.ShouldNotContain(seed.GlobexOrdersNamed);
        (await page.ContentAsync()).ShouldNotContain("orders-globex");
        (await page.GetByLabel("Customer", new() { Exact = true }).CountAsync()).ShouldBe(0); // one customer: no customer filter

        foreach (var url in new[] { "/ui/loads?customer=globex", "/ui/loads?pipeline=events", "/ui/loads?customer=globex&status=errored" })
        {
            var response = await page.GotoAsync(url);
            response!.Status.ShouldBe(404);
            var html = await page.ContentAsync();
            html.ShouldNotContain("events-1.csv.gz");
            html.ShouldNotContain("orders-globex");
        }

        await page.GotoAsync("/ui/loads?status=errored");
        (await RowIdsAsync(page)).ShouldNotContain(_ui.EventsErrored);

        // An admin key sees every customer and may filter by one.
        var admin = await _ui.SignedInAsync(_ui.Admin, "/ui/loads?customer=globex");
        (await RowIdsAsync(admin)).ShouldBe([seed.GlobexOrdersNamed, _ui.EventsErrored]);
        (await admin.GetByLabel("Customer", new() { Exact = true }).InputValueAsync()).ShouldBe("globex");
    }

    [UiFact]
    public async Task RedriveOfAGroup_ConfirmsTheCount_ThenRedrivesEveryLoadOfIt()
    {
        var seed = await SeedAsync();
        var page = await _ui.SignedInAsync(_ui.AcmeWrite, "/ui/errors");
        var group = page.Locator("[data-testid=error-groups] tr[data-pipeline=orders][data-kind=schema]");
        (await group.GetByTestId("group-count").InnerTextAsync()).ShouldBe("37");
        (await group.InnerTextAsync()).ShouldContain("seeded schema error");

        await group.GetByTestId("group-redrive").ClickAsync();

        (await page.GetByTestId("confirm-question").InnerTextAsync()).ShouldBe("Re-drive 37 errored loads of pipeline orders with kind schema?");
        foreach (var id in seed.Schema)
        {
            (await _ui.LoadAsync(id)).Status.ShouldBe(LoadStatus.Errored); // the confirmation changed nothing
        }

        await page.GetByTestId("confirm-redrive").ClickAsync();

        await page.WaitForURLAsync("**/ui/errors");
        (await page.GetByRole(AriaRole.Status).InnerTextAsync()).ShouldContain("37 loads of pipeline orders with kind schema re-driven.");
        foreach (var id in seed.Schema)
        {
            (await _ui.LoadAsync(id)).Status.ShouldBe(LoadStatus.Ready); // orders is paused: they stay ready
        }

        (await page.Locator("[data-testid=error-groups] tr[data-kind=schema]").CountAsync()).ShouldBe(0);
        (await _ui.LoadAsync(_ui.OrdersErrored)).Status.ShouldBe(LoadStatus.Errored); // another kind: untouched
        (await _ui.LoadAsync(_ui.EventsErrored)).Status.ShouldBe(LoadStatus.Errored);
    }

    [UiFact]
    public async Task RedriveOfASelection_RedrivesOnlyTheTickedLoads_AndNeverAnotherCustomers()
    {
        var seed = await SeedAsync();
        var page = await _ui.SignedInAsync(_ui.AcmeWrite, "/ui/errors");
        await page.Locator("tr[data-pipeline=orders][data-kind=integrity]").GetByTestId("group-loads").ClickAsync();
        await page.WaitForURLAsync(u => u.EndsWith("/ui/loads?pipeline=orders&status=errored&error_kind=integrity", StringComparison.Ordinal));
        (await RowIdsAsync(page)).ShouldBe(seed.Integrity.Reverse());

        await page.GetByLabel($"Select load {Id(seed.Integrity[0])}", new() { Exact = true }).CheckAsync();
        await page.GetByLabel($"Select load {Id(seed.Integrity[2])}", new() { Exact = true }).CheckAsync();
        await page.GetByTestId("redrive-selected").ClickAsync();

        (await page.GetByTestId("confirm-question").InnerTextAsync()).ShouldBe("Re-drive 2 errored loads?");
        await page.GetByTestId("confirm-redrive").ClickAsync();

        await page.WaitForURLAsync(u => u.EndsWith("/ui/loads?pipeline=orders&status=errored&error_kind=integrity", StringComparison.Ordinal));
        (await page.GetByRole(AriaRole.Status).InnerTextAsync()).ShouldContain("2 loads re-driven.");
        (await RowIdsAsync(page)).ShouldBe([seed.Integrity[1]]);
        (await _ui.LoadAsync(seed.Integrity[0])).Status.ShouldBe(LoadStatus.Ready);
        (await _ui.LoadAsync(seed.Integrity[1])).Status.ShouldBe(LoadStatus.Errored);
        (await _ui.LoadAsync(seed.Integrity[2])).Status.ShouldBe(LoadStatus.Ready);

        // A forged selection naming another customer's load: counted as not found, never touched.
        var form = (await FormWithTokenAsync(page)).Append("id", Id(_ui.EventsErrored)).Append("id", Id(seed.Integrity[0]));
        var post = await page.Context.APIRequest.PostAsync("/ui/redrive", new APIRequestContextOptions { Form = form, MaxRedirects = 0 });
        post.Status.ShouldBe(303);
        await page.GotoAsync(post.Headers["location"]);
        (await page.GetByRole(AriaRole.Alert).InnerTextAsync()).ShouldContain("0 loads re-driven; 1 load had changed meanwhile and was left as it was; 1 load not found for this key.");
        (await _ui.LoadAsync(_ui.EventsErrored)).Status.ShouldBe(LoadStatus.Errored);
    }

    [UiFact]
    public async Task ReadKey_SeesNoRedriveControls_AndAForgedRedriveIsRefusedWith403()
    {
        var seed = await SeedAsync();
        var page = await _ui.SignedInAsync(_ui.AcmeRead, "/ui/loads?pipeline=orders&status=errored");
        (await RowIdsAsync(page)).ShouldContain(_ui.OrdersErrored);
        (await page.Locator("input[type=checkbox]").CountAsync()).ShouldBe(0);
        (await page.GetByTestId("redrive-selected").CountAsync()).ShouldBe(0);

        await page.GotoAsync("/ui/errors");
        (await page.GetByTestId("error-groups").IsVisibleAsync()).ShouldBeTrue();
        (await page.GetByTestId("group-redrive").CountAsync()).ShouldBe(0);
        (await page.GetByTestId("sample-redrive").CountAsync()).ShouldBe(0);

        (await page.GotoAsync("/ui/redrive?pipeline=orders&error_kind=format"))!.Status.ShouldBe(403);
        var group = (await FormWithTokenAsync(page)).Set("pipeline", "orders").Set("error_kind", "format");
        var post = await page.Context.APIRequest.PostAsync("/ui/redrive", new APIRequestContextOptions { Form = group, MaxRedirects = 0 });
        post.Status.ShouldBe(403);
        (await post.TextAsync()).ShouldContain("has scope read");
        var selection = (await FormWithTokenAsync(page)).Set("id", Id(_ui.OrdersErrored));
        (await page.Context.APIRequest.PostAsync("/ui/redrive", new APIRequestContextOptions { Form = selection, MaxRedirects = 0 })).Status.ShouldBe(403);
        (await _ui.LoadAsync(_ui.OrdersErrored)).Status.ShouldBe(LoadStatus.Errored);
        (await _ui.LoadAsync(seed.Integrity[1])).Status.ShouldBe(LoadStatus.Errored);
    }

    [UiFact]
    public async Task RedriveOfAGroupLargerThanABatch_RedrivesEveryLoadOfIt()
    {
        // More errored loads than one batch of the group re-drive (500) holds: it must page through all of them.
        var ids = new List<long>();
        await using (var catalog = new PostgresCatalog(_ui.Connection, TimeProvider.System))
        {
            for (var i = 0; i < 1001; i++)
            {
                ids.Add(await ErroredAsync(catalog, $"many/empty-{i:0000}.csv", ErrorKind.Empty));
            }
        }

        var page = await _ui.SignedInAsync(_ui.AcmeWrite, "/ui/redrive?pipeline=orders&error_kind=empty");
        (await page.GetByTestId("confirm-question").InnerTextAsync()).ShouldBe("Re-drive 1,001 errored loads of pipeline orders with kind empty?");
        await page.GetByTestId("confirm-redrive").ClickAsync();

        await page.WaitForURLAsync("**/ui/errors");
        (await page.GetByRole(AriaRole.Status).InnerTextAsync()).ShouldContain("1,001 loads of pipeline orders with kind empty re-driven.");
        (await _ui.LoadAsync(ids[0])).Status.ShouldBe(LoadStatus.Ready);
        (await _ui.LoadAsync(ids[500])).Status.ShouldBe(LoadStatus.Ready);
        (await _ui.LoadAsync(ids[^1])).Status.ShouldBe(LoadStatus.Ready);
        (await page.Locator("[data-testid=error-groups] tr[data-kind=empty]").CountAsync()).ShouldBe(0);
    }

    /// <summary>The anti-forgery field of a form on the page (the sign-out form is on every page), as a form to post.</summary>
    private static async Task<IFormData> FormWithTokenAsync(IPage page)
    {
        var token = page.Locator("input[name=__token]").First;
        return page.Context.APIRequest.CreateFormData().Set("__token", await token.InputValueAsync());
    }
}
