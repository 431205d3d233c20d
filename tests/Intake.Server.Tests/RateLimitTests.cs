using Intake.Catalog;
using Intake.Core.Ports;
using Intake.Server.Auth;
using Intake.Tests.Shared;

namespace Intake.Server.Tests;

/// <summary>Requests are limited per key: its own <c>intake serve</c> with a small limit.</summary>
public sealed class RateLimitTests
{
    private const int Limit = 30;

    [PostgresFact]
    public async Task RateLimit_PerKey_Answers429WithRetryAfter_OtherKeysUnaffected()
    {
        var connection = await TestPostgres.CreateDatabaseAsync("rate");
        using var workspace = new Workspace(connection);
        workspace.WritePipeline("orders", "acme");
        string busy, quiet;
        await using (var catalog = new PostgresCatalog(connection, TimeProvider.System))
        {
            await catalog.MigrateAsync(default);
            busy = (await ApiKeys.CreateAsync(catalog, "acme", ApiKeyScope.Read, null, default)).Key;
            quiet = (await ApiKeys.CreateAsync(catalog, "acme", ApiKeyScope.Read, null, default)).Key;
        }

        await using var serve = await workspace.StartServeAsync("--rate-limit", $"{Limit}/1m");
        using var limited = serve.Client(busy);
        var statuses = new List<int>();
        for (var i = 0; i < Limit + 5; i++)
        {
            statuses.Add((await limited.GetJsonAsync("/api/v1/pipelines")).Status);
        }

        statuses.Take(Limit).ShouldAllBe(s => s == 200);
        statuses.Skip(Limit).ShouldAllBe(s => s == 429);
        var (status, body, response) = await limited.GetJsonAsync("/api/v1/loads");
        status.ShouldBe(429);
        response.Content.Headers.ContentType!.MediaType.ShouldBe("application/problem+json");
        response.Headers.RetryAfter.ShouldNotBeNull();
        body.GetProperty("detail").GetString()!.ShouldContain("retry after");

        using var other = serve.Client(quiet);
        (await other.GetJsonAsync("/api/v1/pipelines")).Status.ShouldBe(200);
        // Probes are never limited: a load balancer must see the process.
        (await limited.GetJsonAsync("/healthz")).Status.ShouldBe(200);
    }
}
