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
    public static LoadDto From(Load l) => new(
        l.Id, l.Pipeline, l.Customer, l.SourceKey, l.Fingerprint, l.SourceSize, l.Status.ToWord(), l.HeldReason, l.Attempts,
        l.ErrorKind is { } k ? Core.Errors.ErrorKindNames.ToWord(k) : null, l.ErrorMessage, l.ErrorCode, l.InboxKey, l.LeaseOwner, l.LeaseExpiresAt, l.CreatedAt, l.UpdatedAt);
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
    public static StepDto From(StepRecord s) => new(
        s.Id, s.Step, s.Attempt, s.Outcome.ToWord(), s.StartedAt, s.FinishedAt, s.FinishedAt is { } f ? (f - s.StartedAt).TotalSeconds : null,
        s.ErrorKind is { } k ? Core.Errors.ErrorKindNames.ToWord(k) : null, s.Message, s.ErrorCode, s.RowsIn, s.RowsOut, s.BytesIn, s.BytesOut, s.Outputs, s.Worker);
}

/// <summary>A load with its step history: every attempt of every step, in order.</summary>
public sealed record LoadDetailDto(LoadDto Load, IReadOnlyList<StepDto> Steps);

/// <summary>Body of <c>POST /pipelines/{name}/run</c>; every field is optional.</summary>
public sealed record RunRequest(IReadOnlyDictionary<string, System.Text.Json.JsonElement>? Parameters);

public sealed record RunResultDto(string Pipeline, string Trigger, int New, int Seen, IReadOnlyList<long> LoadIds, IReadOnlyList<string> MissingSourceKeys);

public sealed record ColumnDto(string Name, string Type, bool Nullable);

/// <summary>A warehouse table that pipelines load.</summary>
public sealed record TableDto(string Name, string Warehouse, string Customer, IReadOnlyList<string> Pipelines, IReadOnlyList<ColumnDto>? Columns);

public sealed record WatermarkDto(string Pipeline, string Partition, string Value, DateTimeOffset UpdatedAt)
{
    public static WatermarkDto From(Watermark w) => new(w.Pipeline, w.PartitionKey, w.Value, w.UpdatedAt);
}
