using Intake.Core.Model;

namespace Intake.Core.Ports;

/// <summary>A page of loads, newest first, for the API's job lists.</summary>
public sealed record LoadPageQuery
{
    public LoadStatus? Status { get; init; }
    public string? Pipeline { get; init; }
    public string? Customer { get; init; }
    /// <summary>Only loads created at or after this time.</summary>
    public DateTimeOffset? CreatedFrom { get; init; }
    /// <summary>Only loads created before this time.</summary>
    public DateTimeOffset? CreatedUntil { get; init; }
    /// <summary>Keyset cursor: only loads with a smaller id (the last id of the previous page).</summary>
    public long? BeforeId { get; init; }
    public int Limit { get; init; } = 50;
}

/// <summary>A pipeline's high-water mark for one partition (incremental reads and exports).</summary>
public sealed record Watermark(string Pipeline, string PartitionKey, string Value, DateTimeOffset UpdatedAt);

/// <summary>Count of loads in one (pipeline, status) pair.</summary>
public sealed record LoadCount(string Pipeline, LoadStatus Status, long Count);

/// <summary>
/// Read-only queries the REST API and the metrics endpoint need beyond <see cref="ICatalog"/>: newest-first
/// pages (operators look at recent jobs first), watermarks and per-pipeline counts in one round trip.
/// </summary>
public interface ICatalogQueries
{
    /// <summary>Loads matching the query, newest (highest id) first; pass the last id as <c>BeforeId</c> for the next page.</summary>
    Task<IReadOnlyList<Load>> ListLoadsNewestFirstAsync(LoadPageQuery query, CancellationToken cancellationToken);

    /// <summary>Watermarks of the given pipelines (all when null), ordered by pipeline and partition.</summary>
    Task<IReadOnlyList<Watermark>> ListWatermarksAsync(IReadOnlyCollection<string>? pipelines, CancellationToken cancellationToken);

    /// <summary>Loads per pipeline and status; pairs with no load are left out.</summary>
    Task<IReadOnlyList<LoadCount>> CountByPipelineAndStatusAsync(CancellationToken cancellationToken);

    /// <summary>Cheap round trip to the database, for readiness probes; throws when it is unreachable.</summary>
    Task PingAsync(CancellationToken cancellationToken);
}
