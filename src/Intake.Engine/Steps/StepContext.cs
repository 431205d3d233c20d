using Intake.Core.Model;
using Intake.Core.Ports;
using Intake.Engine.Configuration;
using Intake.Engine.Runtime;
using Intake.Storage;

namespace Intake.Engine.Steps;

/// <summary>What a step needs to know about the load it works on.</summary>
public sealed class StepContext
{
    public required Load Load { get; init; }
    public required PipelineConfig Pipeline { get; init; }
    public required IntakeRuntime Runtime { get; init; }
    public required int Attempt { get; init; }
    public required IRunObserver Observer { get; init; }
    public required string StepName { get; init; }

    public IObjectStore Store => Runtime.StoreFor(Pipeline);

    /// <summary>Where expanded entries are kept while the load runs: the pipeline's store unless <c>work_store</c> names a faster one.</summary>
    public IObjectStore WorkStore => Runtime.WorkStoreFor(Pipeline);

    /// <summary>
    /// The original's key in the inbox area: as recorded when it was fetched, or, before that, the pipeline's key
    /// template rendered from the load (stable across attempts).
    /// </summary>
    public string InboxKey => Load.InboxKey ?? Keys.InboxKey(Pipeline, Load);

    /// <summary>Every object a load writes to the work area sits under this prefix, so cleaning up is one call.</summary>
    public string WorkPrefix => Keys.WorkPrefix(Load);

    public void Progress(long done, long? total) => Observer.Progress(Load, StepName, done, total);
}

/// <summary>Where a load's objects live.</summary>
public static class Keys
{
    public static string InboxKey(PipelineConfig pipeline, Load load) => Render(pipeline.KeyTemplate, pipeline, load);

    /// <summary>A key template rendered with the load's values: customer, category, type, group, pipeline, name, load and received.</summary>
    public static string Render(string keyTemplate, PipelineConfig pipeline, Load load)
    {
        var template = KeyTemplate.Parse(keyTemplate);
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
