using Intake.Catalog;
using Intake.Core.Ports;
using Intake.Server.Auth;
using Intake.Server.Hosting;
using Intake.Tests.Shared;

namespace Intake.Server.Tests;

/// <summary><c>/metrics</c> names every customer's pipelines: with <c>--metrics-auth admin</c> only an admin key reads it.</summary>
public sealed class MetricsAccessTests
{
    [PostgresFact]
    public async Task Metrics_WithAdminRequired_AnswersOnlyAnAdminKey()
    {
        var connection = await TestPostgres.CreateDatabaseAsync("metrics");
        using var workspace = new Workspace(connection);
        workspace.WritePipeline("orders", "acme");
        string reader, admin;
        await using (var catalog = new PostgresCatalog(connection, TimeProvider.System))
        {
            await catalog.MigrateAsync(default);
            reader = (await ApiKeys.CreateAsync(catalog, "acme", ApiKeyScope.Read, null, default)).Key;
            admin = (await ApiKeys.CreateAsync(catalog, "*", ApiKeyScope.Admin, null, default)).Key;
        }

        await using var serve = await workspace.StartServeAsync("--metrics-auth", "admin");

        using var none = serve.Client(null);
        var (status, body, response) = await none.GetJsonAsync("/metrics");
        status.ShouldBe(401);
        response.Content.Headers.ContentType!.MediaType.ShouldBe("application/problem+json");
        response.Headers.WwwAuthenticate.ShouldNotBeEmpty();
        body.GetRawText().ShouldNotContain("orders");

        using var customer = serve.Client(reader);
        var (forbidden, problem, _) = await customer.GetJsonAsync("/metrics");
        forbidden.ShouldBe(403);
        problem.GetProperty("detail").GetString()!.ShouldContain("admin");

        foreach (var bearer in new[] { false, true })
        {
            using var ops = serve.Client(admin, bearer);
            var ok = await ops.GetAsync("/metrics");
            ((int)ok.StatusCode).ShouldBe(200);
            (await ok.Content.ReadAsStringAsync()).ShouldContain("intake_queue_depth");
        }

        // Probes stay open: a load balancer sends no key.
        (await none.GetJsonAsync("/healthz")).Status.ShouldBe(200);
        (await none.GetJsonAsync("/readyz")).Status.ShouldBe(200);
    }

    [Theory]
    [InlineData("http://127.0.0.1:8080", false)]
    [InlineData("http://localhost:8080;http://[::1]:8080;http://127.0.0.2:9000", false)]
    [InlineData("http://0.0.0.0:8080", true)]
    [InlineData("http://*:8080", true)]
    [InlineData("http://+:8080", true)]
    [InlineData("http://[::]:8080", true)]
    [InlineData("http://127.0.0.1:8080;http://10.0.0.5:8080", true)]
    [InlineData("http://intake.example.com:8080", true)]
    public void MetricsAuth_ByDefault_NeedsAnAdminKeyExactlyWhenListeningBeyondLoopback(string urls, bool needsAdmin)
    {
        new ServerOptions { Urls = urls }.MetricsNeedAdminKey.ShouldBe(needsAdmin);
        new ServerOptions { Urls = urls, Metrics = MetricsAccess.Admin }.MetricsNeedAdminKey.ShouldBeTrue();
        new ServerOptions { Urls = urls, Metrics = MetricsAccess.Open }.MetricsNeedAdminKey.ShouldBeFalse();
    }
}
