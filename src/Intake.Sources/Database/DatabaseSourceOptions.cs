namespace Intake.Sources.Database;

/// <summary>
/// A database table or query read window by window for the incremental exporter (<c>source.kind: database</c>).
/// Rows belong to a partition (<see cref="PartitionColumn"/>, the spec's study) and have a time (<see cref="TimeColumn"/>,
/// the spec's uploadedOn); each export reads, per partition, the rows with <c>start &lt;= time &lt; end</c>.
/// </summary>
public sealed record DatabaseSourceOptions
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
