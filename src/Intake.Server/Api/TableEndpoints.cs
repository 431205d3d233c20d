using System.ComponentModel;
using Intake.Core.Ports;
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
        api.MapGet("/tables", ListAsync).WithName("ListTables").WithTags("Tables")
            .WithSummary("Warehouse tables loaded by the pipelines this key can see, by name; limit (1000) and cursor page them.")
            .Produces<Page<TableDto>>();
        api.MapGet("/tables/{name}", ShowAsync).WithName("GetTable").WithTags("Tables").WithSummary("One table: its warehouse, declared columns, the pipelines that load it and the source tables (tables_from_prefix) written to it.")
            .Produces<TableDto>().ProducesProblem(StatusCodes.Status404NotFound);
        api.MapGet("/watermarks", ListWatermarksAsync).WithName("ListWatermarks").WithTags("Watermarks")
            .WithSummary("High-water marks per pipeline and partition (incremental reads and exports), by pipeline and partition; limit (1000) and cursor page them.")
            .Produces<Page<WatermarkDto>>().ProducesProblem(StatusCodes.Status404NotFound);
    }

    /// <summary>
    /// The warehouse tables of the pipelines the caller can see. A pipeline with tables_from_prefix lists its registered
    /// source tables: one warehouse table each when load.table names one per source table ({table}), else all of them
    /// under its one table.
    /// </summary>
    private static async Task<List<TableDto>> TablesAsync(ServerState state, Caller caller, CancellationToken cancellationToken)
    {
        var pipelines = state.Config.Pipelines.Where(p => p.Load is not null && caller.CanSee(p.Customer)).ToList();
        var withTables = pipelines.Where(p => p.Source.Tables is not null).Select(p => p.Name).ToList();
        var registered = withTables.Count == 0 ? [] : await state.Runtime.Ports.Tables.ListTablesAsync(withTables, cancellationToken);
        var byPipeline = registered.ToLookup(t => t.Table.Pipeline, StringComparer.Ordinal);

        var entries = pipelines.SelectMany(p => p.Load!.IsPerTable
            ? byPipeline[p.Name].Select(t => (Pipeline: p, Table: p.Load.TableFor(t.Table.Name), Sources: (IEnumerable<SourceTableSummary>?)[t]))
            : [(Pipeline: p, Table: p.Load.Table, Sources: p.Source.Tables is null ? null : byPipeline[p.Name])]);
        return entries
            .GroupBy(e => (Warehouse: e.Pipeline.Load!.Warehouse ?? state.Config.Defaults.Warehouse ?? "", e.Table, e.Pipeline.Customer))
            .Select(g => new TableDto(
                g.Key.Table,
                g.Key.Warehouse,
                g.Key.Customer,
                g.Select(e => e.Pipeline.Name).Distinct().Order(StringComparer.Ordinal).ToList(),
                g.Select(e => e.Pipeline.Load!.Columns).FirstOrDefault(c => c is not null)?.Select(c => new ColumnDto(c.Name, c.Type.ToString().ToLowerInvariant(), c.Nullable)).ToList())
            {
                SourceTables = g.All(e => e.Sources is null) ? null : g.SelectMany(e => e.Sources ?? []).Select(SourceTableDto.From).ToList(),
            })
            .OrderBy(t => t.Name, StringComparer.Ordinal)
            .ThenBy(t => t.Warehouse, StringComparer.Ordinal)
            .ThenBy(t => t.Customer, StringComparer.Ordinal)
            .ToList();
    }

    private static async Task<IResult> ListAsync(HttpContext http, ServerState state, [FromQuery, Description(ApiInput.LimitDescription)] string? limit, [FromQuery, Description(ApiInput.CursorDescription)] string? cursor, CancellationToken ct)
    {
        var errors = new Dictionary<string, string[]>(StringComparer.Ordinal);
        var size = ApiInput.Limit(errors, limit, ApiInput.MaxLimit);
        var after = ApiInput.Cursor(errors, cursor, "tables", 3);
        if (errors.Count > 0)
        {
            return Problems.Invalid(errors);
        }

        // Ordered by (name, warehouse, customer): one name can be a table in two warehouses or of two customers.
        var rest = (await TablesAsync(state, http.Caller(), ct))
            .Where(t => after is null || Compare((t.Name, t.Warehouse, t.Customer), (after[0], after[1], after[2])) > 0)
            .Take(size + 1)
            .ToList();
        var page = rest.Take(size).ToList();
        return Results.Ok(new Page<TableDto>(page, rest.Count > size ? ApiInput.NewCursor("tables", page[^1].Name, page[^1].Warehouse, page[^1].Customer) : null));
    }

    private static async Task<IResult> ShowAsync(string name, HttpContext http, ServerState state, CancellationToken ct) =>
        (await TablesAsync(state, http.Caller(), ct)).FirstOrDefault(t => t.Name == name) is { } table
            ? Results.Ok(table)
            : Problems.NotFound($"no table named '{name}' (GET /api/v1/tables lists the tables this key can see)");

    private static async Task<IResult> ListWatermarksAsync(HttpContext http, ServerState state, [FromQuery] string? pipeline, [FromQuery, Description(ApiInput.LimitDescription)] string? limit, [FromQuery, Description(ApiInput.CursorDescription)] string? cursor, CancellationToken ct)
    {
        var errors = new Dictionary<string, string[]>(StringComparer.Ordinal);
        pipeline = ApiInput.Text(errors, "pipeline", pipeline);
        var size = ApiInput.Limit(errors, limit, ApiInput.MaxLimit);
        var after = ApiInput.Cursor(errors, cursor, "watermarks", 2);
        if (errors.Count > 0)
        {
            return Problems.Invalid(errors);
        }

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
        var rest = marks
            .OrderBy(m => m.Pipeline, StringComparer.Ordinal)
            .ThenBy(m => m.PartitionKey, StringComparer.Ordinal)
            .Where(m => after is null || Compare((m.Pipeline, m.PartitionKey, ""), (after[0], after[1], "")) > 0)
            .Take(size + 1)
            .Select(WatermarkDto.From)
            .ToList();
        var page = rest.Take(size).ToList();
        return Results.Ok(new Page<WatermarkDto>(page, rest.Count > size ? ApiInput.NewCursor("watermarks", page[^1].Pipeline, page[^1].Partition) : null));
    }

    private static int Compare((string, string, string) a, (string, string, string) b)
    {
        var c = string.CompareOrdinal(a.Item1, b.Item1);
        c = c != 0 ? c : string.CompareOrdinal(a.Item2, b.Item2);
        return c != 0 ? c : string.CompareOrdinal(a.Item3, b.Item3);
    }
}
