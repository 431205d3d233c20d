using System.Text;
using System.Text.Json;
using Intake.Tests.Shared;

namespace Intake.Server.Tests;

/// <summary>
/// A client's mistake never answers 500: request bodies Kestrel rejects while the endpoint reads them, JSON the API
/// cannot take, cursors it never issued, and the limits Kestrel enforces before any endpoint runs. Every rejection
/// is <c>application/problem+json</c> with a <c>type</c>.
/// </summary>
public sealed class ClientErrorTests : IClassFixture<ApiFixture>
{
    private readonly ApiFixture _f;

    public ClientErrorTests(ApiFixture fixture) => _f = fixture;

    private string Run(string extraHeaders) =>
        $"POST /api/v1/pipelines/orders/run HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Api-Key: {_f.AcmeWrite}\r\nContent-Type: application/json\r\n{extraHeaders}";

    private static void ShouldBeProblem(RawHttp.Response r, int status)
    {
        r.Status.ShouldBe(status, r.Body);
        r.ContentType.ShouldBe("application/problem+json");
        var body = r.Json;
        body.GetProperty("status").GetInt32().ShouldBe(status);
        body.GetProperty("type").GetString().ShouldNotBeNullOrWhiteSpace();
        body.GetProperty("detail").GetString().ShouldNotBeNullOrWhiteSpace();
    }

    [PostgresFact]
    public async Task Body_OverTheSizeLimit_Returns413Problem()
    {
        // 40 MB is over Kestrel's own default; 2 MB is over the API's limit (the largest body it takes is a list of record ids).
        foreach (var length in new[] { 40_000_000, 2_000_000 })
        {
            var r = await RawHttp.SendAsync(_f.Serve.BaseAddress, Run($"Content-Length: {length}"), [Encoding.ASCII.GetBytes("{\"parameters\":")]);
            ShouldBeProblem(r, 413);
            r.Json.GetProperty("detail").GetString()!.ShouldContain("1 MiB");
        }
    }

    [PostgresFact]
    public async Task Body_WithABadChunkSize_Returns400Problem()
    {
        var r = await RawHttp.SendAsync(_f.Serve.BaseAddress, Run("Transfer-Encoding: chunked"), [Encoding.ASCII.GetBytes("zz\r\n{}\r\n0\r\n\r\n")]);
        ShouldBeProblem(r, 400);
        r.Json.GetProperty("detail").GetString()!.ShouldContain("chunk");
    }

    [PostgresFact]
    public async Task Body_ArrivingTooSlowly_Returns408Problem()
    {
        // One byte of a hundred, then nothing: Kestrel gives up after its grace period (5 s) at under 240 bytes a second.
        var r = await RawHttp.SendAsync(_f.Serve.BaseAddress, Run("Content-Length: 100"), [Encoding.ASCII.GetBytes("{")], pause: TimeSpan.FromSeconds(30));
        ShouldBeProblem(r, 408);
        r.Json.GetProperty("detail").GetString()!.ShouldContain("too slowly");
    }

    [PostgresFact]
    public async Task JsonString_WithInvalidUtf8_Returns400NamingWhere()
    {
        var body = Encoding.ASCII.GetBytes("{\"parameters\": {\"source_key\": \"a").Concat(new byte[] { 0xFF, 0xFE }).Concat(Encoding.ASCII.GetBytes("b\"}}")).ToArray();
        var r = await RawHttp.SendAsync(_f.Serve.BaseAddress, Run($"Content-Length: {body.Length}"), [body]);
        ShouldBeProblem(r, 400);
        r.Body.ShouldContain("UTF-8");
        r.Body.ShouldContain("byte 32");
    }

    [PostgresFact]
    public async Task JsonString_WithNulOrALoneSurrogate_Returns400NamingTheParameter()
    {
        using var client = _f.Serve.Client(_f.AcmeWrite);
        foreach (var value in new[] { "a\\u0000b", "\\ud800" })
        {
            var (status, body, response) = await client.PostJsonAsync("/api/v1/pipelines/orders/run", $$$"""{"parameters": {"source_key": "{{{value}}}"}}""");
            status.ShouldBe(400, value);
            response.Content.Headers.ContentType!.MediaType.ShouldBe("application/problem+json");
            body.GetProperty("errors").GetProperty("parameters.source_key")[0].GetString().ShouldNotBeNullOrWhiteSpace();
        }
    }

    [PostgresTheory]
    [InlineData("loads")]
    [InlineData("jobs")]
    public async Task Cursor_WithATimeOutOfRange_Returns400(string collection)
    {
        using var client = _f.Serve.Client(_f.AcmeRead);
        foreach (var decoded in new[] { "5:99999999999999999", "5:-99999999999999999", "[\"loads\",\"5\",\"99999999999999999\"]" })
        {
            var cursor = Convert.ToBase64String(Encoding.ASCII.GetBytes(decoded)).TrimEnd('=').Replace('+', '-').Replace('/', '_');
            var (status, body, response) = await client.GetJsonAsync($"/api/v1/{collection}?cursor={cursor}");
            status.ShouldBe(400, decoded);
            response.Content.Headers.ContentType!.MediaType.ShouldBe("application/problem+json");
            body.GetProperty("errors").GetProperty("cursor")[0].GetString()!.ShouldContain("next_cursor");
        }
    }

    [PostgresFact]
    public async Task Url_TooLong_Returns414Problem()
    {
        var r = await RawHttp.SendAsync(_f.Serve.BaseAddress, $"GET /api/v1/loads?pipeline=orders&x={new string('a', 12_000)} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Api-Key: {_f.AcmeRead}");
        ShouldBeProblem(r, 414);
    }

    [PostgresFact]
    public async Task Headers_TooLargeOrTooMany_Return431Problem()
    {
        var large = await RawHttp.SendAsync(_f.Serve.BaseAddress, $"GET /api/v1/loads HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Api-Key: {_f.AcmeRead}\r\nX-Padding: {new string('a', 40_000)}");
        ShouldBeProblem(large, 431);

        var many = string.Join("\r\n", Enumerable.Range(0, 150).Select(i => $"X-Header-{i}: {i}"));
        var count = await RawHttp.SendAsync(_f.Serve.BaseAddress, $"GET /api/v1/loads HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Api-Key: {_f.AcmeRead}\r\n{many}");
        ShouldBeProblem(count, 431);
    }

    [PostgresFact]
    public async Task Nul_InTheQuery_Returns400Problem_InThePath_KestrelAnswers400Itself()
    {
        using var client = _f.Serve.Client(_f.AcmeRead);
        var (status, body, response) = await client.GetJsonAsync("/api/v1/loads?pipeline=a%00b");
        status.ShouldBe(400);
        response.Content.Headers.ContentType!.MediaType.ShouldBe("application/problem+json");
        body.GetProperty("errors").GetProperty("pipeline")[0].GetString()!.ShouldContain("control character");

        // Kestrel refuses %00 in the path while parsing the request line, before any middleware runs: a 400 without a body (see docs/server.md).
        var kestrel = await RawHttp.SendAsync(_f.Serve.BaseAddress, $"GET /api/v1/pipelines/a%00b HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Api-Key: {_f.AcmeRead}");
        kestrel.Status.ShouldBe(400);
    }

    [PostgresFact]
    public async Task UnknownRouteAndWrongMethod_AreProblemsWithAType()
    {
        using var client = _f.Serve.Client(_f.AcmeRead);
        foreach (var (method, path, expected) in new[] { ("GET", "/api/v1/nothing-here", 404), ("DELETE", "/api/v1/pipelines", 405) })
        {
            var (status, body, response) = await client.SendAsync(new HttpMethod(method), path);
            status.ShouldBe(expected);
            response.Content.Headers.ContentType!.MediaType.ShouldBe("application/problem+json");
            body.GetProperty("type").GetString().ShouldNotBeNullOrWhiteSpace();
        }
    }

    [PostgresFact]
    public async Task RunBody_OfTheWrongShape_NamesTheFieldWithoutTypeNames()
    {
        using var client = _f.Serve.Client(_f.AcmeWrite);
        foreach (var (json, field) in new[]
        {
            ("[]", "body"), ("\"x\"", "body"), ("{\"parameters\": 5}", "parameters"), ("{\"parameters\": []}", "parameters"),
            ("{\"parameters\": {\"source_key\": {\"a\": 1}}}", "parameters.source_key"), ("{\"params\": {}}", "params"),
        })
        {
            var (status, body, _) = await client.PostJsonAsync("/api/v1/pipelines/orders/run", json);
            status.ShouldBe(400, json);
            body.GetProperty("errors").TryGetProperty(field, out _).ShouldBeTrue($"{json}: {body}");
            ShouldShowNoInternals(body.GetRawText());
        }
    }

    /// <summary>No .NET type or namespace and no absolute server path in what an API client sees.</summary>
    internal static void ShouldShowNoInternals(string text, string? serverRoot = null)
    {
        foreach (var inside in new[] { "Intake.", "System.", "Microsoft.", "`1", "`2", "IReadOnlyDictionary", "JsonElement", "RunRequest", "Exception" })
        {
            text.ShouldNotContain(inside, Case.Sensitive, text);
        }

        if (serverRoot is not null)
        {
            text.ShouldNotContain(serverRoot, Case.Sensitive, text);
        }
    }

    [PostgresFact]
    public async Task ProblemBodies_AreJson_NeverAnHtmlOrTextPage()
    {
        using var client = _f.Serve.Client(_f.AcmeWrite);
        var (status, body, response) = await client.PostJsonAsync("/api/v1/pipelines/orders/run", "{not json");
        status.ShouldBe(400);
        response.Content.Headers.ContentType!.MediaType.ShouldBe("application/problem+json");
        body.GetProperty("errors").GetProperty("body")[0].GetString()!.ShouldContain("line 1");
        ShouldShowNoInternals(body.GetRawText());
        body.ValueKind.ShouldBe(JsonValueKind.Object);
    }
}
