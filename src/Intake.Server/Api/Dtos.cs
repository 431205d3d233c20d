using System.ComponentModel;
using System.ComponentModel.DataAnnotations;
using System.Text.Json.Serialization;
using Intake.Core.Model;
using Intake.Core.Ports;

namespace Intake.Server.Api;

// The API's shapes. Property names become snake_case JSON; statuses, outcomes and error kinds are the catalog's words.

/// <summary>A page of a list; pass <c>next_cursor</c> as <c>cursor</c> to get the next one (null on the last page).</summary>
public sealed record Page<T>(IReadOnlyList<T> Items, string? NextCursor);

public sealed record PipelineDto(
    string Name,
    string Customer,
    string Category,
    string Type,
    string Group,
    string SourceKind,
    IReadOnlyList<string> Steps,
    string? Table,
    string? Schedule,
    string? Timeout,
    bool Paused,
    string? PausedBy,
    DateTimeOffset? PausedAt,
    DateTimeOffset? NextRunAt,
    DateTimeOffset? LastScheduledRunAt,
    IReadOnlyDictionary<string, long>? Loads);

public sealed record LoadDto(
    long Id,
    string Pipeline,
    string Customer,
    string SourceKey,
    string Fingerprint,
    long? SourceSize,
    string Status,
    string? HeldReason,
    int Attempts,
    string? ErrorKind,
    string? ErrorMessage,
    string? ErrorCode,
    string? InboxKey,
    string? LeaseOwner,
    DateTimeOffset? LeaseExpiresAt,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt)
{
    /// <summary>The source table the load belongs to (tables_from_prefix); null for a pipeline without tables.</summary>
    public string? Table { get; init; }

    /// <summary>The source object's modification time as discovery listed it (the Cubic design's <c>s3_modified</c>); null for loads that are not listed files.</summary>
    public DateTimeOffset? SourceModified { get; init; }

    /// <summary>The load as a client sees it: the engine's messages without the server's absolute paths.</summary>
    public static LoadDto From(Load l, ClientText text) => new(
        l.Id, l.Pipeline, l.Customer, l.SourceKey, l.Fingerprint, l.SourceSize, l.Status.ToWord(), text.For(l.HeldReason), l.Attempts,
        l.ErrorKind is { } k ? Core.Errors.ErrorKindNames.ToWord(k) : null, text.For(l.ErrorMessage), l.ErrorCode, l.InboxKey, l.LeaseOwner, l.LeaseExpiresAt, l.CreatedAt, l.UpdatedAt)
    {
        Table = l.Table,
        SourceModified = l.SourceModified,
    };
}

public sealed record StepDto(
    long Id,
    string Step,
    int Attempt,
    string Outcome,
    DateTimeOffset StartedAt,
    DateTimeOffset? FinishedAt,
    double? DurationSeconds,
    string? ErrorKind,
    string? Message,
    string? ErrorCode,
    long? RowsIn,
    long? RowsOut,
    long? BytesIn,
    long? BytesOut,
    IReadOnlyList<string> Outputs,
    string? Worker)
{
    public static StepDto From(StepRecord s, ClientText text) => new(
        s.Id, s.Step, s.Attempt, s.Outcome.ToWord(), s.StartedAt, s.FinishedAt, s.FinishedAt is { } f ? (f - s.StartedAt).TotalSeconds : null,
        s.ErrorKind is { } k ? Core.Errors.ErrorKindNames.ToWord(k) : null, text.For(s.Message), s.ErrorCode, s.RowsIn, s.RowsOut, s.BytesIn, s.BytesOut, s.Outputs, s.Worker);
}

/// <summary>A load with its step history: every attempt of every step, in order.</summary>
public sealed record LoadDetailDto(LoadDto Load, IReadOnlyList<StepDto> Steps);

/// <summary>Body of <c>POST /pipelines/{name}/run</c>; the body and every field are optional. Read by hand (PipelineEndpoints), described for the OpenAPI document.</summary>
public sealed record RunRequest([property: Description("Limits the run to these files of the source; without it the run discovers the whole source.")] RunParameters? Parameters = null);

public sealed record RunParameters(
    [property: Description("One file of the source, relative to its root (e.g. 2026/01/data.csv): no '..', no leading '/', no backslash."), MaxLength(ApiInput.MaxKeyLength)]
    string? SourceKey = null,
    [property: Description("Several such files."), MaxLength(1000)]
    IReadOnlyList<string>? SourceKeys = null);

/// <summary>
/// Body of <c>POST /pipelines/{name}/exports</c>, the Bridge exporter's message (camelCase; the snake_case spellings
/// are accepted too). Read by hand (ExportEndpoints), described for the OpenAPI document.
/// </summary>
public sealed record ExportRequestBody(
    [property: JsonPropertyName("exportType"), Description("instant (default), daily or hourly"), MaxLength(ApiInput.MaxNameLength)]
    string? ExportType = null,
    [property: JsonPropertyName("endDateTime"), Description("End of the window (ISO 8601, UTC); not in the future. Default: a minute ago (instant), the start of today (daily) or of this hour (hourly).")]
    DateTimeOffset? EndDateTime = null,
    [property: JsonPropertyName("startDateTime"), Description("Start of the window; only with ignoreLastExportTime.")]
    DateTimeOffset? StartDateTime = null,
    [property: JsonPropertyName("ignoreLastExportTime"), Description("true (or \"true\"): export the window from startDateTime instead of each partition's watermark.")]
    bool? IgnoreLastExportTime = null,
    [property: JsonPropertyName("partitions"), Description("Only these partitions (also accepted as studyWhitelist)."), MaxLength(ApiInput.MaxItems)]
    IReadOnlyList<string>? Partitions = null,
    [property: JsonPropertyName("recordIds"), Description("A record override: these record ids, whatever their time."), MaxLength(ApiInput.MaxItems)]
    IReadOnlyList<string>? RecordIds = null,
    [property: JsonPropertyName("recordsKey"), Description("A record override kept in the pipeline's export area, one id per line: a key relative to the area (no '..', no leading '/', no backslash)."), MaxLength(ApiInput.MaxKeyLength)]
    string? RecordsKey = null,
    [property: JsonPropertyName("tag"), Description("A note stored with the request."), MaxLength(ApiInput.MaxTagLength)]
    string? Tag = null);

/// <summary>Body of <c>/healthz</c>.</summary>
public sealed record HealthDto(string Status);

/// <summary>Body of <c>/readyz</c>: <c>ready</c> or <c>not_ready</c>, and each check's result (<c>ok</c> or <c>failed: …</c>).</summary>
public sealed record ReadyDto(string Status, IReadOnlyDictionary<string, string> Checks);

public sealed record RunResultDto(string Pipeline, string Trigger, int New, int Seen, IReadOnlyList<long> LoadIds, IReadOnlyList<string> MissingSourceKeys);

public sealed record ColumnDto(string Name, string Type, bool Nullable);

/// <summary>A warehouse table that pipelines load; <c>source_tables</c> lists the source tables (tables_from_prefix) written to it, null for a pipeline without them.</summary>
public sealed record TableDto(string Name, string Warehouse, string Customer, IReadOnlyList<string> Pipelines, IReadOnlyList<ColumnDto>? Columns)
{
    public IReadOnlyList<SourceTableDto>? SourceTables { get; init; }
}

/// <summary>A table of a file source watched by prefix: its name, prefix, when discovery first saw it, and its loads by status (statuses with none left out).</summary>
public sealed record SourceTableDto(string Pipeline, string Name, string Prefix, DateTimeOffset FirstSeenAt, IReadOnlyDictionary<string, long> Loads)
{
    public static SourceTableDto From(SourceTableSummary t) => new(
        t.Table.Pipeline, t.Table.Name, t.Table.Prefix, t.Table.FirstSeenAt,
        t.Loads.Where(kv => kv.Value > 0).ToDictionary(kv => kv.Key.ToWord(), kv => kv.Value, StringComparer.Ordinal));
}

public sealed record WatermarkDto(string Pipeline, string Partition, string Value, DateTimeOffset UpdatedAt)
{
    public static WatermarkDto From(Watermark w) => new(w.Pipeline, w.Partition, w.Value, w.UpdatedAt);
}
