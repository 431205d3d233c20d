using Intake.Engine.Configuration;
using Intake.Engine.Runtime;
using Intake.Engine.Steps;

namespace Intake.Engine.Slices;

/// <summary>
/// One source design's part of the engine (Cubic, Mail, …), registered in one place (<see cref="SliceRegistry"/>)
/// instead of a line in each of the step list, the worker, the sweeper and the configuration reader. A slice brings
/// its steps with their place in the one step order, reads its own keys of a pipeline, gives rows columns of its own,
/// and does its share of the sweep. Its vocabulary stays inside it: the generic parts only ever see this class.
/// </summary>
public abstract class Slice
{
    /// <summary>The slice's name (its top-level key, its folder).</summary>
    public abstract string Name { get; }

    /// <summary>The steps only this slice's pipelines run, each with its place among <see cref="StepDescriptor.Known"/>.</summary>
    public virtual IReadOnlyList<StepDescriptor> Descriptors => [];

    /// <summary>Those of <see cref="Descriptors"/> that any file pipeline may list (besides the slice's own source kind's).</summary>
    public virtual IReadOnlyList<StepDescriptor> FileSteps => [];

    /// <summary>The implementations of <see cref="Descriptors"/> a worker runs.</summary>
    public virtual IEnumerable<IStep> CreateSteps(IntakeRuntime runtime) => [];

    /// <summary>Columns the slice gives every row of some loads (a snapshot, a day).</summary>
    public virtual IEnumerable<IConstantColumns> ConstantColumns => [];

    /// <summary>
    /// Reads the slice's keys of one pipeline and completes it (its settings, the steps it adds), reporting problems
    /// through <paramref name="scope"/>. A pipeline without the slice's keys comes back unchanged.
    /// </summary>
    public virtual PipelineConfig Complete(YamlScope scope, PipelineConfig pipeline) => pipeline;

    /// <summary>The slice's share of a sweep: loads it returns to work (released, reclaimed); their count.</summary>
    public virtual Task<int> SweepAsync(IntakeRuntime runtime, CancellationToken cancellationToken) => Task.FromResult(0);
}
