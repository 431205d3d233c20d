using Intake.Engine.Configuration;

namespace Intake.Engine.SourceKinds;

/// <summary>What a kind reads its <c>source:</c> keys with (see <see cref="SourceKind.ReadOptions"/>).</summary>
public sealed class SourceReading
{
    internal SourceReading(YamlScope source, string baseDirectory, RetryConfig retry)
    {
        Source = source;
        BaseDirectory = baseDirectory;
        Retry = retry;
    }

    /// <summary>The <c>source:</c> mapping; a key the kind does not read is reported as unknown.</summary>
    public YamlScope Source { get; }

    /// <summary>The folder of the pipeline's file, which relative paths are resolved from.</summary>
    public string BaseDirectory { get; }

    /// <summary>The pipeline's <c>retry</c> settings, for a kind whose adapter retries on its own (FTP's resumed downloads).</summary>
    public RetryConfig Retry { get; }

    /// <summary>A path from the configuration, made absolute from <see cref="BaseDirectory"/>.</summary>
    public string ResolvePath(string path) => ConfigLoader.ResolvePath(BaseDirectory, path);

    /// <summary>
    /// Reads keys that every kind accepted before each kind had a reader of its own (<c>include</c>, <c>exclude</c>,
    /// <c>stable_for</c>, <c>timeout</c>), checked as before but not used by this kind, so a pipeline that sets
    /// them keeps loading. New keys are never added here: a kind reads what it uses.
    /// </summary>
    internal void AcceptUnused(params string[] keys)
    {
        foreach (var key in keys)
        {
            if (key is "stable_for" or "timeout")
            {
                Source.Duration(key, TimeSpan.Zero);
            }
            else
            {
                Source.StringList(key);
            }
        }
    }
}

/// <summary>What a kind completes a pipeline with (see <see cref="SourceKind.Complete"/>).</summary>
public sealed class PipelineReading
{
    internal PipelineReading(YamlScope pipeline, IReadOnlyDictionary<string, StoreConfig> stores)
    {
        Pipeline = pipeline;
        Stores = stores;
    }

    /// <summary>The pipeline file's top-level mapping; problems with the steps are reported on its <c>steps</c> key.</summary>
    public YamlScope Pipeline { get; }

    /// <summary>The stores declared in intake.yaml, by name.</summary>
    public IReadOnlyDictionary<string, StoreConfig> Stores { get; }
}
