using System.Globalization;
using System.Text.RegularExpressions;

namespace Intake.Engine.Configuration;

/// <summary>
/// A database table or query read window by window for the incremental exporter (<c>source.kind: database</c>).
/// Rows belong to a partition (<see cref="PartitionColumn"/>, the spec's study) and have a time (<see cref="TimeColumn"/>,
/// the spec's uploadedOn); each export reads, per partition, the rows with <c>start &lt;= time &lt; end</c>.
/// </summary>
public sealed record DatabaseSourceConfig
{
    /// <summary>sqlite or postgres.</summary>
    public required string Kind { get; init; }
    public required string Connection { get; init; }
    /// <summary>The table (optionally schema-qualified) or, instead, a SELECT whose rows are exported.</summary>
    public string? Table { get; init; }
    public string? Query { get; init; }
    public required string PartitionColumn { get; init; }
    public required string TimeColumn { get; init; }
    /// <summary>The column record overrides name; null when overrides are not allowed.</summary>
    public string? IdColumn { get; init; }
    /// <summary>A SELECT of one column listing every partition (the spec's Study table); null: the distinct values of the partition column.</summary>
    public string? PartitionsQuery { get; init; }
    /// <summary>Where a window starts for a partition without a watermark.</summary>
    public DefaultStart DefaultStart { get; init; } = DefaultStart.Yesterday;

    /// <summary>What the exporter selects from: the table, or the query as a sub-select.</summary>
    public string From => Table ?? $"({Query}) AS intake_source";
}

/// <summary>The window start of a partition that has no watermark: <c>yesterday</c> (start of the previous UTC day), <c>today</c>, a time, or a duration before the request.</summary>
public sealed record DefaultStart(string Text)
{
    public static readonly DefaultStart Yesterday = new("yesterday");

    /// <summary>The start for a request made at <paramref name="requestedAt"/> (not "now", so a retried request reads the same window).</summary>
    public DateTimeOffset Resolve(DateTimeOffset requestedAt)
    {
        var day = new DateTimeOffset(requestedAt.UtcDateTime.Date, TimeSpan.Zero);
        return Text switch
        {
            "yesterday" => day.AddDays(-1),
            "today" => day,
            _ when DateTimeOffset.TryParse(Text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var at) => at,
            _ when Units.TryParseDuration(Text, out var ago) => requestedAt.ToUniversalTime() - ago,
            _ => throw new InvalidOperationException($"default_start '{Text}' was not validated"),
        };
    }

    public static bool IsValid(string text) =>
        text is "yesterday" or "today"
        || DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out _)
        || Units.TryParseDuration(text, out _);
}

/// <summary>Where and how a database pipeline writes its exports (<c>export:</c>).</summary>
public sealed record ExportConfig
{
    /// <summary>ndjson or csv, gzipped either way.</summary>
    public string Format { get; init; } = "ndjson";
    public required string Store { get; init; }
    public string Area { get; init; } = "exports";
    public required string KeyTemplate { get; init; }
    /// <summary>The request a scheduled run queues: daily or hourly (instant for "up to a minute ago").</summary>
    public string Type { get; init; } = "daily";
    /// <summary>How many times failed partitions or records are re-queued (each re-drive counts one).</summary>
    public int RedriveMax { get; init; } = 2;
    public TimeSpan RedriveDelay { get; init; } = TimeSpan.FromMinutes(5);
    /// <summary>Gzip level: fastest (default; the exporter is usually bound by compression) or optimal.</summary>
    public string Compression { get; init; } = "fastest";

    /// <summary>Placeholders an export key may use besides the pipeline's: the partition, the window and the request.</summary>
    public static readonly IReadOnlyList<string> TextPlaceholders = ["pipeline", "customer", "partition", "request", "tag", "format", "load"];

    public static readonly IReadOnlyList<string> DatePlaceholders = ["start", "end", "requested"];

    public static string DefaultKeyTemplate(string format) =>
        $"{{pipeline}}/{{partition}}/{{start:yyyyMMdd'T'HHmmss}}-{{end:yyyyMMdd'T'HHmmss}}-{{request}}.{format}.gz";
}

/// <summary>Reads <c>source.kind: database</c> and the pipeline's <c>export:</c> block; called from <see cref="ConfigLoader"/>.</summary>
internal static partial class DatabaseSourceReader
{
    public const string Kind = "database";

    public static SourceConfig ReadSource(YamlScope src, string baseDir, SourceConfig common)
    {
        var db = src.Scope("database");
        if (!db.Exists)
        {
            src.Report("database", "is required for a database source: {kind: sqlite, path: …} or {kind: postgres, connection: …}");
        }

        var (kind, connection) = ConfigLoader.ReadDatabase(db, baseDir, "source.db", "database");
        db.RejectUnknown();

        var table = src.String("table");
        var query = src.String("query");
        if ((table is null) == (query is null))
        {
            src.Report("table", "give either table (a table name) or query (a SELECT), not both and not neither");
        }

        if (table is not null && !TablePattern().IsMatch(table))
        {
            src.Report("table", $"'{table}' is not a table name (letters, digits and '_', optionally schema.table)");
        }

        string Column(string key, bool required)
        {
            var value = src.String(key, required: required);
            if (value is not null && !ColumnPattern().IsMatch(value))
            {
                src.Report(key, $"'{value}' is not a column name (letters, digits and '_')");
            }

            return value ?? "";
        }

        var partition = Column("partition_column", required: true);
        var time = Column("time_column", required: true);
        var id = Column("id_column", required: false);
        var start = src.String("default_start", fallback: "yesterday")!;
        if (!DefaultStart.IsValid(start))
        {
            src.Report("default_start", $"'{start}' is not a start (yesterday, today, a time such as 2024-01-01T00:00:00Z, or a duration before the request such as 7d)");
        }

        return common with
        {
            Path = table ?? "(query)",
            Database = new DatabaseSourceConfig
            {
                Kind = kind,
                Connection = connection,
                Table = table,
                Query = query,
                PartitionColumn = partition,
                TimeColumn = time,
                IdColumn = id.Length == 0 ? null : id,
                PartitionsQuery = src.String("partitions"),
                DefaultStart = new DefaultStart(start),
            },
        };
    }

    /// <summary>The <c>export:</c> block and the steps of a database pipeline (only <c>export</c>); null for a file pipeline, which may not have one.</summary>
    public static ExportConfig? ReadExport(YamlScope s, SourceConfig source, IReadOnlyList<string> steps, string store, IReadOnlyDictionary<string, StoreConfig> stores)
    {
        var e = s.Scope("export");
        if (source.Kind != Kind)
        {
            if (steps.Contains("export"))
            {
                s.Report("steps", "'export' reads a database: it needs source.kind: database");
            }

            if (e.Exists)
            {
                s.Report("export", "is only for pipelines with source.kind: database");
            }

            return null;
        }

        if (steps.Count != 1 || steps[0] != "export")
        {
            s.Report("steps", "a database pipeline has one step: [export]");
        }

        var format = e.String("format", fallback: "ndjson")!;
        if (format is not ("ndjson" or "csv"))
        {
            e.Report("format", $"'{format}' is not an export format (ndjson, csv)");
        }

        var exportStore = e.String("store", fallback: store)!;
        if (!stores.ContainsKey(exportStore))
        {
            e.Report("store", $"no store named '{exportStore}' (stores: {string.Join(", ", stores.Keys)})");
        }

        var type = e.String("type", fallback: "daily")!;
        if (type is not ("daily" or "hourly" or "instant"))
        {
            e.Report("type", $"'{type}' is not an export type (daily, hourly, instant)");
        }

        var compression = e.String("compression", fallback: "fastest")!;
        if (compression is not ("fastest" or "optimal"))
        {
            e.Report("compression", $"'{compression}' is not a compression level (fastest, optimal)");
        }

        var keyTemplate = e.String("key_template", fallback: ExportConfig.DefaultKeyTemplate(format))!;
        try
        {
            _ = Storage.KeyTemplate.Parse(keyTemplate, ExportConfig.TextPlaceholders, ExportConfig.DatePlaceholders);
        }
        catch (Core.Errors.IntakeException ex)
        {
            e.Report("key_template", ex.Message);
        }

        var r = e.Scope("redrive");
        var d = new ExportConfig { Store = exportStore, KeyTemplate = keyTemplate };
        var config = d with
        {
            Format = format,
            Area = e.Name("area", fallback: "exports"),
            Type = type,
            Compression = compression,
            RedriveMax = r.Int("max", d.RedriveMax, 0, 100),
            RedriveDelay = r.Duration("delay", d.RedriveDelay),
        };
        r.RejectUnknown();
        e.RejectUnknown();
        return config;
    }

    [GeneratedRegex(@"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")]
    private static partial Regex TablePattern();

    [GeneratedRegex(@"^[A-Za-z_][A-Za-z0-9_]*$")]
    private static partial Regex ColumnPattern();
}
