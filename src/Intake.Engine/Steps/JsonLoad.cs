using System.IO.Compression;
using System.Runtime.CompilerServices;
using Intake.Core.Model;
using Intake.Core.Ports;
using Intake.Engine.Configuration;
using Intake.Formats.Json;

namespace Intake.Engine.Steps;

/// <summary>
/// The load step for an HTTP pipeline: the pull's NDJSON parts (still in the load's work area) into the warehouse
/// table. Two streaming passes: the first collects every key of every record (records of one API need not all have
/// the same keys), the second reads the rows with that column list; without declared columns they are text.
/// </summary>
internal static class JsonLoad
{
    public static async Task<StepResult> RunAsync(StepContext context, IWarehouse warehouse, LoadStepConfig config, string step, CancellationToken cancellationToken)
    {
        var prefix = context.WorkPrefix + "pull/";
        var parts = new List<ObjectInfo>();
        await foreach (var o in context.WorkStore.ListAsync(Areas.Work, prefix, cancellationToken))
        {
            parts.Add(o);
        }

        parts.Sort((a, b) => string.CompareOrdinal(a.Key, b.Key));
        var columns = new List<string>();
        foreach (var p in parts)
        {
            await using var stream = await OpenAsync(context, p, cancellationToken);
            await NdjsonColumns.ScanAsync(stream, Display(context, p), columns, cancellationToken);
        }

        if (parts.Count == 0 || columns.Count == 0)
        {
            return new StepResult { RowsIn = 0, RowsOut = 0, Message = "the day has no records; nothing to load" };
        }

        var result = await warehouse.LoadAsync(
            new WarehouseLoadRequest { Table = config.Table, Columns = config.Columns, LoadId = context.Load.Id, Step = step, Attempt = context.Attempt },
            PartSources(context, parts, columns, cancellationToken),
            cancellationToken);
        return new StepResult
        {
            RowsIn = result.RowsRead,
            RowsOut = result.RowsWritten,
            BytesIn = parts.Sum(p => p.Size),
            Outputs = [$"{warehouse.Name}:{config.Table}"],
        };
    }

    /// <summary>One source per part, opened when the warehouse asks for it (it disposes each, and with it the part's stream).</summary>
    private static async IAsyncEnumerable<IRowSource> PartSources(
        StepContext context, List<ObjectInfo> parts, List<string> columns, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        foreach (var p in parts)
        {
            yield return new NdjsonRowSource(await OpenAsync(context, p, cancellationToken), Display(context, p), columns);
        }
    }

    /// <summary>
    /// The load step for data files that are NDJSON (<c>format: ndjson</c>): the same two passes over the data files
    /// (from the work area, or streamed out of the original twice), flattened when <c>ndjson.flatten</c> says so.
    /// Files without a record end the load <c>empty</c> unless <c>ndjson.allow_empty</c>.
    /// </summary>
    public static async Task<StepResult> RunFilesAsync(StepContext context, IWarehouse warehouse, LoadStepConfig config, string step, CancellationToken cancellationToken)
    {
        var ndjson = context.Pipeline.Ndjson;
        var columns = new List<string>();
        long records = 0;
        await using (var scan = await DataFiles.OpenAsync(context, null, cancellationToken))
        {
            await foreach (var (name, content, _) in scan.Files(cancellationToken))
            {
                records += await NdjsonColumns.ScanAsync(content, name, columns, ndjson.Flatten, cancellationToken);
            }
        }

        if (records == 0)
        {
            if (!ndjson.AllowEmpty)
            {
                throw Core.Errors.IntakeException.Empty($"{context.Load.SourceKey}: the data files hold no record: nothing to load (set ndjson.allow_empty: true for a feed where an empty file is normal)");
            }

            // Without a record there is no column to create the table with.
            return new StepResult { RowsIn = 0, RowsOut = 0, Message = "the data files hold no record; nothing to load (ndjson.allow_empty)" };
        }

        var request = await LoadStep.RequestAsync(context, config, step, cancellationToken);
        await using var data = await DataFiles.OpenAsync(context, context.Progress, cancellationToken);
        var result = await warehouse.LoadAsync(
            request,
            data.NdjsonSources(columns),
            cancellationToken);
        return new StepResult
        {
            RowsIn = result.RowsRead,
            RowsOut = result.RowsWritten,
            BytesIn = data.TotalBytes,
            Outputs = [$"{warehouse.Name}:{config.Table}"],
            Message = LoadStep.Replacement(result),
        };
    }

    private static async Task<Stream> OpenAsync(StepContext context, ObjectInfo part, CancellationToken cancellationToken) =>
        new GZipStream(await context.WorkStore.OpenReadAsync(Areas.Work, part.Key, cancellationToken), CompressionMode.Decompress);

    private static string Display(StepContext context, ObjectInfo part) => $"{context.Load.SourceKey}!{part.Key[(context.WorkPrefix.Length + 5)..]}";
}
