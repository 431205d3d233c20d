using Intake.Engine.Configuration;
using Intake.Engine.Http;
using Intake.Engine.Runtime;
using Intake.Engine.Scheduling;
using Intake.Engine.Steps;
using Intake.Sources.Http;

namespace Intake.Engine.SourceKinds.Http;

/// <summary>
/// <c>source.kind: http</c>: an HTTP API read page by page into gzipped NDJSON parts, one load per event type and
/// day (<see cref="HttpLoads"/>), pulled by the <c>pull</c> step and optionally loaded into the warehouse.
/// </summary>
internal sealed class HttpKind : SourceKind<HttpSourceOptions>
{
    private static readonly StepDescriptor[] HttpSteps = [StepDescriptor.Pull, StepDescriptor.Load];

    // Parsed once: the expression is a constant that the schedule tests pin.
    private static readonly PipelineSchedule? Daily = PipelineSchedule.TryParse(HttpSourceOptions.DefaultSchedule, out _);

    public override string Name => "http";

    public override string Reads => "an HTTP API";

    public override StepDescriptor FirstStep => StepDescriptor.Pull;

    public override string FirstStepPurpose => "it reads the API into parts";

    /// <summary>The pull, then optionally the warehouse load of its parts.</summary>
    public override IReadOnlyList<StepDescriptor> Steps => HttpSteps;

    /// <summary>The pull writes NDJSON parts to the store's <c>raw</c> area (or the source's <c>area</c>); the load step reads those.</summary>
    public override bool WritesInbox => false;

    /// <summary>An API pipeline without <c>schedule</c> runs daily at 07:00 UTC, after the day it pulls has ended.</summary>
    public override PipelineSchedule? DefaultSchedule => Daily;

    protected override HttpSourceOptions Read(SourceReading reading)
    {
        // Listing keys mean nothing for an API (its timeout is request_timeout); accepted as every kind once did.
        reading.AcceptUnused("include", "exclude", "stable_for", "timeout");
        return HttpSourceReader.Read(reading.Source);
    }

    protected override string Location(HttpSourceOptions options) => options.Url;

    /// <summary>The store the parts go to must be declared.</summary>
    public override PipelineConfig Complete(PipelineConfig pipeline, PipelineReading reading)
    {
        if (Options(pipeline).Store is { } store && !reading.Stores.ContainsKey(store))
        {
            reading.Pipeline.Report("source", $"source.store: no store named '{store}' (stores: {string.Join(", ", reading.Stores.Keys)})");
        }

        return pipeline;
    }

    public override Task<DiscoveryResult> DiscoverAsync(DiscoveryContext context, CancellationToken cancellationToken) =>
        HttpLoads.DiscoverAsync(context.Runtime, context.Pipeline, cancellationToken);
}
