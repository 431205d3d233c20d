using Intake.Engine.Configuration;
using Intake.Engine.Runtime;
using Intake.Engine.Steps;

namespace Intake.Engine.SourceKinds;

/// <summary>
/// Where <see cref="ConfigLoader"/> hands a pipeline to its source kind: the kind is found by <c>source.kind</c>,
/// reads and checks its <c>source:</c> block, judges the steps, and completes the pipeline with the keys it owns.
/// Everything here is the same for every kind; what differs is on <see cref="SourceKind"/>.
/// </summary>
internal static class SourceKindReader
{
    /// <summary>
    /// The <c>source:</c> block: its <c>kind</c> names a registered <see cref="SourceKind"/>, which reads the rest and
    /// checks it as its adapter will. An unknown kind is reported, and stood for by <see cref="UnknownKind"/>.
    /// </summary>
    public static SourceConfig Read(ConfigContext ctx, YamlScope pipeline, string baseDir, RetryConfig retry, SourceKindRegistry kinds)
    {
        var src = pipeline.Scope("source");
        if (!src.Exists)
        {
            pipeline.Report("source", "is required");
        }

        var word = src.String("kind", fallback: "local")!;
        if (kinds.Find(word) is not { } kind)
        {
            // The other keys depend on the kind, so they are not judged.
            src.Report("kind", $"'{word}' is not a source kind ({string.Join(", ", kinds.Kinds.Select(k => k.Name))})");
            return new SourceConfig { Kind = new UnknownKind(word), Path = "", Options = word };
        }

        var before = ctx.Errors.Count;
        var options = kind.ReadOptions(new SourceReading(src, baseDir, retry));

        // Keys every file kind shares are read here, once, not by each kind.
        TablesFromPrefix? tables = null;
        if (kind is IFileSourceKind)
        {
            tables = TablesFromPrefix.Read(src);
        }
        else if (src.Node(TablesFromPrefix.Key) is not null)
        {
            var files = string.Join(", ", kinds.Kinds.Where(k => k is IFileSourceKind).Select(k => k.Name));
            src.Report(TablesFromPrefix.Key, $"is only for sources that list files ({files}); source.kind: {kind.Name} reads {kind.Reads}");
        }

        src.RejectUnknown();
        if (ctx.Errors.Count == before)
        {
            // Only settings read without a problem are worth the adapter's checks; the others are reported already.
            foreach (var problem in kind.Validate(options))
            {
                pipeline.Report("source", problem);
            }
        }

        return new SourceConfig { Kind = kind, Path = kind.Describe(options), Options = options, Tables = tables };
    }

    /// <summary>The steps a pipeline of its kind may list, and the one it must start with.</summary>
    public static void CheckSteps(YamlScope pipeline, SourceConfig source, IReadOnlyList<string> steps, SourceKindRegistry kinds)
    {
        var kind = source.Kind;
        if (kind is UnknownKind)
        {
            return;
        }

        foreach (var step in steps.Select(StepDescriptor.Find).OfType<StepDescriptor>().Where(x => !kind.Steps.Contains(x)).Distinct())
        {
            // A step that starts exactly one other kind's pipelines belongs to it: say which kind it needs.
            var owners = kinds.Kinds.Where(k => k.FirstStep == step).ToList();
            pipeline.Report("steps", owners.Count == 1
                ? $"'{step}' reads {owners[0].Reads}; it needs source.kind: {owners[0].Name}"
                : $"'{step}' does not apply to source.kind: {kind.Name} (steps: {string.Join(", ", kind.Steps)})");
        }

        if (steps.Count > 0 && steps[0] != kind.FirstStep.Name)
        {
            pipeline.Report("steps", $"the first step must be '{kind.FirstStep}' ({kind.FirstStepPurpose})");
        }
    }

    /// <summary>What the pipeline's kind reads and checks with the whole pipeline; top-level keys of other kinds are refused with the kind they need.</summary>
    public static PipelineConfig Complete(YamlScope s, PipelineConfig pipeline, IReadOnlyDictionary<string, StoreConfig> stores, SourceKindRegistry kinds)
    {
        var kind = pipeline.Source.Kind;
        if (kind is UnknownKind)
        {
            return pipeline;
        }

        foreach (var other in kinds.Kinds.Where(k => k != kind))
        {
            foreach (var key in other.PipelineKeys.Where(k => !kind.PipelineKeys.Contains(k) && s.Node(k) is not null))
            {
                s.Report(key, $"is only for pipelines with source.kind: {other.Name}");
            }
        }

        return kind.Complete(pipeline, new PipelineReading(s, stores));
    }

    /// <summary>
    /// Stands for a kind that is not registered, so the rest of its pipeline is still read and checked (every
    /// problem at once); the configuration is refused anyway, so nothing ever runs it.
    /// </summary>
    private sealed class UnknownKind(string name) : SourceKind
    {
        public override string Name => name;

        public override string Reads => name;

        // Never asked: the steps of a pipeline of an unknown kind are not judged.
        public override StepDescriptor FirstStep => StepDescriptor.Known[0];

        public override string FirstStepPurpose => "";

        public override IReadOnlyList<StepDescriptor> Steps => StepDescriptor.Known;

        public override object ReadOptions(SourceReading reading) => name;

        public override string Describe(object options) => "";

        public override Task<DiscoveryResult> DiscoverAsync(DiscoveryContext context, CancellationToken cancellationToken) =>
            throw new InvalidOperationException($"source.kind '{name}' is not registered");
    }
}
