using Intake.Engine.Cubic;
using Intake.Server.Auth;
using Intake.Server.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Intake.Server.Api;

/// <summary><c>/api/v1/cubic/tables</c>: what <c>intake cubic</c> shows, for the pipelines the key can see.</summary>
internal static class CubicEndpoints
{
    public static void Map(RouteGroupBuilder api) =>
        api.MapGet("/cubic/tables", ListAsync).WithName("ListCubicTables").WithTags("Tables")
            .WithSummary("ODS tables (cubic.ods) of the pipelines this key can see: current snapshot, LOAD files loaded of all, change files applied, held and waiting.")
            .Produces<List<OdsTableReport>>(); // the report as the engine writes it: its fields are the API's

    private static async Task<IResult> ListAsync(HttpContext http, ServerState state, CancellationToken ct)
    {
        var caller = http.Caller();
        var visible = state.Config.Pipelines.Where(p => caller.CanSee(p.Customer)).Select(p => p.Name).ToHashSet(StringComparer.Ordinal);
        var reports = await OdsReport.BuildAsync(state.Config, state.Runtime.Ports, null, ct);
        return Results.Ok(reports.Where(r => visible.Contains(r.Pipeline)).ToList());
    }
}
