using Intake.Core.Model;
using Intake.Core.Ports;

namespace Intake.Engine.Steps;

/// <summary>Copies the original from the inbox to the archive area, verified; the inbox copy stays.</summary>
public sealed class ArchiveStep : IStep
{
    public string Name => StepDescriptor.Archive.Name;

    public async Task<StepResult> RunAsync(StepContext context, CancellationToken cancellationToken)
    {
        var copy = await context.Store.CopyAsync(Areas.Inbox, context.InboxKey, Areas.Archive, context.InboxKey, cancellationToken);
        return new StepResult { BytesIn = copy.Size, BytesOut = copy.Size, Outputs = [$"{Areas.Archive}:{context.InboxKey}"] };
    }
}
