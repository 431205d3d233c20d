using Intake.Engine.Configuration;
using Intake.Engine.Exports;
using Intake.Engine.Runtime;
using Intake.Engine.Steps;
using Intake.Sources.Database;

namespace Intake.Engine.SourceKinds.Database;

/// <summary>
/// <c>source.kind: database</c>: a table or query read window by window by the incremental exporter. Its loads
/// are export requests, queued by the CLI, the API or the schedule (<see cref="ExportRuns"/>); discovery only
/// turns the re-drives whose delay has passed into loads.
/// </summary>
internal sealed class DatabaseKind : SourceKind<DatabaseSourceOptions>
{
    private static readonly StepDescriptor[] ExportSteps = [StepDescriptor.Export];
    private static readonly string[] OwnKeys = ["export"];

    public override string Name => "database";

    public override string Reads => "a database";

    public override StepDescriptor FirstStep => StepDescriptor.Export;

    public override string FirstStepPurpose => "it reads the window's rows and writes the export files";

    public override IReadOnlyList<StepDescriptor> Steps => ExportSteps;

    /// <summary>An export request has no original: the export step writes its files to the export store.</summary>
    public override bool WritesInbox => false;

    public override IReadOnlyList<string> PipelineKeys => OwnKeys;

    protected override DatabaseSourceOptions Read(SourceReading reading)
    {
        // Listing and connection keys mean nothing for a query; accepted as every kind once did.
        reading.AcceptUnused("include", "exclude", "stable_for", "timeout");
        return DatabaseSourceReader.ReadSource(reading.Source, reading.BaseDirectory);
    }

    protected override string Location(DatabaseSourceOptions options) => options.Table ?? "(query)";

    public override PipelineConfig Complete(PipelineConfig pipeline, PipelineReading reading) =>
        pipeline with { Export = DatabaseSourceReader.ReadExport(reading.Pipeline, pipeline.Store, reading.Stores) };

    public override async Task<DiscoveryResult> DiscoverAsync(DiscoveryContext context, CancellationToken cancellationToken)
    {
        var (due, known) = await new ExportQueue(context.Runtime).PromoteDueAsync(context.Pipeline, cancellationToken);
        return new DiscoveryResult(context.Pipeline.Name, due, known);
    }
}
