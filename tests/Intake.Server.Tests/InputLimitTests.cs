using System.Text.Json;
using Intake.Tests.Shared;

namespace Intake.Server.Tests;

/// <summary>
/// Input limits: every list takes <c>limit</c> and <c>cursor</c> alike, strings have a maximum length, and keys and
/// path parameters that would leave their area (<c>..</c>, an absolute path, a backslash) are refused with 400.
/// </summary>
public sealed class InputLimitTests : IClassFixture<ApiFixture>
{
    private readonly ApiFixture _f;

    public InputLimitTests(ApiFixture fixture) => _f = fixture;

    public static TheoryData<string> Lists => ["/api/v1/pipelines", "/api/v1/loads", "/api/v1/jobs", "/api/v1/tables", "/api/v1/watermarks", "/api/v1/exports"];

    [PostgresTheory]
    [MemberData(nameof(Lists))]
    public async Task List_WithALimitOutOfRange_Returns400NamingLimit(string list)
    {
        using var client = _f.Serve.Client(_f.Admin);
        foreach (var limit in new[] { "-1", "0", "1001", "abc", "1.5", new string('9', 30) })
        {
            var (status, body, response) = await client.GetJsonAsync($"{list}?limit={limit}");
            status.ShouldBe(400, $"{list}?limit={limit}");
            response.Content.Headers.ContentType!.MediaType.ShouldBe("application/problem+json");
            body.GetProperty("errors").GetProperty("limit")[0].GetString()!.ShouldContain("from 1 to 1000");
        }
    }

    [PostgresTheory]
    [MemberData(nameof(Lists))]
    public async Task List_WithACursorItNeverIssued_Returns400NamingCursor(string list)
    {
        using var client = _f.Serve.Client(_f.Admin);
        foreach (var cursor in new[] { "%%%", "abc", new string('A', 2000) })
        {
            var (status, body, _) = await client.GetJsonAsync($"{list}?cursor={cursor}");
            status.ShouldBe(400, $"{list}?cursor={cursor[..Math.Min(10, cursor.Length)]}");
            body.GetProperty("errors").GetProperty("cursor")[0].GetString()!.ShouldContain("next_cursor");
        }
    }

    [PostgresFact]
    public async Task Pipelines_PageWithLimitAndCursor_AndACursorOfAnotherListIsRefused()
    {
        using var client = _f.Serve.Client(_f.Admin);
        var (_, first, _) = await client.GetJsonAsync("/api/v1/pipelines?limit=2");
        first.Names().Count.ShouldBe(2);
        var cursor = first.GetProperty("next_cursor").GetString();
        cursor.ShouldNotBeNull();
        var (_, second, _) = await client.GetJsonAsync($"/api/v1/pipelines?limit=2&cursor={cursor}");
        second.GetProperty("next_cursor").ValueKind.ShouldBe(JsonValueKind.Null);
        first.Names().Concat(second.Names()).ShouldBe(["events", "frozen", "orders"]);

        // A cursor belongs to the list that issued it.
        (await client.GetJsonAsync($"/api/v1/tables?cursor={cursor}")).Status.ShouldBe(400);
        (await client.GetJsonAsync($"/api/v1/loads?cursor={cursor}")).Status.ShouldBe(400);
    }

    [PostgresFact]
    public async Task Tables_AndWatermarks_PageWithLimitAndCursor()
    {
        using var client = _f.Serve.Client(_f.Admin);
        foreach (var list in new[] { "/api/v1/tables", "/api/v1/watermarks" })
        {
            var all = (await client.GetJsonAsync(list)).Body.GetProperty("items").EnumerateArray().Select(i => i.GetRawText()).ToList();
            all.Count.ShouldBeGreaterThan(1, list);
            var paged = new List<string>();
            string? cursor = null;
            do
            {
                var (status, page, _) = await client.GetJsonAsync($"{list}?limit=1" + (cursor is null ? "" : "&cursor=" + cursor));
                status.ShouldBe(200);
                page.GetProperty("items").GetArrayLength().ShouldBe(1, list);
                paged.AddRange(page.GetProperty("items").EnumerateArray().Select(i => i.GetRawText()));
                cursor = page.GetProperty("next_cursor").GetString();
            }
            while (cursor is not null && paged.Count < 20);

            paged.ShouldBe(all, list);
        }
    }

    [PostgresFact]
    public async Task RunNow_WithASourceKeyLeavingTheSource_Returns400()
    {
        using var client = _f.Serve.Client(_f.AcmeWrite);
        foreach (var key in new[] { "../orders-elsewhere.csv", "a/../../b.csv", "/etc/passwd", "a\\b.csv", "C:/x.csv", new string('k', 1100) })
        {
            var (status, body, _) = await client.PostJsonAsync("/api/v1/pipelines/orders/run", JsonSerializer.Serialize(new { parameters = new { source_key = key } }));
            status.ShouldBe(400, key[..Math.Min(key.Length, 20)]);
            body.GetProperty("errors").GetProperty("parameters.source_key")[0].GetString().ShouldNotBeNullOrWhiteSpace();
        }

        var (many, manyBody, _) = await client.PostJsonAsync("/api/v1/pipelines/orders/run", JsonSerializer.Serialize(new { parameters = new { source_keys = new[] { "ok.csv", "../x.csv" } } }));
        many.ShouldBe(400);
        manyBody.GetProperty("errors").GetProperty("parameters.source_keys")[0].GetString()!.ShouldContain("../x.csv");
    }

    [PostgresFact]
    public async Task PathParameters_TooLongWithBackslashOrDotDot_Return400()
    {
        using var client = _f.Serve.Client(_f.Admin);
        foreach (var path in new[] { $"/api/v1/pipelines/{new string('p', 300)}", "/api/v1/tables/a%5Cb", "/api/v1/pipelines/..%2F..%2Fetc", "/api/v1/tables/%2Fetc" })
        {
            var (status, body, response) = await client.GetJsonAsync(path);
            status.ShouldBe(400, path[..Math.Min(path.Length, 40)]);
            response.Content.Headers.ContentType!.MediaType.ShouldBe("application/problem+json");
            body.GetProperty("errors").EnumerateObject().ShouldNotBeEmpty();
        }
    }

    [PostgresFact]
    public async Task QueryStrings_TooLong_Return400()
    {
        using var client = _f.Serve.Client(_f.Admin);
        foreach (var query in new[] { $"/api/v1/loads?pipeline={new string('p', 300)}", $"/api/v1/loads?customer={new string('c', 300)}", $"/api/v1/watermarks?pipeline={new string('p', 300)}", $"/api/v1/exports?pipeline={new string('p', 300)}" })
        {
            var (status, body, _) = await client.GetJsonAsync(query);
            status.ShouldBe(400, query[..40]);
            body.GetProperty("errors").EnumerateObject().Single().Value[0].GetString()!.ShouldContain("200 characters");
        }
    }
}
