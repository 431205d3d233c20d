namespace Intake.Core.Ports;

/// <summary>
/// The catalog's ports, typed, as one database provides them: loads and steps, the queries of the API, export
/// requests and watermarks, leases on named resources, pull checkpoints, API keys, schedules, source tables and the Cubic slice's snapshots. Callers take
/// the port they need from here instead of casting <see cref="ICatalog"/>, so a catalog that lacks one fails at
/// start, not in the middle of a load.
/// </summary>
public sealed record CatalogPorts(
    ICatalog Loads,
    ICatalogQueries Queries,
    IExportStore Exports,
    ILockStore Locks,
    ICheckpointStore Checkpoints,
    IApiKeyStore Keys,
    IScheduleStore Schedules,
    ITableStore Tables,
    ICubicStore Cubic);
