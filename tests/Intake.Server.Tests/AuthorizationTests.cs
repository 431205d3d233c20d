using Intake.Tests.Shared;

namespace Intake.Server.Tests;

/// <summary>Every endpoint: no key or a wrong key gets 401, a read key 403 on writes, another customer's key 404.</summary>
public sealed class AuthorizationTests : IClassFixture<ApiFixture>
{
    private readonly ApiFixture _f;

    public AuthorizationTests(ApiFixture fixture) => _f = fixture;

    /// <summary>Every endpoint under /api/v1, with acme's resources in the path.</summary>
    public static TheoryData<string, string> Endpoints => new()
    {
        { "GET", "/api/v1/pipelines" },
        { "GET", "/api/v1/pipelines/orders" },
        { "POST", "/api/v1/pipelines/orders/pause" },
        { "POST", "/api/v1/pipelines/orders/resume" },
        { "POST", "/api/v1/pipelines/orders/run" },
        { "GET", "/api/v1/loads" },
        { "GET", "/api/v1/loads/{orders-errored}" },
        { "POST", "/api/v1/loads/{orders-errored}/redrive" },
        { "POST", "/api/v1/loads/{orders-archived}/cancel" },
        { "GET", "/api/v1/jobs" },
        { "GET", "/api/v1/jobs/{orders-errored}" },
        { "POST", "/api/v1/jobs/{orders-errored}/redrive" },
        { "POST", "/api/v1/jobs/{orders-archived}/cancel" },
        { "GET", "/api/v1/tables" },
        { "GET", "/api/v1/tables/orders" },
        { "GET", "/api/v1/watermarks" },
        { "GET", "/api/v1/cubic/tables" },
    };

    public static TheoryData<string, string> WriteEndpoints
    {
        get
        {
            var data = new TheoryData<string, string>();
            foreach (var row in Endpoints.Where(r => (string)r[0] == "POST"))
            {
                data.Add((string)row[0], (string)row[1]);
            }

            return data;
        }
    }

    /// <summary>acme's resources, named in the path or in a filter: globex's key must not learn they exist.</summary>
    public static TheoryData<string, string> AcmeResources
    {
        get
        {
            var data = new TheoryData<string, string>();
            // /api/v1/cubic/tables is a listing (deeper only by its path), which answers every key with what it may see
            foreach (var row in Endpoints.Where(r => ((string)r[1]).Count(c => c == '/') > 3 && (string)r[1] != "/api/v1/cubic/tables"))
            {
                data.Add((string)row[0], (string)row[1]);
            }

            data.Add("GET", "/api/v1/loads?pipeline=orders");
            data.Add("GET", "/api/v1/loads?customer=acme");
            data.Add("GET", "/api/v1/jobs?pipeline=orders");
            data.Add("GET", "/api/v1/watermarks?pipeline=orders");
            return data;
        }
    }

    [PostgresTheory]
    [MemberData(nameof(Endpoints))]
    public async Task Endpoint_WithoutKey_Returns401Problem(string method, string path)
    {
        using var client = _f.Serve.Client(null);
        var (status, body, response) = await client.SendAsync(new HttpMethod(method), _f.Path(path));
        status.ShouldBe(401);
        response.Content.Headers.ContentType!.MediaType.ShouldBe("application/problem+json");
        body.GetProperty("detail").GetString()!.ShouldContain("X-Api-Key");
    }

    [PostgresTheory]
    [MemberData(nameof(Endpoints))]
    public async Task Endpoint_WithWrongOrMalformedKey_Returns401(string method, string path)
    {
        // Right id, wrong secret; then something that is not a key at all; then a wrong bearer token.
        var id = _f.AcmeWrite.Split('_')[1];
        foreach (var (key, bearer) in new[] { ($"ik_{id}_{new string('A', 43)}", false), ("not-a-key", false), (_f.AcmeWrite + "x", true) })
        {
            using var client = _f.Serve.Client(key, bearer);
            var (status, _, _) = await client.SendAsync(new HttpMethod(method), _f.Path(path));
            status.ShouldBe(401, $"key {key[..Math.Min(key.Length, 8)]}…");
        }
    }

    [PostgresTheory]
    [MemberData(nameof(WriteEndpoints))]
    public async Task WriteEndpoint_WithReadKey_Returns403(string method, string path)
    {
        using var client = _f.Serve.Client(_f.AcmeRead);
        var (status, body, response) = await client.SendAsync(new HttpMethod(method), _f.Path(path));
        status.ShouldBe(403);
        response.Content.Headers.ContentType!.MediaType.ShouldBe("application/problem+json");
        body.GetProperty("detail").GetString()!.ShouldContain("scope read");
    }

    [PostgresTheory]
    [MemberData(nameof(AcmeResources))]
    public async Task AcmeResource_WithGlobexKey_Returns404AndChangesNothing(string method, string path)
    {
        using var globex = _f.Serve.Client(_f.GlobexWrite);
        var (status, body, response) = await globex.SendAsync(new HttpMethod(method), _f.Path(path));
        status.ShouldBe(404);
        response.Content.Headers.ContentType!.MediaType.ShouldBe("application/problem+json");
        body.GetProperty("detail").GetString()!.ShouldNotContain("globex");

        using var acme = _f.Serve.Client(_f.AcmeRead);
        var (_, pipeline, _) = await acme.GetJsonAsync("/api/v1/pipelines/orders");
        pipeline.GetProperty("paused").GetBoolean().ShouldBeFalse();
        var (_, load, _) = await acme.GetJsonAsync($"/api/v1/loads/{_f.OrdersArchived}");
        load.GetProperty("load").GetProperty("status").GetString().ShouldBe("archived");
    }

    [PostgresFact]
    public async Task Lists_WithCustomerKey_ShowOnlyThatCustomer()
    {
        using var globex = _f.Serve.Client(_f.GlobexWrite);
        (await globex.GetJsonAsync("/api/v1/pipelines")).Body.Names().ShouldBe(["events"]);
        (await globex.GetJsonAsync("/api/v1/tables")).Body.Names().ShouldBe(["events"]);
        var loads = (await globex.GetJsonAsync("/api/v1/loads")).Body;
        loads.Ids().ShouldBe([_f.EventsArchived, _f.EventsErrored]);
        loads.GetProperty("items").EnumerateArray().ShouldAllBe(l => l.GetProperty("customer").GetString() == "globex");
        var marks = (await globex.GetJsonAsync("/api/v1/watermarks")).Body.GetProperty("items").EnumerateArray().Select(m => m.GetProperty("pipeline").GetString()).ToList();
        marks.ShouldBe(["events"]);

        using var acme = _f.Serve.Client(_f.AcmeRead);
        (await acme.GetJsonAsync("/api/v1/pipelines")).Body.Names().ShouldBe(["frozen", "orders"], ignoreOrder: true);
        (await acme.GetJsonAsync("/api/v1/loads?limit=1000")).Body.Ids().ShouldNotContain(_f.EventsErrored);
        (await acme.GetJsonAsync($"/api/v1/loads/{_f.EventsErrored}")).Status.ShouldBe(404);
    }

    [PostgresFact]
    public async Task AdminKey_SeesEveryCustomer()
    {
        using var admin = _f.Serve.Client(_f.Admin, bearer: true);
        (await admin.GetJsonAsync("/api/v1/pipelines")).Body.Names().ShouldBe(["events", "frozen", "orders"], ignoreOrder: true);
        var ids = (await admin.GetJsonAsync("/api/v1/loads?limit=1000")).Body.Ids();
        ids.ShouldContain(_f.EventsErrored);
        ids.ShouldContain(_f.OrdersErrored);
        (await admin.GetJsonAsync("/api/v1/loads?customer=globex")).Body.Ids().ShouldBe([_f.EventsArchived, _f.EventsErrored]);
        (await admin.GetJsonAsync($"/api/v1/loads/{_f.EventsErrored}")).Status.ShouldBe(200);
    }

    [PostgresFact]
    public async Task Logs_NeverContainAKeyOrItsSecret()
    {
        var keys = new[] { _f.AcmeRead, _f.AcmeWrite, _f.GlobexWrite, _f.Admin };
        foreach (var key in keys)
        {
            using var client = _f.Serve.Client(key, bearer: key == _f.Admin);
            await client.GetJsonAsync("/api/v1/pipelines");
            await client.PostJsonAsync("/api/v1/pipelines/orders/resume");
            using var wrong = _f.Serve.Client(key[..^2] + "zz");
            await wrong.GetJsonAsync("/api/v1/loads");
        }

        await Task.Delay(200); // the child's log lines reach us through a pipe
        var output = _f.Serve.Output;
        output.ShouldContain("rejected");
        foreach (var key in keys)
        {
            var secret = key[16..];
            output.ShouldNotContain(secret);
            output.ShouldNotContain(secret[..^2] + "zz");
        }
    }
}
