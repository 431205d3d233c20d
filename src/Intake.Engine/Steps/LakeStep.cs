using System.Globalization;
using Intake.Core.Errors;
using Intake.Core.Model;
using Intake.Core.Ports;
using Intake.Formats.Json;
using Intake.Warehouse.Lake;

namespace Intake.Engine.Steps;

/// <summary>
/// Writes the load's rows as one Parquet file into the lake area (<c>lake:</c>), partitioned Hive-style:
/// <c>&lt;table&gt;/&lt;name&gt;=&lt;value&gt;/…/&lt;load id&gt;.parquet</c>, the table being the load's source table
/// (<c>tables_from_prefix</c>) or <c>load.table</c>, the partitions those of <see cref="StepContext.LakePartitions"/> and
/// of the load's constant columns that are lake partitions (<see cref="LoadConstant.LakePartition"/>).
/// DuckDB, Spark, Athena and Trino read the area as one table per folder, the partitions as columns.
/// </summary>
/// <remarks>
/// The rows are read the way the load step reads them (<see cref="DataFiles"/>: out of the original, or the expanded
/// files; NDJSON with a first pass for its columns, as the load step) and typed by <c>load.columns</c>; the writer holds one row group in memory and spools the file to a temporary
/// file (Parquet writes its index last), which is then put under its key at once. The key is the load's, so a re-run
/// replaces the file and never adds a second one.
/// </remarks>
public sealed class LakeStep : IStep
{
    public string Name => StepDescriptor.Lake.Name;

    public async Task<StepResult> RunAsync(StepContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        var lake = StepContext.Required(context.Pipeline.Lake, "lake settings for the lake step");
        var store = StepContext.Required(context.LakeStore, "store for the lake step");
        var constants = await context.ConstantsAsync(cancellationToken);
        var key = KeyFor(context, constants);
        var columns = context.Pipeline.Load?.Columns;
        List<string>? ndjsonColumns = null;
        if (DataFiles.IsNdjson(context))
        {
            // As the load step reads NDJSON: a first pass finds the columns (flattened when ndjson.flatten says so).
            var ndjson = context.Pipeline.Ndjson;
            ndjsonColumns = [];
            long records = 0;
            await using (var scan = await DataFiles.OpenAsync(context, null, cancellationToken))
            {
                await foreach (var (name, content, _) in scan.Files(cancellationToken))
                {
                    records += await NdjsonColumns.ScanAsync(content, name, ndjsonColumns, ndjson.Flatten, cancellationToken);
                }
            }

            if (records == 0)
            {
                return ndjson.AllowEmpty
                    ? new StepResult { RowsIn = 0, RowsOut = 0, Message = "the data files hold no record; no lake file (ndjson.allow_empty)" }
                    : throw IntakeException.Empty($"{context.Load.SourceKey}: the data files hold no record: nothing to write (set ndjson.allow_empty: true for a feed where an empty file is normal)");
            }
        }

        var spool = Path.Combine(Path.GetTempPath(), $"intake-lake-{context.Load.Id.ToString(CultureInfo.InvariantCulture)}-{Guid.NewGuid():N}.parquet");
        try
        {
            LakeFileResult written;
            long bytesIn;
            await using (var file = new FileStream(spool, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, 1 << 16, FileOptions.Asynchronous))
            {
                await using var data = await DataFiles.OpenAsync(context, context.Progress, cancellationToken);
                written = ndjsonColumns is null
                    ? await data.ReadAsync(sources => ParquetLake.WriteAsync(file, sources, columns, lake.RowGroupRows, cancellationToken))
                    : await ParquetLake.WriteAsync(file, data.NdjsonSources(ndjsonColumns), columns, lake.RowGroupRows, cancellationToken);
                bytesIn = data.TotalBytes;
            }

            ObjectInfo put;
            await using (var file = new FileStream(spool, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.Asynchronous | FileOptions.SequentialScan))
            {
                put = await store.PutAsync(lake.Area, key, file, cancellationToken);
            }

            var result = new StepResult
            {
                RowsIn = written.Rows,
                RowsOut = written.Rows,
                BytesIn = bytesIn,
                BytesOut = put.Size,
                Outputs = [$"{store.Name}:{lake.Area}:{key}"],
            };
            return constants.Any(c => c.Replaces && c.LakePartition)
                ? await ReplaceInPartitionAsync(context, store, lake.Area, key, result, cancellationToken)
                : result;
        }
        finally
        {
            File.Delete(spool);
        }
    }

    /// <summary>
    /// A partition that a load replaces (a DMAP day) keeps only the newest load's file, as the warehouse keeps only its
    /// rows: once this load's file is in, the folder is listed and the files of older loads deleted, or, when a newer
    /// load's file is there (this is a re-drive of an older delivery), this load's own. Listing after the put makes two
    /// loads of one day that run at once end with the newer file alone, whichever lists last. A reader that lists the
    /// folder between a put and the deletes sees both files for that moment.
    /// </summary>
    private static async Task<StepResult> ReplaceInPartitionAsync(StepContext context, IObjectStore store, string area, string key, StepResult result, CancellationToken cancellationToken)
    {
        var folder = key[..(key.LastIndexOf('/') + 1)];
        var me = context.Load.Id;
        var others = new List<(long Id, string Key)>();
        await foreach (var o in store.ListAsync(area, folder, cancellationToken))
        {
            var name = o.Key[folder.Length..];
            if (name.EndsWith(".parquet", StringComparison.Ordinal) && long.TryParse(name[..^".parquet".Length], NumberStyles.None, CultureInfo.InvariantCulture, out var id) && id != me)
            {
                others.Add((id, o.Key));
            }
        }

        if (others.Where(o => o.Id > me).Select(o => (long?)o.Id).Max() is { } newer)
        {
            await store.DeleteAsync(area, key, cancellationToken);
            return result with { Outputs = [], Message = $"superseded: {folder.TrimEnd('/')} holds the file of the newer load {newer}, so this load's file was removed" };
        }

        var older = others.Where(o => o.Id < me).OrderBy(o => o.Id).ToList();
        foreach (var o in older)
        {
            await store.DeleteAsync(area, o.Key, cancellationToken);
        }

        return older.Count == 0 ? result : result with { Message = $"replaced the file{(older.Count == 1 ? "" : "s")} of load{(older.Count == 1 ? "" : "s")} {string.Join(", ", older.Select(o => o.Id))} in {folder.TrimEnd('/')}" };
    }

    /// <summary>
    /// <c>&lt;table&gt;/&lt;name&gt;=&lt;value&gt;/…/&lt;load id&gt;.parquet</c>. Partition values are escaped as Hive
    /// escapes them (a '/' or '=' in a value would otherwise make another folder level or another partition).
    /// </summary>
    public static string KeyFor(StepContext context, IReadOnlyList<LoadConstant> constants)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(constants);
        var table = context.Load.Table ?? context.Pipeline.Load?.For(context.Load).Table
            ?? throw IntakeException.Config($"{context.Pipeline.File}: the lake step needs a table name (load.table or source.tables_from_prefix)");
        var parts = new List<string> { Escape(table) };
        var partitions = context.LakePartitions.Concat(constants.Where(c => c.LakePartition).Select(c => (c.Column.Name, c.Column.Text)));
        parts.AddRange(partitions.Select(p => $"{Escape(p.Item1)}={Escape(p.Item2)}"));
        parts.Add(context.Load.Id.ToString(CultureInfo.InvariantCulture) + ".parquet");
        return string.Join('/', parts);
    }

    private static string Escape(string value)
    {
        var text = new System.Text.StringBuilder(value.Length);
        foreach (var c in value)
        {
            // The characters Hive escapes in partition paths, as %XX.
            if (c < ' ' || c is '"' or '#' or '%' or '\'' or '*' or '/' or ':' or '=' or '?' or '\\' or '\x7F' or '{' or '[' or ']' or '^')
            {
                text.Append('%').Append(((int)c).ToString("X2", CultureInfo.InvariantCulture));
            }
            else
            {
                text.Append(c);
            }
        }

        return text.ToString();
    }
}
