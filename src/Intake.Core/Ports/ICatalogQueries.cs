using Intake.Core.Model;

namespace Intake.Core.Ports;

/// <summary>A pipeline's high-water mark for one partition (incremental reads and exports).</summary>
public sealed record Watermark(string Pipeline, string Partition, string Value, DateTimeOffset UpdatedAt);

/// <summary>Count of loads in one (pipeline, status) pair.</summary>
public sealed record LoadCount(string Pipeline, LoadStatus Status, long Count);

/// <summary>
/// Read-only queries the REST API and the metrics endpoint need beyond <see cref="ICatalog"/>: watermarks and
/// per-pipeline counts in one round trip, and a readiness ping.
/// </summary>
public interface ICatalogQueries
{
    /// <summary>Watermarks of the given pipelines (all when null), ordered by pipeline and partition.</summary>
    Task<IReadOnlyList<Watermark>> ListWatermarksAsync(IReadOnlyCollection<string>? pipelines, CancellationToken cancellationToken);

    /// <summary>Loads per pipeline and status; pairs with no load are left out.</summary>
    Task<IReadOnlyList<LoadCount>> CountByPipelineAndStatusAsync(CancellationToken cancellationToken);

    /// <summary>Cheap round trip to the database, for readiness probes; throws when it is unreachable.</summary>
    Task PingAsync(CancellationToken cancellationToken);
}
