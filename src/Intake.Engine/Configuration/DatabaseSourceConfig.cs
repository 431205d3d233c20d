using System.Globalization;

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
