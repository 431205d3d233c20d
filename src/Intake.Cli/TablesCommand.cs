using System.CommandLine;
using Intake.Core.Model;
using Spectre.Console;

namespace Intake.Cli;

/// <summary><c>intake tables</c>: the source tables of pipelines with tables_from_prefix, as discovery registered them.</summary>
internal static class TablesCommand
{
    public static Command Build()
    {
        var pipeline = new Option<string?>("--pipeline", "-p") { Description = "Only the tables of this pipeline" };
        var cmd = new Command("tables", "List the tables of file sources watched by prefix (tables_from_prefix): name, prefix, first seen, the warehouse table and loads by status.") { pipeline };
        cmd.SetAction((parse, ct) => Commands.WithRuntimeAsync(parse, async (runtime, json) =>
        {
            var name = parse.GetValue(pipeline);
            if (name is not null && runtime.Config.FindPipeline(name) is null)
            {
                Console.Error.WriteLine($"intake: no pipeline named '{name}' (pipelines: {string.Join(", ", runtime.Config.Pipelines.Select(x => x.Name))})");
                return ExitCodes.NotFound;
            }

            var tables = await runtime.Ports.Tables.ListTablesAsync(name is null ? null : [name], ct);

            // The warehouse table each is written to, as the load step names it now (none when the pipeline has no load step or is gone).
            string? WarehouseTable(string pipelineName, string table) => runtime.Config.FindPipeline(pipelineName)?.Load?.TableFor(table);
            if (json)
            {
                Json.Write(tables.Select(t => new
                {
                    pipeline = t.Table.Pipeline,
                    name = t.Table.Name,
                    prefix = t.Table.Prefix,
                    first_seen_at = t.Table.FirstSeenAt,
                    warehouse_table = WarehouseTable(t.Table.Pipeline, t.Table.Name),
                    loads = t.Loads.Where(kv => kv.Value > 0).ToDictionary(kv => kv.Key.ToWord(), kv => kv.Value, StringComparer.Ordinal),
                }));
            }
            else if (tables.Count == 0)
            {
                Terminal.Out.WriteLine(runtime.Config.Pipelines.Any(p => p.Source.Tables is not null)
                    ? "no tables yet: discovery registers a table when it first sees a file under its prefix ('intake run')"
                    : "no tables: no pipeline has source.tables_from_prefix");
            }
            else
            {
                Tables.SourceTables(tables, WarehouseTable);
            }

            return ExitCodes.Ok;
        }, ct));
        return cmd;
    }
}
