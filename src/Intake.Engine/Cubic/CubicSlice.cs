using Intake.Engine.Configuration;
using Intake.Engine.Runtime;
using Intake.Engine.Slices;
using Intake.Engine.Steps;

namespace Intake.Engine.Cubic;

/// <summary>The Cubic design's slice: the <c>cubic:</c> key, its two steps around <c>load</c>, the snapshot column, the held loads' release.</summary>
public sealed class CubicSlice : Slice
{
    /// <summary>
    /// The snapshot decision (<c>cubic.ods</c>; added by the slice, not listed): which snapshot the load belongs to,
    /// and whether a change file must be held until its snapshot is loaded.
    /// </summary>
    public static readonly StepDescriptor Snapshot = StepDescriptor.ForSlice("cubic_snapshot", StepDescriptor.Load.Order - 5, StepStage.Ingest);

    /// <summary>The current-state table: built from a complete snapshot, then each change file applied.</summary>
    public static readonly StepDescriptor Apply = StepDescriptor.ForSlice("cubic_apply", StepDescriptor.Load.Order + 5, StepStage.Ingest);

    public override string Name => CubicConfigReader.Key;

    public override IReadOnlyList<StepDescriptor> Descriptors => [Snapshot, Apply];

    public override IEnumerable<IStep> CreateSteps(IntakeRuntime runtime) => [new CubicSnapshotStep(), new CubicApplyStep()];

    public override IEnumerable<IConstantColumns> ConstantColumns => [new OdsSnapshotColumn(), new DmapDayColumn()];

    public override PipelineConfig Complete(YamlScope scope, PipelineConfig pipeline)
    {
        var cubic = CubicConfigReader.Read(scope, pipeline.Source, pipeline.Steps);
        return cubic is null ? pipeline : pipeline with { Cubic = cubic, Steps = CubicConfigReader.WithSteps(pipeline.Steps, cubic) };
    }

    /// <summary>Held ODS loads whose snapshot got loaded while nobody was there to release them (a crash after the load step).</summary>
    public override Task<int> SweepAsync(IntakeRuntime runtime, CancellationToken cancellationToken) =>
        OdsRelease.SweepAsync(runtime.Config, runtime.Catalog, cancellationToken);
}
