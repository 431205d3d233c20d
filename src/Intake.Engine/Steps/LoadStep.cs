using Intake.Core.Model;
using Intake.Core.Ports;
using Intake.Formats.Archives;
using Intake.Formats.Csv;

namespace Intake.Engine.Steps;

/// <summary>
/// Bulk-loads every data file of the load (from the work area, or streamed out of the original when the pipeline
/// has no <c>decompress</c> step) into the warehouse table in one transaction. The
/// warehouse deletes this load's rows from an earlier attempt in the same transaction, so a re-run
/// after a crash never leaves a row twice.
/// </summary>
public sealed class LoadStep : IStep
{
    public string Name => StepDescriptor.Load.Name;

    public async Task<StepResult> RunAsync(StepContext context, CancellationToken cancellationToken)
    {
        var config = context.Pipeline.Load!.For(context.Load); // the load's own warehouse table when load.table names one per source table
        var warehouse = StepContext.Required(context.Warehouse, "warehouse for the load step");
        if (!context.Pipeline.Source.Kind.WritesInbox)
        {
            return await JsonLoad.RunAsync(context, warehouse, config, Name, cancellationToken); // no original in the inbox: the pull's NDJSON parts
        }

        if (DataFiles.IsNdjson(context))
        {
            return WithKeptWork(context, await JsonLoad.RunFilesAsync(context, warehouse, config, Name, cancellationToken));
        }

        var request = await RequestAsync(context, config, Name, cancellationToken);
        await using var data = await DataFiles.OpenAsync(context, context.Progress, cancellationToken);
        var result = await data.ReadAsync(sources => warehouse.LoadAsync(request, sources, cancellationToken));
        return WithKeptWork(context, new StepResult
        {
            RowsIn = result.RowsRead,
            RowsOut = result.RowsWritten,
            BytesIn = data.TotalBytes,
            Outputs = [$"{warehouse.Name}:{config.Table}"],
            Message = Replacement(result),
        });
    }

    /// <summary>What a load that replaces a partition did to the rows of other loads, for its step record.</summary>
    public static string? Replacement(WarehouseLoadResult result)
    {
        if (result.Superseded is { } s)
        {
            return $"superseded: {Partition(s.Partition)} holds the rows of the newer load {s.ReplacedBy}, so this load's {Rows(s.Rows)} were not kept";
        }

        return result.Replaced.Count == 0
            ? null
            : string.Join("; ", result.Replaced.Select(r => $"replaced {Rows(r.Rows)} of {Partition(r.Partition)} from load {r.LoadId}"));
    }

    private static string Rows(long rows) => rows == 1 ? "1 row" : $"{rows.ToString("N0", System.Globalization.CultureInfo.InvariantCulture)} rows";

    /// <summary><c>day=2022-03-04</c> as people read it: <c>day 2022-03-04</c>.</summary>
    private static string Partition(string key) => string.Join(", ", key.Split('/').Select(p => p.Replace('=', ' ')));

    /// <summary>With <c>keep_work</c>, says where the expanded files stay (the decompress step's outputs list each).</summary>
    private static StepResult WithKeptWork(StepContext context, StepResult result) =>
        context.Pipeline.KeepWork && !DataFiles.Streamed(context)
            ? result with { Message = $"expanded files kept (keep_work) in {context.WorkStore.Describe(Areas.Work, context.WorkPrefix.TrimEnd('/'))}" + (result.Message is { } m ? "; " + m : "") }
            : result;

    /// <summary>The warehouse request for a load's data files: its table, columns, ledger step, and the slices' constant columns (a replacing one replaces its partition).</summary>
    internal static async Task<WarehouseLoadRequest> RequestAsync(StepContext context, Configuration.LoadStepConfig config, string step, CancellationToken cancellationToken)
    {
        var constants = await context.ConstantsAsync(cancellationToken);
        return new WarehouseLoadRequest
        {
            Table = config.Table,
            Columns = config.Columns,
            LoadId = context.Load.Id,
            Step = step,
            Attempt = context.Attempt,
            Constants = [.. constants.Select(c => c.Column)],
            ReplaceWhere = [.. constants.Where(c => c.Replaces).Select(c => c.Column.Name)],
            Streams = config.Streams,
            Small = context.Small,
        };
    }
}
