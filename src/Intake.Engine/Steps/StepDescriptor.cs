namespace Intake.Engine.Steps;

/// <summary>The stage of a load a step runs in.</summary>
public enum StepStage
{
    /// <summary>The pipeline's own steps, while the load is <c>ingesting</c>.</summary>
    Ingest,

    /// <summary>
    /// While the load is <c>archiving</c>, once every ingest step has succeeded: the copy of the original to the
    /// archive area, then the source kind's own action at the source (<see cref="StepDescriptor.Release"/>). A load
    /// that errors never gets here, so its original goes to the error area only.
    /// </summary>
    Archive,

    /// <summary>While the load is <c>erroring</c>: the copy of the original to the error area.</summary>
    Error,
}

/// <summary>
/// A step as the rest of the engine knows it: its name in <c>steps:</c> and in step records, its place in the one
/// order steps run in, and what it does to a load's areas. The configuration, the source kinds, the worker and the
/// audit ask a descriptor instead of comparing step names, so a step's capabilities are written here once.
/// </summary>
public sealed class StepDescriptor
{
    private StepDescriptor(string name, int order, StepStage stage)
    {
        Name = name;
        Order = order;
        Stage = stage;
    }

    /// <summary>The word in a pipeline's <c>steps:</c>, in step records and in <c>error_codes</c> keys.</summary>
    public string Name { get; }

    /// <summary>
    /// Its place in the one order the ingest steps run in; a pipeline lists a subsequence of <see cref="Known"/>. A step
    /// of a later stage may stand anywhere in <c>steps:</c> (<c>archive</c> is still accepted where it always stood,
    /// between <c>validate</c> and <c>copy</c>): it runs in its stage, after every ingest step.
    /// </summary>
    public int Order { get; }

    /// <summary>The status of the load while the step runs: ingest steps while it is <c>ingesting</c>, and so on.</summary>
    public StepStage Stage { get; }

    /// <summary>Writes the load's work area (what <c>keep_work</c> keeps), which is cleared when the load is archived or errored.</summary>
    public bool WritesWork { get; private init; }

    /// <summary>
    /// Expands the original into the work area, where the later steps read its data files; without such a step
    /// they stream them out of the original. Its output is scratch: when it is gone (cleared as the load errored)
    /// and a later step still has to run, the step runs again.
    /// </summary>
    public bool ExpandsOriginal { get; private init; }

    /// <summary>Keeps files on this machine's disk outside the stores (the pull's spool), removed with the work area.</summary>
    public bool HasLocalCleanup { get; private init; }

    /// <summary>
    /// Works on its own load's files and rows alone, without reading step records or waiting on other loads, so a small
    /// load may write its records together at its stage's end (<c>defaults.small_loads_up_to</c>) when every step of its
    /// pipeline is one of these: nothing reads them before then.
    /// </summary>
    public bool SelfContained { get; private init; }

    public static readonly StepDescriptor Pull = new("pull", 0, StepStage.Ingest) { WritesWork = true, HasLocalCleanup = true };
    public static readonly StepDescriptor Fetch = new("fetch", 10, StepStage.Ingest) { SelfContained = true };
    public static readonly StepDescriptor Decompress = new("decompress", 20, StepStage.Ingest) { WritesWork = true, ExpandsOriginal = true, SelfContained = true };
    public static readonly StepDescriptor Validate = new("validate", 30, StepStage.Ingest) { SelfContained = true };
    public static readonly StepDescriptor Archive = new("archive", 40, StepStage.Archive) { SelfContained = true };
    public static readonly StepDescriptor Copy = new("copy", 50, StepStage.Ingest) { SelfContained = true };

    public static readonly StepDescriptor Load = new("load", 70, StepStage.Ingest) { SelfContained = true };

    /// <summary>The load's rows written as a Parquet file into the lake area (<c>lake:</c>), after the load step.</summary>
    public static readonly StepDescriptor Lake = new("lake", 90, StepStage.Ingest);
    public static readonly StepDescriptor Merge = new("merge", 100, StepStage.Ingest);
    public static readonly StepDescriptor Export = new("export", 110, StepStage.Ingest);

    /// <summary>The record of copying an errored load's original to the error area; not a step a pipeline lists.</summary>
    public static readonly StepDescriptor Error = new("error", 120, StepStage.Error);

    /// <summary>
    /// The record of the source kind's action at the source once the original is archived
    /// (<see cref="SourceKinds.SourceKind.OnArchivedAsync"/>, e.g. moving the file out of an incoming folder); only for
    /// kinds that have one. Not a step a pipeline lists: it comes with the kind.
    /// </summary>
    public static readonly StepDescriptor Release = new("release", 130, StepStage.Archive);

    /// <summary>
    /// The record of deleting an errored load's file at its source once its copy in the error area is verified
    /// (<c>source.remove_after</c>); the archived load's deletion is its <see cref="Release"/>. Not a step a pipeline lists.
    /// </summary>
    public static readonly StepDescriptor Remove = new("remove", 140, StepStage.Error);

    private static readonly StepDescriptor[] BuiltIn = [Pull, Fetch, Decompress, Validate, Archive, Copy, Load, Lake, Merge, Export];

    // Built on first use: the slices' descriptors are static fields of their own classes, which refer to these.
    private static readonly Lazy<IReadOnlyList<StepDescriptor>> KnownSteps = new(() =>
        [.. BuiltIn.Concat(Slices.SliceRegistry.BuiltIn.SelectMany(s => s.Descriptors)).OrderBy(d => d.Order)]);

    private static readonly Lazy<IReadOnlyList<string>> KnownStepNames = new(() => [.. Known.Select(d => d.Name)]);

    /// <summary>The steps of pipelines, the built-in ones and the slices', in the only order they can run in.</summary>
    public static IReadOnlyList<StepDescriptor> Known => KnownSteps.Value;

    /// <summary>The names of <see cref="Known"/>, in order.</summary>
    public static IReadOnlyList<string> KnownNames => KnownStepNames.Value;

    /// <summary>The step of this name among <see cref="Known"/>; null when there is none.</summary>
    public static StepDescriptor? Find(string name) => Known.FirstOrDefault(d => d.Name == name);

    /// <summary>
    /// A slice's own step (<see cref="Slices.Slice.Descriptors"/>): its order places it among the others. Built-in
    /// steps are ten apart, so a slice's step fits between two of them.
    /// </summary>
    public static StepDescriptor ForSlice(string name, int order, StepStage stage, bool writesWork = false, bool expandsOriginal = false) =>
        new(name, order, stage) { WritesWork = writesWork, ExpandsOriginal = expandsOriginal };

    /// <summary>Whether a list of step names (a pipeline's <c>steps</c>) holds a step with the capability.</summary>
    public static bool AnyIn(IEnumerable<string> steps, Func<StepDescriptor, bool> capability) =>
        steps.Any(s => Find(s) is { } d && capability(d));

    /// <summary>The steps of a list of step names (a pipeline's <c>steps</c>) that run in <paramref name="stage"/>, in list order.</summary>
    public static IEnumerable<string> InStage(IEnumerable<string> steps, StepStage stage) =>
        steps.Where(s => Find(s) is { } d && d.Stage == stage);

    /// <summary>
    /// A list of step names in the order they run: the ingest steps as listed, then the archive stage's. This is
    /// the order of a load's first successes (what the audit checks), whatever the place of <c>archive</c> in the list.
    /// </summary>
    public static IReadOnlyList<string> InRunOrder(IEnumerable<string> steps)
    {
        var list = steps.ToList();
        return [.. InStage(list, StepStage.Ingest), .. InStage(list, StepStage.Archive)];
    }

    /// <summary>Whether a list of step names (a pipeline's <c>steps</c>) holds this step.</summary>
    public bool IsIn(IEnumerable<string> steps) => steps.Contains(Name, StringComparer.Ordinal);

    public override string ToString() => Name;
}
