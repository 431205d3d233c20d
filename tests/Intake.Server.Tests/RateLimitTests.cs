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

    [PostgresFact]
    public async Task DefaultLimits_LetAKeyBeBusy_ButLimitRequestsWithoutAValidKeySooner()
    {
        var connection = await TestPostgres.CreateDatabaseAsync("rate");
        using var workspace = new Workspace(connection);
        workspace.WritePipeline("orders", "acme");
        string key;
        await using (var catalog = new PostgresCatalog(connection, TimeProvider.System))
        {
            await catalog.MigrateAsync(default);
            key = (await ApiKeys.CreateAsync(catalog, "acme", ApiKeyScope.Read, null, default)).Key;
        }

        await using var serve = await workspace.StartServeAsync();

        // Automation at 10+ requests a second for over a minute's worth of the old default (600) is not limited.
        using var keyed = serve.Client(key);
        var statuses = new List<int>();
        for (var i = 0; i < 700; i++)
        {
            statuses.Add((await keyed.GetJsonAsync("/api/v1/pipelines")).Status);
        }

        statuses.ShouldAllBe(s => s == 200);

        // Without a valid key the limit is stricter, and the 429 says why.
        using var anonymous = serve.Client(null);
        var answers = new List<(int Status, System.Text.Json.JsonElement Body, HttpResponseMessage Response)>();
        for (var i = 0; i < 70; i++)
        {
            answers.Add(await anonymous.GetJsonAsync("/api/v1/pipelines"));
        }

        answers.Take(60).ShouldAllBe(a => a.Status == 401);
        var limited = answers.Skip(60).ToList();
        limited.ShouldAllBe(a => a.Status == 429);
        limited[0].Response.Content.Headers.ContentType!.MediaType.ShouldBe("application/problem+json");
        limited[0].Response.Headers.RetryAfter.ShouldNotBeNull();
        limited[0].Body.GetProperty("detail").GetString()!.ShouldContain("without a valid API key");
        limited[0].Body.GetProperty("type").GetString().ShouldNotBeNullOrWhiteSpace();

        // The limit on anonymous requests does not touch a valid key from the same address.
        (await keyed.GetJsonAsync("/api/v1/pipelines")).Status.ShouldBe(200);
    }
}
