using Intake.Engine.Configuration;
using Intake.Engine.Runtime;
using Intake.Engine.Slices;
using Intake.Engine.Steps;

namespace Intake.Engine.Mail;

/// <summary>The Mail slice (HView's mail ingest): its steps, its keys of a pipeline.</summary>
public sealed class MailSlice : Slice
{
    /// <summary>
    /// A message's parts (<see cref="ExtractStep"/>), written to the work area with <c>parts.json</c>, where the later
    /// steps read them as they read a decompressed archive's entries. It shares <c>decompress</c>'s place: both fill the
    /// load's work prefix, so a pipeline lists one or the other.
    /// </summary>
    /// <summary>The first step of a mail pipeline (<c>source.kind: mail</c>): the message received into the inbox, recorded by the receiver.</summary>
    public static readonly StepDescriptor Receive = StepDescriptor.ForSlice("receive", StepDescriptor.Fetch.Order, StepStage.Ingest);

    /// <summary>The message matched to its route, its original copied to the route's folder.</summary>
    public static readonly StepDescriptor Route = StepDescriptor.ForSlice("route", StepDescriptor.Fetch.Order + 5, StepStage.Ingest);

    public static readonly StepDescriptor Extract = StepDescriptor.ForSlice("extract", StepDescriptor.Decompress.Order, StepStage.Ingest, writesWork: true, expandsOriginal: true);

    public override string Name => "mail";

    public override IReadOnlyList<StepDescriptor> Descriptors => [Receive, Route, Extract];

    /// <summary>A folder or bucket of <c>.eml</c> files is taken apart like mail.</summary>
    public override IReadOnlyList<StepDescriptor> FileSteps => [Extract];

    public override IEnumerable<IStep> CreateSteps(IntakeRuntime runtime) => [new ReceiveStep(), new RouteStep(), new ExtractStep()];

    public override PipelineConfig Complete(YamlScope scope, PipelineConfig pipeline) =>
        MailExtractLimitsReader.Read(scope, pipeline.Steps) is { } limits ? pipeline with { Extract = limits } : pipeline;
}
