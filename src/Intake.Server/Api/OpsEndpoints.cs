using Intake.Core.Ports;
using Intake.Server.Auth;
using Intake.Server.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Intake.Server.Api;

/// <summary>
/// Probes and metrics, outside <c>/api/v1</c>: <c>/healthz</c> says the process is up, <c>/readyz</c> that the
/// catalog and the stores answer; neither takes a key (load balancers send none). <c>/metrics</c> names every
/// customer's pipelines, so it answers only an admin key when <see cref="ServerOptions.MetricsNeedAdminKey"/>
/// (by default when the server listens beyond loopback).
/// </summary>
internal static class OpsEndpoints
{
    public static void Map(IEndpointRouteBuilder app, ServerState state)
    {
        app.MapGet("/healthz", () => Results.Ok(new HealthDto("ok"))).WithName("Health").WithTags("Operations").WithSummary("The process is up.")
            .Produces<HealthDto>();
        app.MapGet("/readyz", ReadyAsync).WithName("Ready").WithTags("Operations").WithSummary("The catalog and every store answer; 503 with the failing ones otherwise.")
            .Produces<ReadyDto>().Produces<ReadyDto>(StatusCodes.Status503ServiceUnavailable);
        var metrics = app.MapGet("/metrics", MetricsAsync).WithName("Metrics").WithTags("Operations")
            .WithSummary(state.Options.MetricsNeedAdminKey ? "Prometheus text format; needs an admin key (X-Api-Key or Bearer)." : "Prometheus text format.")
            .Produces<string>(StatusCodes.Status200OK, "text/plain");
        if (state.Options.MetricsNeedAdminKey)
        {
            metrics.WithMetadata(ApiDocument.RequiresKey.Instance).ProducesProblem(StatusCodes.Status401Unauthorized).ProducesProblem(StatusCodes.Status403Forbidden).ProducesProblem(StatusCodes.Status429TooManyRequests);
        }
    }

    private static async Task<IResult> ReadyAsync(ServerState state, CancellationToken ct)
    {
        var checks = new Dictionary<string, string>(StringComparer.Ordinal);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(5));
        await CheckAsync(checks, "catalog", state.ClientText, () => state.Queries.PingAsync(timeout.Token));
        foreach (var (name, store) in state.Runtime.Stores)
        {
            await CheckAsync(checks, $"store:{name}", state.ClientText, () => store.StatAsync("inbox", ".intake-readyz", timeout.Token));
        }

        var ready = checks.Values.All(v => v == "ok");
        return Results.Json(new ReadyDto(ready ? "ready" : "not_ready", checks), statusCode: ready ? StatusCodes.Status200OK : StatusCodes.Status503ServiceUnavailable);
    }

    private static async Task CheckAsync(Dictionary<string, string> checks, string name, ClientText text, Func<Task> check)
    {
        try
        {
            await check();
            checks[name] = "ok";
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            checks[name] = $"failed: {text.For(e.Message)}";
        }
    }

    private static async Task<IResult> MetricsAsync(HttpContext http, ServerState state, CancellationToken ct)
    {
        if (state.Options.MetricsNeedAdminKey)
        {
            if (http.Features.Get<Caller>() is not { } caller)
            {
                return Problems.Unauthorized();
            }

            if (!caller.IsAdmin)
            {
                return Problems.Forbidden($"key {caller.KeyId} has scope {caller.Scope.ToWord()}; /metrics names every customer's pipelines and needs an admin key on this server");
            }
        }

        var counts = await state.Queries.CountByPipelineAndStatusAsync(ct);
        return Results.Text(state.Metrics.Render(counts), "text/plain; version=0.0.4; charset=utf-8");
    }
}
