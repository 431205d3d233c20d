using Intake.Core.Errors;
using Intake.Core.Model;

namespace Intake.Core.Ports;

/// <summary>A pipeline's high-water mark for one partition (incremental reads and exports).</summary>
public sealed record Watermark(string Pipeline, string Partition, string Value, DateTimeOffset UpdatedAt);

/// <summary>Count of loads in one (pipeline, status) pair.</summary>
public sealed record LoadCount(string Pipeline, LoadStatus Status, long Count);

/// <summary>What one pipeline did lately, for the operator's overview (<see cref="ICatalogQueries.GetPipelineActivityAsync"/>).</summary>
/// <param name="LastLoadAt">When its newest load was registered; null when it has none (of the customer asked for).</param>
/// <param name="RowsToday">
/// Rows written today (UTC day) by the steps that write the warehouse, <c>load</c> and <c>module</c>
/// (<see cref="ICatalogQueries.RowsSteps"/>): the sum of <see cref="StepRecord.RowsOut"/> of their succeeded attempts that
/// finished today. A re-driven load that loads again counts again: its rows were written again (replacing the earlier ones).
/// </param>
/// <param name="BytesToday">The data those same attempts read (<see cref="StepRecord.BytesIn"/>: the data files, after decompression).</param>
/// <param name="ErrorsLast24Hours">Its loads that are <c>errored</c> now and became so in the last 24 hours (a re-driven load no longer counts).</param>
public sealed record PipelineActivity(string Pipeline, DateTimeOffset? LastLoadAt, long RowsToday, long BytesToday, long ErrorsLast24Hours);

/// <summary>Rows one pipeline wrote in one hour (UTC), counted as <see cref="PipelineActivity.RowsToday"/> is.</summary>
/// <param name="Hour">The start of the hour.</param>
public sealed record HourlyRows(string Pipeline, DateTimeOffset Hour, long Rows);

/// <summary>The errored loads of one pipeline with one error kind (<see cref="ICatalogQueries.GroupErroredLoadsAsync"/>).</summary>
/// <param name="Kind">Null for errored loads without a recorded kind.</param>
/// <param name="Oldest">When the first of them became errored (its <see cref="Load.UpdatedAt"/>).</param>
/// <param name="Newest">When the last of them became errored.</param>
/// <param name="SampleLoadId">The newest of them; <paramref name="SampleMessage"/> is its error message.</param>
public sealed record ErrorGroup(string Pipeline, ErrorKind? Kind, long Loads, DateTimeOffset Oldest, DateTimeOffset Newest, long SampleLoadId, string? SampleMessage);

/// <summary>
/// Read-only queries the REST API, the metrics endpoint and the operator UI need beyond <see cref="ICatalog"/>:
/// watermarks, per-pipeline counts and activity, and a readiness ping. The counts and hourly figures are read from
/// small rollups the catalog keeps in the same transaction as every change to a load or a step record, so they cost
/// the same at a million loads as at ten and always agree with the loads and step records. Every aggregate takes an
/// optional customer: a customer's key sees only its own loads.
/// </summary>
public interface ICatalogQueries
{
    /// <summary>Watermarks of the given pipelines (all when null), ordered by pipeline and partition.</summary>
    Task<IReadOnlyList<Watermark>> ListWatermarksAsync(IReadOnlyCollection<string>? pipelines, CancellationToken cancellationToken);

    /// <summary>The steps whose rows <see cref="PipelineActivity.RowsToday"/> and <see cref="GetRowsPerHourAsync"/> count: those that write the warehouse.</summary>
    static readonly IReadOnlyList<string> RowsSteps = ["load", "module"];

    /// <summary>Loads per pipeline and status; pairs with no load are left out.</summary>
    Task<IReadOnlyList<LoadCount>> CountByPipelineAndStatusAsync(CancellationToken cancellationToken) =>
        CountByPipelineAndStatusAsync(null, cancellationToken);

    /// <summary>Loads of <paramref name="customer"/> (all when null) per pipeline and status, ordered by pipeline and status; pairs with no load are left out.</summary>
    Task<IReadOnlyList<LoadCount>> CountByPipelineAndStatusAsync(string? customer, CancellationToken cancellationToken);

    /// <summary>
    /// Per pipeline that has loads (of <paramref name="customer"/>, all when null), ordered by name: its last load, rows
    /// and bytes today and errors in the last 24 hours, by the catalog's clock.
    /// </summary>
    Task<IReadOnlyList<PipelineActivity>> GetPipelineActivityAsync(string? customer, CancellationToken cancellationToken);

    /// <summary>
    /// Rows written per pipeline and hour (UTC) from the hour holding <paramref name="since"/> on (a chart of the last
    /// 7 days: <c>now - 7 days</c>), of <paramref name="customer"/> (all when null), ordered by pipeline and hour.
    /// Hours without a written row are left out.
    /// </summary>
    Task<IReadOnlyList<HourlyRows>> GetRowsPerHourAsync(string? customer, DateTimeOffset since, CancellationToken cancellationToken);

    /// <summary>
    /// The loads that are <c>errored</c> now (of <paramref name="customer"/>, all when null), grouped by pipeline and
    /// error kind, ordered by pipeline then kind. List a group's loads with <see cref="LoadQuery.ErrorKind"/>.
    /// </summary>
    Task<IReadOnlyList<ErrorGroup>> GroupErroredLoadsAsync(string? customer, CancellationToken cancellationToken);

    /// <summary>Cheap round trip to the database, for readiness probes; throws when it is unreachable.</summary>
    Task PingAsync(CancellationToken cancellationToken);
}
