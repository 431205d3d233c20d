using System.CommandLine;
using System.Globalization;
using Intake.Core.Model;
using Intake.Core.Ports;
using Intake.Engine.Exports;
using Intake.Engine.Runtime;
using Spectre.Console;

namespace Intake.Cli;

/// <summary><c>intake export</c> (queue an export request of a database pipeline) and <c>intake watermarks</c>.</summary>
internal static class ExportCommands
{
    public static IEnumerable<Command> Build() => [ExportCommand(), WatermarksCommand()];

    /// <summary>The CLI option each request field comes from, for validation messages.</summary>
    private static readonly Dictionary<string, string> Options = new(StringComparer.Ordinal)
    {
        ["type"] = "--type", ["end"] = "--end", ["start"] = "--start", ["records"] = "--records", ["partition"] = "--partition", ["pipeline"] = "PIPELINE",
    };

    private static Command ExportCommand()
    {
        var pipeline = new Argument<string>("PIPELINE") { Description = "A database pipeline (source.kind: database)" };
        var type = new Option<string>("--type", "-t") { Description = "instant (up to a minute ago), daily (up to the start of today, UTC) or hourly (up to the start of this hour)", DefaultValueFactory = _ => "instant" };
        var end = new Option<string?>("--end") { Description = "The window's end (exclusive), ISO 8601 UTC, e.g. 2026-03-10T00:00:00Z" };
        var start = new Option<string?>("--start") { Description = "With --ignore-last-export-time: the window's start instead of each partition's watermark" };
        var ignore = new Option<bool>("--ignore-last-export-time") { Description = "Re-export: use --start (daily: end minus a day; hourly: minus an hour) and leave the watermarks untouched" };
        var partitions = new Option<string[]>("--partition", "-p") { Description = "Only this partition (repeatable); default: every partition", AllowMultipleArgumentsPerToken = false };
        var records = new Option<string?>("--records") { Description = "Record override: these record ids (comma-separated), whatever their time; watermarks untouched" };
        var recordsFrom = new Option<string?>("--records-from") { Description = "Record override: an object key in the export area holding the ids (one per line, or a JSON array)" };
        var tag = new Option<string?>("--tag") { Description = "A label kept with the request (and usable in key templates as {tag})" };
        var wait = new Option<bool>("--wait") { Description = "Run the export now and wait for it (otherwise a worker, 'intake run --once' or the server runs it)" };
        var cmd = new Command("export", "Queue an export of a database pipeline: per partition, the rows from its watermark to the end, as gzipped NDJSON or CSV in the store. The same request twice is queued once.")
        {
            pipeline, type, end, start, ignore, partitions, records, recordsFrom, tag, wait,
        };
        cmd.SetAction((parse, ct) => Commands.WithRuntimeAsync(parse, async (runtime, json) =>
        {
            var errors = new List<string>();
            var submission = new ExportSubmission
            {
                Type = parse.GetValue(type)!,
                End = Time(parse.GetValue(end), "--end", errors),
                Start = Time(parse.GetValue(start), "--start", errors),
                IgnoreLastExportTime = parse.GetValue(ignore),
                Partitions = parse.GetValue(partitions) is { Length: > 0 } p ? p : null,
                RecordIds = parse.GetValue(records)?.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries),
                RecordsKey = parse.GetValue(recordsFrom),
                Tag = parse.GetValue(tag),
            };
            if (errors.Count > 0)
            {
                errors.ForEach(e => Console.Error.WriteLine($"intake: {e}"));
                return ExitCodes.Usage;
            }

            var name = parse.GetValue(pipeline)!;
            if (runtime.Config.FindPipeline(name) is not { } config)
            {
                Console.Error.WriteLine($"intake: no pipeline named '{name}' (pipelines: {string.Join(", ", runtime.Config.Pipelines.Select(x => x.Name))})");
                return ExitCodes.NotFound;
            }

            ExportQueued queued;
            try
            {
                queued = await new ExportQueue(runtime).SubmitAsync(config, submission, ct);
            }
            catch (ExportValidationException e)
            {
                foreach (var (field, message) in e.Errors)
                {
                    Console.Error.WriteLine($"intake: {Options.GetValueOrDefault(field, field)}: {message}");
                }

                return ExitCodes.Usage;
            }

            var load = queued.Load;
            if (parse.GetValue(wait) && load is not null)
            {
                await new Runner(runtime).RunAsync(new RunOptions { Once = true, Pipelines = [config.Name], Workers = 1 }, ct);
                load = await runtime.Catalog.GetLoadAsync(load.Id, ct) ?? load;
            }

            var results = await runtime.Ports.Exports.GetExportResultsAsync(config.Name, queued.Request.RequestKey, ct);
            if (json)
            {
                Json.Write(new
                {
                    request = Request(queued.Request),
                    created = queued.Created,
                    load = load is null ? null : Json.Load(load),
                    partitions = results.Select(Result),
                });
            }
            else
            {
                var r = queued.Request;
                var window = r.HasRecordOverride ? "record override" : r.IgnoreLastExportTime ? $"{Fmt(r.Start)} to {Fmt(r.End)} (watermarks untouched)" : $"each partition's watermark to {Fmt(r.End)}";
                Terminal.Out.WriteLine(queued.Created
                    ? $"Queued {r.ExportType} export {r.RequestKey}: {window}."
                    : $"Already requested: {r.RequestKey} ({window}); not queued again.");
                if (load is not null)
                {
                    Terminal.Out.WriteLine($"Load {load.Id}: {load.Status.ToWord()}" + (load.ErrorMessage is null ? "" : $": {load.ErrorMessage}"));
                }
                else
                {
                    Terminal.Out.WriteLine($"Waits until {Fmt(r.NotBefore)}.");
                }

                foreach (var x in results)
                {
                    Terminal.Out.WriteLine($"  {x.Partition}: {(x.Succeeded ? "ok" : "FAILED")} {x.Rows} row(s){(x.ObjectKey is null ? "" : " -> " + x.ObjectKey)}{(x.Succeeded || x.Error is null ? "" : " " + x.Error)}");
                }
            }

            return load?.Status == LoadStatus.Errored ? ExitCodes.LoadsFailed : ExitCodes.Ok;
        }, ct));
        return cmd;
    }

    private static Command WatermarksCommand()
    {
        var pipeline = new Argument<string?>("PIPELINE") { Description = "Only this pipeline", Arity = ArgumentArity.ZeroOrOne };
        var cmd = new Command("watermarks", "List how far each partition of the database pipelines has been exported (the next window starts there).") { pipeline };
        cmd.SetAction((parse, ct) => Commands.WithRuntimeAsync(parse, async (runtime, json) =>
        {
            var name = parse.GetValue(pipeline);
            var marks = await runtime.Ports.Queries.ListWatermarksAsync(name is null ? null : [name], ct);
            if (json)
            {
                Json.Write(marks.Select(m => new { pipeline = m.Pipeline, partition = m.Partition, value = m.Value, updated_at = m.UpdatedAt }));
            }
            else if (marks.Count == 0)
            {
                Terminal.Out.WriteLine("no watermarks");
            }
            else
            {
                var table = new Table { Border = TableBorder.Simple };
                table.AddColumn("pipeline").AddColumn("partition").AddColumn("exported up to (UTC)").AddColumn("updated (UTC)");
                foreach (var m in marks)
                {
                    table.AddRow(Terminal.Escape(m.Pipeline), Terminal.Escape(m.Partition), Terminal.Escape(m.Value), Fmt(m.UpdatedAt));
                }

                Terminal.Out.Write(table);
            }

            return ExitCodes.Ok;
        }, ct));

        var delPipeline = new Argument<string>("PIPELINE");
        var delPartition = new Argument<string>("PARTITION");
        var delete = new Command("delete", "Forget a partition's watermark (its partition was deleted); a partition that comes back starts at the default start.") { delPipeline, delPartition };
        delete.SetAction((parse, ct) => Commands.WithRuntimeAsync(parse, async (runtime, json) =>
        {
            var removed = await runtime.Ports.Exports.DeleteWatermarkAsync(parse.GetValue(delPipeline)!, parse.GetValue(delPartition)!, ct);
            if (json)
            {
                Json.Write(new { deleted = removed });
            }
            else
            {
                Terminal.Out.WriteLine(removed ? "Watermark deleted." : "No such watermark.");
            }

            return removed ? ExitCodes.Ok : ExitCodes.NotFound;
        }, ct));
        cmd.Subcommands.Add(delete);
        return cmd;
    }

    private static DateTimeOffset? Time(string? text, string option, List<string> errors)
    {
        if (text is null)
        {
            return null;
        }

        if (DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var t))
        {
            return t;
        }

        errors.Add($"{option}: '{text}' is not an ISO 8601 time (e.g. 2026-03-10T00:00:00Z)");
        return null;
    }

    private static string Fmt(DateTimeOffset? t) => t?.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture) ?? "";

    public static object Request(ExportRequestRecord r) => new
    {
        request_key = r.RequestKey,
        pipeline = r.Pipeline,
        customer = r.Customer,
        export_type = r.ExportType,
        start = r.Start,
        end = r.End,
        ignore_last_export_time = r.IgnoreLastExportTime,
        partitions = r.Partitions,
        record_ids = r.RecordIds,
        records_key = r.RecordsKey,
        tag = r.Tag,
        redrive_count = r.RedriveCount,
        redrive_of = r.RedriveOf,
        not_before = r.NotBefore,
        requested_at = r.RequestedAt,
        load_id = r.LoadId,
    };

    private static object Result(ExportPartitionResult x) => new
    {
        partition = x.Partition,
        succeeded = x.Succeeded,
        window_start = x.WindowStart,
        window_end = x.WindowEnd,
        rows = x.Rows,
        rows_failed = x.RowsFailed,
        object_key = x.ObjectKey,
        error = x.Error,
    };
}
