using System.Text;
using System.Text.Json;
using Intake.Tests.Shared;

namespace Intake.Server.Tests;

/// <summary>What an export request may carry: bounded strings, keys inside the export area, text PostgreSQL can store; and what a client sees of a failed export.</summary>
public sealed class ExportInputTests : IClassFixture<ExportFixture>
{
    private readonly ExportFixture _f;

    public ExportInputTests(ExportFixture fixture) => _f = fixture;

    [PostgresFact]
    public async Task SubmitExport_WithAnOversizedTag_Returns400NamingTag_AndStoresNothing()
    {
        using var client = _f.Serve.Client(_f.AcmeWrite);
        var tag = new string('t', 10_000);
        var (status, body, response) = await client.PostJsonAsync("/api/v1/pipelines/bridge/exports", JsonSerializer.Serialize(new { exportType = "instant", tag }));

        status.ShouldBe(400);
        response.Content.Headers.ContentType!.MediaType.ShouldBe("application/problem+json");
        body.GetProperty("errors").GetProperty("tag")[0].GetString()!.ShouldContain("256 characters");
        var (_, list, _) = await client.GetJsonAsync("/api/v1/exports?limit=1000");
        list.GetProperty("items").EnumerateArray().ShouldNotContain(r => r.GetProperty("tag").GetString() == tag);
    }

    [PostgresFact]
    public async Task SubmitExport_WithARecordsKeyLeavingTheExportArea_Returns400()
    {
        using var client = _f.Serve.Client(_f.AcmeWrite);
        foreach (var key in new[] { "../secrets.txt", "ids/../../x.txt", "/etc/passwd", "ids\\x.txt", "C:/ids.txt", "", new string('k', 1100) })
        {
            var (status, body, _) = await client.PostJsonAsync("/api/v1/pipelines/bridge/exports", JsonSerializer.Serialize(new { recordsKey = key }));
            status.ShouldBe(400, key[..Math.Min(key.Length, 20)]);
            body.GetProperty("errors").GetProperty("recordsKey")[0].GetString().ShouldNotBeNullOrWhiteSpace();
        }
    }

    [PostgresFact]
    public async Task SubmitExport_WithNulOrInvalidUtf8InAString_Returns400()
    {
        using var client = _f.Serve.Client(_f.AcmeWrite);
        var (status, body, _) = await client.PostJsonAsync("/api/v1/pipelines/bridge/exports", """{"exportType": "instant", "tag": "a\u0000b"}""");
        status.ShouldBe(400);
        body.GetProperty("errors").GetProperty("tag")[0].GetString()!.ShouldContain("control character");

        var (partitionStatus, partitionBody, _) = await client.PostJsonAsync("/api/v1/pipelines/bridge/exports", """{"exportType": "instant", "partitions": ["s1", "s\u0000"]}""");
        partitionStatus.ShouldBe(400);
        partitionBody.GetProperty("errors").TryGetProperty("partitions", out _).ShouldBeTrue();

        var raw = Encoding.ASCII.GetBytes("{\"exportType\": \"instant\", \"tag\": \"").Concat(new byte[] { 0xC3, 0x28 }).Concat("\"}"u8.ToArray()).ToArray();
        var r = await RawHttp.SendAsync(_f.Serve.BaseAddress,
            $"POST /api/v1/pipelines/bridge/exports HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Api-Key: {_f.AcmeWrite}\r\nContent-Type: application/json\r\nContent-Length: {raw.Length}", [raw]);
        r.Status.ShouldBe(400, r.Body);
        r.ContentType.ShouldBe("application/problem+json");
        r.Body.ShouldContain("UTF-8");
    }

    [PostgresFact]
    public async Task ListExports_PagesWithLimitAndCursor()
    {
        using var client = _f.Serve.Client(_f.AcmeWrite);
        foreach (var n in new[] { 1, 2, 3 })
        {
            (await client.PostJsonAsync("/api/v1/pipelines/bridge/exports", JsonSerializer.Serialize(new { exportType = "instant", endDateTime = "2026-01-01T00:00:00Z", tag = $"page test {n}" }))).Status.ShouldBeOneOf(200, 202);
        }

        var all = (await client.GetJsonAsync("/api/v1/exports?limit=1000")).Body.GetProperty("items").EnumerateArray().Select(r => r.GetProperty("request_key").GetString()).ToList();
        all.Count.ShouldBeGreaterThanOrEqualTo(3);
        var paged = new List<string?>();
        string? cursor = null;
        do
        {
            var (status, page, _) = await client.GetJsonAsync("/api/v1/exports?limit=2" + (cursor is null ? "" : "&cursor=" + cursor));
            status.ShouldBe(200);
            page.GetProperty("items").GetArrayLength().ShouldBeLessThanOrEqualTo(2);
            paged.AddRange(page.GetProperty("items").EnumerateArray().Select(r => r.GetProperty("request_key").GetString()));
            cursor = page.GetProperty("next_cursor").GetString();
        }
        while (cursor is not null && paged.Count < 100);

        paged.ShouldBe(all);
    }

    [PostgresFact]
    public async Task DeleteWatermark_WithAPartitionLeavingItsPlace_Returns400()
    {
        using var client = _f.Serve.Client(_f.AcmeWrite);
        foreach (var partition in new[] { "..%2F..%2Fetc", "a%5Cb", "%2Fetc" })
        {
            var (status, body, _) = await client.SendAsync(HttpMethod.Delete, $"/api/v1/watermarks/bridge/{partition}");
            status.ShouldBe(400, partition);
            body.GetProperty("errors").TryGetProperty("partition", out _).ShouldBeTrue(body.ToString());
        }
    }

    [PostgresFact]
    public async Task FailedExport_ShowsItsErrorWithoutTheServersAbsolutePaths()
    {
        using var client = _f.Serve.Client(_f.AcmeWrite);
        var (status, queued, _) = await client.PostJsonAsync("/api/v1/pipelines/bridge/exports", """{"recordsKey": "never-written-ids.txt"}""");
        status.ShouldBe(202);
        var id = queued.GetProperty("load_id").GetInt64();

        JsonElement detail = default;
        for (var i = 0; i < 150; i++)
        {
            detail = (await client.GetJsonAsync($"/api/v1/loads/{id}")).Body;
            if (detail.GetProperty("load").GetProperty("status").GetString() is "errored" or "archived")
            {
                break;
            }

            await Task.Delay(100);
        }

        var message = detail.GetProperty("load").GetProperty("error_message").GetString();
        message.ShouldNotBeNull(detail.ToString());
        message.ShouldContain("never-written-ids.txt");
        ClientErrorTests.ShouldShowNoInternals(detail.GetRawText(), _f.Workspace.Root);
        ClientErrorTests.ShouldShowNoInternals((await client.GetJsonAsync("/api/v1/loads?limit=1000")).Body.GetRawText(), _f.Workspace.Root);
    }
}
