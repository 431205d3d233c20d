namespace Intake.Core.Ports;

/// <summary>
/// One export request of a database pipeline, as queued in the catalog. A request is identified by its
/// content (<see cref="RequestKey"/>), so submitting the same request twice, from two processes at once
/// included, queues it once. Times are UTC; windows are half-open, <c>[start, end)</c>.
/// </summary>
public sealed record ExportRequestRecord
{
    public long Id { get; init; }
    public required string Pipeline { get; init; }
    public required string Customer { get; init; }
    /// <summary>Derived from the canonical content; also the source key of the load that runs the request.</summary>
    public required string RequestKey { get; init; }
    /// <summary>instant, daily or hourly.</summary>
    public required string ExportType { get; init; }
    /// <summary>Only with <see cref="IgnoreLastExportTime"/>: the window's start instead of the watermark.</summary>
    public DateTimeOffset? Start { get; init; }
    public required DateTimeOffset End { get; init; }
    public bool IgnoreLastExportTime { get; init; }
    /// <summary>The partition whitelist; null for every partition.</summary>
    public IReadOnlyList<string>? Partitions { get; init; }
    /// <summary>A record override: these record ids, whatever their time.</summary>
    public IReadOnlyList<string>? RecordIds { get; init; }
    /// <summary>A record override kept in the pipeline's export area (one id per line).</summary>
    public string? RecordsKey { get; init; }
    public string? Tag { get; init; }
    public int RedriveCount { get; init; }
    /// <summary>The request this one re-drives, or null.</summary>
    public string? RedriveOf { get; init; }
    /// <summary>The request is not queued as a load before this time (re-drive delay).</summary>
    public required DateTimeOffset NotBefore { get; init; }
    public DateTimeOffset RequestedAt { get; init; }
    /// <summary>The load running the request once queued; null while it waits for <see cref="NotBefore"/>.</summary>
    public long? LoadId { get; init; }

    public bool HasRecordOverride => RecordIds is { Count: > 0 } || RecordsKey is not null;
}

/// <summary>How one partition of one export request ended. A success is recorded in the same transaction as the watermark it advances.</summary>
public sealed record ExportPartitionResult
{
    public required string Pipeline { get; init; }
    public required string RequestKey { get; init; }
    public required string Partition { get; init; }
    /// <summary>Null for a record override (no time window).</summary>
    public DateTimeOffset? WindowStart { get; init; }
    public DateTimeOffset? WindowEnd { get; init; }
    public required bool Succeeded { get; init; }
    public long Rows { get; init; }
    public long RowsFailed { get; init; }
    public string? ObjectKey { get; init; }
    public string? Error { get; init; }
    public DateTimeOffset FinishedAt { get; init; }
}

/// <summary>
/// What the incremental exporter keeps in the catalog: queued requests, per-partition results and the
/// watermarks (<c>intake_watermarks</c>). A new interface beside <see cref="ICatalog"/> so catalogs without
/// exports stay valid.
/// </summary>
public interface IExportStore
{
    /// <summary>Adds the request unless one with the same (pipeline, request key) exists; then returns that one with <c>Created = false</c>. Safe across processes.</summary>
    Task<(ExportRequestRecord Request, bool Created)> AddExportRequestAsync(ExportRequestRecord request, CancellationToken cancellationToken);

    Task<ExportRequestRecord?> GetExportRequestAsync(string pipeline, string requestKey, CancellationToken cancellationToken);

    /// <summary>Requests not queued as a load yet whose <see cref="ExportRequestRecord.NotBefore"/> has come, oldest first.</summary>
    Task<IReadOnlyList<ExportRequestRecord>> ListDueExportRequestsAsync(string pipeline, DateTimeOffset now, int limit, CancellationToken cancellationToken);

    /// <summary>Records which load runs the request (idempotent).</summary>
    Task SetExportRequestLoadAsync(string pipeline, string requestKey, long loadId, CancellationToken cancellationToken);

    /// <summary>Newest first; filters are optional.</summary>
    Task<IReadOnlyList<ExportRequestRecord>> ListExportRequestsAsync(string? pipeline, string? customer, int limit, CancellationToken cancellationToken);

    /// <summary>Newest first, only requests older than <paramref name="beforeId"/> when given (the next page of a list); filters are optional.</summary>
    Task<IReadOnlyList<ExportRequestRecord>> ListExportRequestsAsync(string? pipeline, string? customer, long? beforeId, int limit, CancellationToken cancellationToken);

    Task<IReadOnlyList<ExportPartitionResult>> GetExportResultsAsync(string pipeline, string requestKey, CancellationToken cancellationToken);

    /// <summary>
    /// Records a partition's outcome and, when <paramref name="advanceWatermarkTo"/> is given, moves the partition's
    /// watermark there, in one transaction: the watermark moves exactly when the success is recorded. The watermark
    /// never moves backwards. A later result for the same partition of the same request replaces the earlier one.
    /// </summary>
    Task RecordExportPartitionAsync(ExportPartitionResult result, DateTimeOffset? advanceWatermarkTo, CancellationToken cancellationToken);

    /// <summary>The time up to which the partition has been exported (exclusive), or null when it never was. <see cref="ICatalogQueries.ListWatermarksAsync"/> lists them.</summary>
    Task<DateTimeOffset?> GetWatermarkAsync(string pipeline, string partition, CancellationToken cancellationToken);

    /// <summary>Forgets a partition's watermark (its partition was deleted); false when there was none.</summary>
    Task<bool> DeleteWatermarkAsync(string pipeline, string partition, CancellationToken cancellationToken);
}
