using Intake.Server.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Intake.Server.Api;

/// <summary>
/// Probes and metrics, outside <c>/api/v1</c> and without a key (load balancers and Prometheus do not send
/// one): <c>/healthz</c> says the process is up, <c>/readyz</c> that the catalog and the stores answer.
/// </summary>
internal static class OpsEndpoints
{
    public static void Map(IEndpointRouteBuilder app, ServerState state)
    {
        app.MapGet("/healthz", () => Results.Ok(new { status = "ok" })).WithTags("Operations").WithSummary("The process is up.");
        app.MapGet("/readyz", ReadyAsync).WithTags("Operations").WithSummary("The catalog and every store answer; 503 with the failing ones otherwise.");
        app.MapGet("/metrics", MetricsAsync).WithTags("Operations").WithSummary("Prometheus text format.");
    }

    private static async Task<IResult> ReadyAsync(ServerState state, CancellationToken ct)
    {
        var checks = new Dictionary<string, string>(StringComparer.Ordinal);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(5));
        await CheckAsync(checks, "catalog", () => state.Queries.PingAsync(timeout.Token));
        foreach (var (name, store) in state.Runtime.Stores)
        {
            await CheckAsync(checks, $"store:{name}", () => store.StatAsync("inbox", ".intake-readyz", timeout.Token));
        }

        var ready = checks.Values.All(v => v == "ok");
        return Results.Json(new { status = ready ? "ready" : "not_ready", checks }, statusCode: ready ? StatusCodes.Status200OK : StatusCodes.Status503ServiceUnavailable);
    }

    private static async Task CheckAsync(Dictionary<string, string> checks, string name, Func<Task> check)
    {
        try
        {
            await check();
            checks[name] = "ok";
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            checks[name] = $"failed: {e.Message}";
        }
    }

    private static async Task<IResult> MetricsAsync(ServerState state, CancellationToken ct)
    {
        var counts = await state.Queries.CountByPipelineAndStatusAsync(ct);
        return Results.Text(state.Metrics.Render(counts), "text/plain; version=0.0.4; charset=utf-8");
    }
}
