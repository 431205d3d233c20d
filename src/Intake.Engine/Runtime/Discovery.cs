using Intake.Core.Ports;
using Intake.Engine.Configuration;
using Intake.Engine.SourceKinds;
using Microsoft.Extensions.Logging;

namespace Intake.Engine.Runtime;

public sealed record DiscoveryResult(string Pipeline, int New, int Seen)
{
    /// <summary>Why the source could not be listed this time, or null.</summary>
    public Core.Errors.IntakeException? Error { get; init; }

    /// <summary>The loads this discovery registered.</summary>
    public IReadOnlyList<long> NewLoadIds { get; init; } = [];

    /// <summary>Source keys that were asked for but are not in the source (a trigger for a file that is not there).</summary>
    public IReadOnlyList<string> MissingKeys { get; init; } = [];

    /// <summary>
    /// Listed files that are no table's file (<c>tables_from_prefix</c>: directly under the root, too shallow, or under a
    /// prefix whose name another prefix already has), with the reason: not loads. Each is reported by the first
    /// discovery that meets it in this process, not again.
    /// </summary>
    public IReadOnlyList<SkippedFile> Skipped { get; init; } = [];

    /// <summary>The source tables this discovery registered (<c>tables_from_prefix</c>), by name.</summary>
    public IReadOnlyList<string> NewTables { get; init; } = [];
}

/// <summary>A listed file discovery did not register as a load, and why.</summary>
public sealed record SkippedFile(string Key, string Reason);

/// <summary>
/// The one discovery of every host (<c>run</c>, <c>backfill</c>, <c>worker</c>, and <c>serve</c>'s schedule ticks and
/// "run now"): hands each pipeline to its source kind, which registers the new loads. A file source registers each
/// stable file (a file already known, same key and fingerprint, is only counted as seen); an HTTP source one load per
/// event and day without a listing; a database source its due export re-drives.
/// </summary>
/// <remarks>Thread-safe: discoveries of one pipeline are serialised by its kind where that matters (a file source
/// remembers the previous listing for the stable-file rule, kept here per pipeline), discoveries of different
/// pipelines proceed in parallel.</remarks>
public sealed class Discovery
{
    private readonly IntakeRuntime _runtime;
    private readonly ILogger _log;

    // What each pipeline's kind keeps across discoveries (a file source and its gate), for the life of the process.
    private readonly Dictionary<string, object> _kept = new(StringComparer.Ordinal);

    public Discovery(IntakeRuntime runtime)
    {
        _runtime = runtime;
        _log = runtime.Logs.CreateLogger("Intake.Discovery");
    }

    public Task<DiscoveryResult> DiscoverAsync(PipelineConfig pipeline, CancellationToken cancellationToken) =>
        DiscoverAsync(pipeline, null, cancellationToken);

    /// <param name="pipeline">The pipeline whose source is listed.</param>
    /// <param name="sourceKeys">Only these keys (an upload trigger: "this file is complete, load it"); null for all.</param>
    /// <param name="cancellationToken">Stops the listing.</param>
    public Task<DiscoveryResult> DiscoverAsync(PipelineConfig pipeline, IReadOnlyCollection<string>? sourceKeys, CancellationToken cancellationToken) =>
        DiscoverAsync(pipeline, sourceKeys, null, cancellationToken);

    /// <param name="pipeline">The pipeline whose source is listed.</param>
    /// <param name="sourceKeys">Only these keys; null for all.</param>
    /// <param name="customer">The customer the new loads belong to (an upload trigger's, checked by its caller); null for the pipeline's.</param>
    /// <param name="cancellationToken">Stops the listing.</param>
    public Task<DiscoveryResult> DiscoverAsync(PipelineConfig pipeline, IReadOnlyCollection<string>? sourceKeys, string? customer, CancellationToken cancellationToken) =>
        DiscoverAsync(pipeline, sourceKeys, customer, null, cancellationToken);

    /// <summary>As above, the new loads filed under <paramref name="group"/> (an upload trigger's grid) instead of the pipeline's group; null for the pipeline's.</summary>
    public Task<DiscoveryResult> DiscoverAsync(PipelineConfig pipeline, IReadOnlyCollection<string>? sourceKeys, string? customer, string? group, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(pipeline);
        var context = new DiscoveryContext(_runtime, pipeline, sourceKeys, _log, create => Keep(pipeline.Name, create)) { Customer = customer ?? pipeline.Customer, Group = group };
        return pipeline.Source.Kind.DiscoverAsync(context, cancellationToken);
    }

    private object Keep(string pipeline, Func<object> create)
    {
        lock (_kept)
        {
            if (!_kept.TryGetValue(pipeline, out var kept))
            {
                kept = create();
                _kept[pipeline] = kept;
            }

            return kept;
        }
    }
}

/// <summary>Builds the file source a pipeline declares (the fetch step's).</summary>
public static class FileSources
{
    /// <exception cref="Core.Errors.IntakeException">Config: the pipeline's kind does not read files (an API, a database).</exception>
    public static IFileSource For(PipelineConfig pipeline, TimeProvider time) =>
        pipeline.Source.Kind is IFileSourceKind files
            ? files.CreateSource(pipeline, time)
            : throw Core.Errors.IntakeException.Config($"{pipeline.File}: source.kind '{pipeline.Source.Kind.Name}' does not read files");
}
