using Intake.Engine.Configuration;
using Intake.Engine.Runtime;
using Microsoft.Extensions.Logging;

namespace Intake.Engine.SourceKinds;

/// <summary>One discovery of one pipeline, as <see cref="Discovery"/> hands it to the pipeline's kind.</summary>
public sealed class DiscoveryContext
{
    private readonly Func<Func<object>, object> _keep;

    internal DiscoveryContext(IntakeRuntime runtime, PipelineConfig pipeline, IReadOnlyCollection<string>? sourceKeys, ILogger log, Func<Func<object>, object> keep)
    {
        Runtime = runtime;
        Pipeline = pipeline;
        SourceKeys = sourceKeys;
        Log = log;
        _keep = keep;
    }

    public IntakeRuntime Runtime { get; }

    public PipelineConfig Pipeline { get; }

    /// <summary>Only these source keys (an upload trigger: "this file is complete, load it"); null for all.</summary>
    public IReadOnlyCollection<string>? SourceKeys { get; }

    public ILogger Log { get; }

    /// <summary>The customer new loads are registered for: the pipeline's, or an upload trigger's.</summary>
    public required string Customer { get; init; }

    /// <summary>
    /// The group new loads are filed under in the inbox and the archive (an upload trigger's <c>grid</c>); null for the
    /// pipeline's <c>group</c>.
    /// </summary>
    public string? Group { get; init; }

    /// <summary>
    /// Something the kind keeps for this pipeline across discoveries, for the life of the <see cref="Discovery"/>
    /// (a file source, which compares each listing with the previous one): created by <paramref name="create"/>
    /// the first time, the same instance afterwards.
    /// </summary>
    public T Keep<T>(Func<T> create)
        where T : class => (T)_keep(create);
}
