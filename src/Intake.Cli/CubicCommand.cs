using System.CommandLine;
using System.Globalization;
using Intake.Engine.Cubic;
using Spectre.Console;

namespace Intake.Cli;

/// <summary><c>intake cubic</c>: the ODS tables of pipelines with <c>cubic.ods</c>: snapshots, LOAD files and change files.</summary>
internal static class CubicCommand
{
    public static Command Build()
    {
        var pipeline = new Option<string?>("--pipeline", "-p") { Description = "Only the tables of this pipeline" };
        var cmd = new Command("cubic", "List the ODS tables (cubic.ods): the current snapshot, its LOAD files loaded of all, and change files applied, held and waiting.") { pipeline };
        cmd.SetAction((parse, ct) => Commands.WithRuntimeAsync(parse, async (runtime, json) =>
        {
            var name = parse.GetValue(pipeline);
            if (name is not null && runtime.Config.FindPipeline(name) is null)
            {
                Console.Error.WriteLine($"intake: no pipeline named '{name}' (pipelines: {string.Join(", ", runtime.Config.Pipelines.Select(x => x.Name))})");
                return ExitCodes.NotFound;
            }

            var reports = await OdsReport.BuildAsync(runtime.Config, runtime.Ports, name, ct);
            if (json)
            {
                Json.Write(reports.Select(r => new
                {
                    pipeline = r.Pipeline,
                    table = r.Table,
                    current_table = r.CurrentTable,
                    snapshot = r.Snapshot,
                    snapshot_key = r.SnapshotKey,
                    snapshots = r.Snapshots,
                    load_files_loaded = r.LoadFilesLoaded,
                    load_files_total = r.LoadFilesTotal,
                    change_files_applied = r.ChangeFilesApplied,
                    change_files_held = r.ChangeFilesHeld,
                    change_files_waiting = r.ChangeFilesWaiting,
                }));
                return ExitCodes.Ok;
            }

            if (reports.Count == 0)
            {
                Terminal.Out.WriteLine(runtime.Config.Pipelines.Any(p => p.Cubic?.Ods is not null)
                    ? "no ODS tables yet: discovery registers a table when it first sees a file under its prefix ('intake run')"
                    : "no ODS tables: no pipeline has cubic.ods");
                return ExitCodes.Ok;
            }

            var table = new Table { Border = TableBorder.Simple };
            table.AddColumns("pipeline", "table", "snapshot (UTC)", "LOAD files", "change files", "current-state table");
            foreach (var r in reports)
            {
                table.AddRow(
                    Terminal.Escape(r.Pipeline),
                    Terminal.Escape(r.Table),
                    r.Snapshot is { } s ? $"{OdsFiles.Display(s)}{(r.Snapshots > 1 ? $" ({r.Snapshots.ToString(CultureInfo.InvariantCulture)} in all)" : "")}" : "none yet",
                    $"{r.LoadFilesLoaded.ToString(CultureInfo.InvariantCulture)} of {r.LoadFilesTotal.ToString(CultureInfo.InvariantCulture)} loaded",
                    $"{r.ChangeFilesApplied.ToString(CultureInfo.InvariantCulture)} applied, " + (r.ChangeFilesHeld > 0 ? "[yellow]" : "") + $"{r.ChangeFilesHeld.ToString(CultureInfo.InvariantCulture)} held" + (r.ChangeFilesHeld > 0 ? "[/]" : "") + $", {r.ChangeFilesWaiting.ToString(CultureInfo.InvariantCulture)} waiting",
                    Terminal.Escape(r.CurrentTable ?? "none (no key)"));
            }

            Terminal.Out.Write(table);
            return ExitCodes.Ok;
        }, ct));
        return cmd;
    }
}
