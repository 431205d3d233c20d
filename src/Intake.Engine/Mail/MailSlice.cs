using Intake.Core.Errors;
using Intake.Core.Ports;
using Intake.Engine.Configuration;
using Intake.Engine.Modules;
using Intake.Engine.Runtime;
using Intake.Engine.Slices;
using Intake.Engine.Steps;
using MimeKit;

namespace Intake.Engine.Mail;

/// <summary>
/// The Mail slice (HView's mail ingest): its steps, its keys of a pipeline, and what a mail load's route tells its
/// modules: which of them run (<see cref="IModuleSelection"/>) and the values they see (<see cref="IModuleValues"/>).
/// </summary>
public sealed class MailSlice : Slice, IModuleValues, IModuleSelection
{
    /// <summary>The first step of a mail pipeline (<c>source.kind: mail</c>): the message received into the inbox, recorded by the receiver.</summary>
    public static readonly StepDescriptor Receive = StepDescriptor.ForSlice("receive", StepDescriptor.Fetch.Order, StepStage.Ingest);

    /// <summary>The message matched to its route, its original copied to the route's folder.</summary>
    public static readonly StepDescriptor Route = StepDescriptor.ForSlice("route", StepDescriptor.Fetch.Order + 5, StepStage.Ingest);

    /// <summary>
    /// A message's parts (<see cref="ExtractStep"/>), written to the work area with <c>parts.json</c>, where the later
    /// steps read them as they read a decompressed archive's entries. It shares <c>decompress</c>'s place: both fill the
    /// load's work prefix, so a pipeline lists one or the other.
    /// </summary>
    public static readonly StepDescriptor Extract = StepDescriptor.ForSlice("extract", StepDescriptor.Decompress.Order, StepStage.Ingest, writesWork: true, expandsOriginal: true);

    public override string Name => "mail";

    public override IReadOnlyList<StepDescriptor> Descriptors => [Receive, Route, Extract];

    /// <summary>A folder or bucket of <c>.eml</c> files is taken apart like mail.</summary>
    public override IReadOnlyList<StepDescriptor> FileSteps => [Extract];

    public override IEnumerable<IStep> CreateSteps(IntakeRuntime runtime) => [new ReceiveStep(), new RouteStep(), new ExtractStep()];

    public override PipelineConfig Complete(YamlScope scope, PipelineConfig pipeline) =>
        MailExtractLimitsReader.Read(scope, pipeline.Steps) is { } limits ? pipeline with { Extract = limits } : pipeline;

    /// <summary>The modules the load's route named (its <c>module:</c>), as its <c>route</c> step recorded them; null (all) when it named none.</summary>
    public async Task<ModuleChoice?> SelectAsync(StepContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (context.Pipeline.Source.Options is not MailSourceOptions)
        {
            return null;
        }

        var targets = await RoutedAsync(context, cancellationToken);
        return targets.Modules.Count == 0 ? null : new ModuleChoice(targets.Modules, $"route '{targets.Route}'");
    }

    /// <summary>
    /// The route's values, as its <c>route</c> step recorded them (not routed again: the routes may have changed since):
    /// the route's name and folders, what it captured, and the envelope, subject and Message-ID of the message. Captures
    /// never replace the named values (a capture named <c>group</c> is the group template's input, not the group).
    /// </summary>
    public async Task<IReadOnlyDictionary<string, string>> ForAsync(StepContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (context.Pipeline.Source.Options is not MailSourceOptions)
        {
            return new Dictionary<string, string>(StringComparer.Ordinal);
        }

        var targets = await RoutedAsync(context, cancellationToken);
        var arrival = await MailStepSupport.ArrivalAsync(context, cancellationToken);
        var values = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["route"] = targets.Route,
            ["sender"] = arrival.Sender ?? "",
            ["recipient"] = string.Join(", ", arrival.Recipients),
            ["message_id"] = arrival.MessageId ?? "",
            ["subject"] = await SubjectAsync(context, cancellationToken),
        };

        // A route record written before its folders were recorded (target:) leaves them to the pipeline's defaults.
        foreach (var (name, value) in new[] { ("route_customer", targets.Customer), ("category", targets.Category), ("type", targets.Type), ("group", targets.Group) })
        {
            if (value.Length > 0)
            {
                values[name] = value;
            }
        }

        foreach (var (name, value) in targets.Captures)
        {
            values.TryAdd(name, value);
        }

        return values;
    }

    private static async Task<MailTargets> RoutedAsync(StepContext context, CancellationToken cancellationToken) =>
        await RouteRecord.FindAsync(context, cancellationToken)
        ?? throw IntakeException.Integrity(
            $"load {context.Load.Id} of mail pipeline {context.Pipeline.Name} has no successful route step, which decides its modules and their values; re-drive the load so that it is routed");

    /// <summary>The decoded subject of the original, read from its header only; empty when it has none.</summary>
    private static async Task<string> SubjectAsync(StepContext context, CancellationToken cancellationToken)
    {
        await using var original = await context.Store.OpenReadAsync(Areas.Inbox, context.InboxKey, cancellationToken);
        var headers = await HeaderList.LoadAsync(original, cancellationToken);
        return headers[HeaderId.Subject] ?? "";
    }
}
