namespace Intake.Engine.Configuration;

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
