using System.Globalization;
using Intake.Core.Model;
using Intake.Core.Ports;
using Intake.Engine.Configuration;
using Intake.Engine.Runtime;
using Intake.Engine.SourceKinds;
using Intake.Engine.Steps;

namespace Intake.Engine.Mail;

/// <summary>
/// <c>source.kind: mail</c>: messages pushed to Intake (<c>intake mail</c> from Postfix's pipe, or the SMTP listener) and
/// routed by the pipeline's <c>routes:</c>. Nothing is listed: the receiver (<see cref="MailReceiver"/>) registers each
/// message's load once the message is in the inbox, and workers carry it through <c>route</c>, the parsing steps and
/// <c>archive</c>.
/// </summary>
internal sealed class MailKind : SourceKind<MailSourceOptions>
{
    // Built on first use: the slice's descriptors refer to the built-in ones. extract writes the parts into the work
    // area, where load (csv.files: ["attachments/*.csv"]) and the parsing modules read them.
    private static readonly Lazy<StepDescriptor[]> MailSteps = new(() =>
        [MailSlice.Receive, MailSlice.Route, MailSlice.Extract, StepDescriptor.Archive, StepDescriptor.Copy, StepDescriptor.Load, StepDescriptor.Lake, StepDescriptor.Merge]);
    private static readonly string[] OwnKeys = [MailConfigReader.RoutesKey];

    public override string Name => "mail";

    public override string Reads => "mail received by 'intake mail' or the SMTP listener";

    public override StepDescriptor FirstStep => MailSlice.Receive;

    public override string FirstStepPurpose => "the receiver puts the message into the inbox and records it";

    public override IReadOnlyList<StepDescriptor> Steps => MailSteps.Value;

    public override IReadOnlyList<string> PipelineKeys => OwnKeys;

    protected override MailSourceOptions Read(SourceReading reading) => MailConfigReader.ReadSource(reading);

    protected override string Location(MailSourceOptions options) =>
        string.Create(CultureInfo.InvariantCulture, $"mail (messages up to {options.MaxMessageBytes} bytes)");

    /// <summary>The routes (top-level <c>routes:</c>), and the <c>route</c> step, which a mail pipeline cannot do without.</summary>
    public override PipelineConfig Complete(PipelineConfig pipeline, PipelineReading reading)
    {
        if (pipeline.Steps.Count > 0 && !MailSlice.Route.IsIn(pipeline.Steps))
        {
            reading.Pipeline.Report("steps", "a mail pipeline needs 'route' after 'receive': it matches each message to its route and folder");
        }

        var routes = MailConfigReader.ReadRoutes(reading.Pipeline, pipeline);
        return pipeline with { Source = pipeline.Source with { Options = Options(pipeline) with { Routes = routes } } };
    }

    /// <summary>Mail is pushed, never listed: the receiver registers each message's load.</summary>
    public override Task<DiscoveryResult> DiscoverAsync(DiscoveryContext context, CancellationToken cancellationToken) =>
        Task.FromResult(new DiscoveryResult(context.Pipeline.Name, 0, 0));

    /// <summary>
    /// The original into its folder of the archive area, and beside it every part the <c>extract</c> step wrote to the
    /// load's work folder, under the same relative names: the message and its parts are kept together, as in the inbox.
    /// </summary>
    public override async Task<StepResult> ArchiveAsync(StepContext context, CancellationToken cancellationToken)
    {
        var original = await ArchiveStep.CopyOriginalAsync(context, cancellationToken);
        var folder = MailLayout.FolderOf(context.InboxKey);
        var prefix = MailLayout.PartsPrefix(context.Load);
        var outputs = new List<string>(original.Outputs);
        var bytes = original.BytesOut ?? 0;
        await foreach (var part in context.WorkStore.ListAsync(Areas.Work, prefix, cancellationToken))
        {
            var relative = part.Key[prefix.Length..];
            if (relative == MailLayout.MessageName)
            {
                continue; // the original's name in the folder is the original's
            }

            var target = folder + "/" + relative;
            ObjectInfo copy;
            if (ReferenceEquals(context.WorkStore, context.Store))
            {
                copy = await context.Store.CopyAsync(Areas.Work, part.Key, Areas.Archive, target, cancellationToken);
            }
            else
            {
                await using var read = await context.WorkStore.OpenReadAsync(Areas.Work, part.Key, cancellationToken);
                copy = await context.Store.PutAsync(Areas.Archive, target, read, cancellationToken);
            }

            bytes += copy.Size;
            outputs.Add($"{Areas.Archive}:{target}");
        }

        var parts = outputs.Count - original.Outputs.Count;
        return original with
        {
            BytesOut = bytes,
            Outputs = outputs,
            Message = parts == 0 ? "the message" : string.Create(CultureInfo.InvariantCulture, $"the message and {parts} parts"),
        };
    }
}
