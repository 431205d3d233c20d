using Intake.Core.Model;
using Intake.Core.Ports;
using Intake.Engine.Configuration;
using Intake.Engine.Runtime;
using Intake.Storage;
using Microsoft.Extensions.Logging;

namespace Intake.Engine.Steps;

/// <summary>
/// What a step needs to know about the load it works on, and the resolved things it may use: the pipeline's
/// stores and warehouses, the catalog ports a step touches, the clock and the logs. A step gets these, never the
/// runtime, so what a step can reach is written here once and a test can give it its own.
/// </summary>
public sealed record StepContext
{
    public required Load Load { get; init; }
    public required PipelineConfig Pipeline { get; init; }
    public required int Attempt { get; init; }
    public required IRunObserver Observer { get; init; }
    public required string StepName { get; init; }

    /// <summary>The pipeline's store: the inbox, archive and error areas of its loads.</summary>
    public required IObjectStore Store { get; init; }

    /// <summary>Where expanded entries are kept while the load runs: the pipeline's store unless <c>work_store</c> names a faster one.</summary>
    public required IObjectStore WorkStore { get; init; }

    /// <summary>The load step's warehouse (<c>load.warehouse</c>); null when the pipeline has no load step.</summary>
    public IWarehouse? Warehouse { get; init; }

    /// <summary>The merge step's warehouse (<c>merge.warehouse</c>, else the load step's); null when the pipeline has no merge step.</summary>
    public IWarehouse? MergeWarehouse { get; init; }

    /// <summary>The copy step's target store (<c>copy.store</c>); null when the pipeline has no copy step.</summary>
    public IObjectStore? CopyStore { get; init; }

    /// <summary>Where the pull publishes its parts (<c>source.store</c>, else the pipeline's store); null for other kinds.</summary>
    public IObjectStore? PartStore { get; init; }

    /// <summary>Where the export writes its files (<c>export.store</c>); null for other kinds.</summary>
    public IObjectStore? ExportStore { get; init; }

    /// <summary>Where the lake step writes its Parquet files (<c>lake.store</c>); null when the pipeline has no lake step.</summary>
    public IObjectStore? LakeStore { get; init; }

    /// <summary>
    /// Hive partitions of this load's lake file, outermost first, before those of the constant columns that are lake
    /// partitions (<see cref="LoadConstant.LakePartition"/>: the Cubic slice's <c>snapshot=…</c>, <c>day=…</c>); none by
    /// default.
    /// </summary>
    public IReadOnlyList<(string Name, string Value)> LakePartitions { get; init; } = [];

    /// <summary>Loads and their step records.</summary>
    public required ICatalog Catalog { get; init; }

    /// <summary>Pull checkpoints.</summary>
    public required ICheckpointStore Checkpoints { get; init; }

    /// <summary>Export requests, results and watermarks.</summary>
    public required IExportStore Exports { get; init; }

    /// <summary>Leases on named resources (an export partition).</summary>
    public required ILockStore Locks { get; init; }

    /// <summary>The Cubic slice's snapshots; null where the host gives none (tests of other steps).</summary>
    public ICubicStore? Cubic { get; init; }

    /// <summary>Providers of columns with one value for the whole load (see <see cref="IConstantColumns"/>).</summary>
    public IReadOnlyList<IConstantColumns> ConstantColumns { get; init; } = [];

    /// <summary>The constant columns every provider gives this load.</summary>
    public async Task<IReadOnlyList<LoadConstant>> ConstantsAsync(CancellationToken cancellationToken)
    {
        var all = new List<LoadConstant>();
        foreach (var provider in ConstantColumns)
        {
            all.AddRange(await provider.ForAsync(this, cancellationToken));
        }

        return all;
    }

    /// <summary>
    /// A small load (<c>defaults.small_loads_up_to</c>, every step self-contained): its step records go together at its
    /// stage's end, and its rows may wait in memory to be committed with other small loads' (<see cref="WarehouseLoadRequest.Small"/>).
    /// </summary>
    public bool Small { get; init; }

    public required TimeProvider Time { get; init; }

    public required ILoggerFactory Logs { get; init; }

    /// <summary>The project's directory (where <c>intake.yaml</c> is): local state of a load, such as the pull's spool, goes under it.</summary>
    public required string BaseDirectory { get; init; }

    /// <summary>
    /// The original's key in the inbox area: as recorded when it was fetched, or, before that, the pipeline's key
    /// template rendered from the load (stable across attempts).
    /// </summary>
    public string InboxKey => Load.InboxKey ?? Keys.InboxKey(Pipeline, Load);

    /// <summary>Every object a load writes to the work area sits under this prefix, so cleaning up is one call.</summary>
    public string WorkPrefix => Keys.WorkPrefix(Load);

    public void Progress(long done, long? total) => Observer.Progress(Load, StepName, done, total);

    /// <summary>A resource the pipeline's configuration guarantees for this step (the reader refuses a pipeline without it).</summary>
    /// <exception cref="InvalidOperationException">The step runs in a pipeline that does not configure it.</exception>
    public static T Required<T>(T? resource, string what)
        where T : class =>
        resource ?? throw new InvalidOperationException($"this pipeline has no {what}");
}

/// <summary>Where a load's objects live.</summary>
public static class Keys
{
    public static string InboxKey(PipelineConfig pipeline, Load load) => Render(pipeline.KeyTemplate, pipeline, load);

    // A pipeline's few templates, parsed once: discovery renders one for every new file.
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, KeyTemplate> Parsed = new(StringComparer.Ordinal);

    /// <summary>A key template rendered with the load's values: customer, category, type, group, pipeline, name, load and received.</summary>
    public static string Render(string keyTemplate, PipelineConfig pipeline, Load load)
    {
        var template = Parsed.GetOrAdd(keyTemplate, KeyTemplate.Parse);
        var name = load.SourceKey.Contains('/', StringComparison.Ordinal) ? load.SourceKey[(load.SourceKey.LastIndexOf('/') + 1)..] : load.SourceKey;
        var values = new Dictionary<string, object>(StringComparer.Ordinal)
        {
            ["customer"] = load.Customer,
            ["category"] = pipeline.Category,
            ["type"] = pipeline.Type,
            ["group"] = pipeline.Group,
            ["pipeline"] = load.Pipeline,
            ["name"] = name,
            ["load"] = load.Id,
            ["received"] = load.CreatedAt,
        };
        return template.Render(values);
    }

    public static string WorkPrefix(Load load) => $"loads/{load.Id}/";

    public static string ManifestKey(string inboxKey) => inboxKey + ".manifest";
}
