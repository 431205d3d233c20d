using Intake.Server.Auth;
using Intake.Server.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Routing;

namespace Intake.Server.Api;

/// <summary><c>/api/v1/tables</c> (warehouse tables the key's pipelines load) and <c>/api/v1/watermarks</c>.</summary>
internal static class TableEndpoints
{
    public static void Map(RouteGroupBuilder api)
    {
        api.MapGet("/tables", List).WithName("ListTables").WithTags("Tables").WithSummary("Warehouse tables loaded by the pipelines this key can see.");
        api.MapGet("/tables/{name}", Show).WithName("GetTable").WithTags("Tables").WithSummary("One table: its warehouse, declared columns and the pipelines that load it.");
        api.MapGet("/watermarks", ListWatermarksAsync).WithName("ListWatermarks").WithTags("Watermarks")
            .WithSummary("High-water marks per pipeline and partition (incremental reads and exports).");
    }

    private static List<TableDto> Tables(ServerState state, Caller caller) =>
        state.Config.Pipelines
            .Where(p => p.Load is not null && caller.CanSee(p.Customer))
            .GroupBy(p => (p.Load!.Warehouse ?? state.Config.Defaults.Warehouse ?? "", p.Load!.Table, p.Customer))
            .Select(g => new TableDto(
                g.Key.Table,
                g.Key.Item1,
                g.Key.Customer,
                g.Select(p => p.Name).Order(StringComparer.Ordinal).ToList(),
                g.Select(p => p.Load!.Columns).FirstOrDefault(c => c is not null)?.Select(c => new ColumnDto(c.Name, c.Type.ToString().ToLowerInvariant(), c.Nullable)).ToList()))
            .OrderBy(t => t.Name, StringComparer.Ordinal)
            .ToList();

    private static IResult List(HttpContext http, ServerState state) => Results.Ok(new Page<TableDto>(Tables(state, http.Caller()), null));

    private static IResult Show(string name, HttpContext http, ServerState state) =>
        Tables(state, http.Caller()).FirstOrDefault(t => t.Name == name) is { } table
            ? Results.Ok(table)
            : Problems.NotFound($"no table named '{name}' (GET /api/v1/tables lists the tables this key can see)");

    private static async Task<IResult> ListWatermarksAsync(HttpContext http, ServerState state, [FromQuery] string? pipeline, CancellationToken ct)
    {
        var caller = http.Caller();
        IReadOnlyCollection<string> names;
        if (pipeline is not null)
        {
            if (PipelineEndpoints.Find(state, caller, pipeline) is null)
            {
                return PipelineEndpoints.NoSuchPipeline(pipeline);
            }

            names = [pipeline];
        }
        else
        {
            names = state.Config.Pipelines.Where(p => caller.CanSee(p.Customer)).Select(p => p.Name).ToList();
        }

        // Watermarks of pipelines no longer configured have no customer to check against: admin keys only.
        var marks = await state.Queries.ListWatermarksAsync(caller.IsAdmin && pipeline is null ? null : names, ct);
        return Results.Ok(new Page<WatermarkDto>(marks.Select(WatermarkDto.From).ToList(), null));
    }
}
