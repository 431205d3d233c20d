using Intake.Core.Model;
using Intake.Core.Ports;

namespace Intake.Engine.Steps;

/// <summary>
/// Copies the original from the inbox to the archive area, verified by size and SHA-256 (a link to the read-only
/// original on a local store: no byte moves and nothing is hashed again); the inbox copy stays. It runs
/// at the archive stage (the load is <c>archiving</c>), after every ingest step, wherever it stands in <c>steps:</c>.
/// Repeating it (a worker stopped mid-copy) rewrites the same key, so the archive holds one copy. What it keeps is the
/// source kind's to say (<see cref="SourceKinds.SourceKind.ArchiveAsync"/>): the original, and for a mail load its parts too.
/// </summary>
public sealed class ArchiveStep : IStep
{
    public string Name => StepDescriptor.Archive.Name;

    public Task<StepResult> RunAsync(StepContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        return context.Pipeline.Source.Kind.ArchiveAsync(context, cancellationToken);
    }

    /// <summary>Copies the original from the inbox to the archive area under the same key, verified.</summary>
    public static async Task<StepResult> CopyOriginalAsync(StepContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (context.Store is ILinkingObjectStore linking)
        {
            // The inbox original is read-only: the archive shares it (a link) and its recorded SHA-256, no byte read.
            var placed = await linking.PlaceCopyAsync(Areas.Inbox, context.InboxKey, Areas.Archive, context.InboxKey, cancellationToken);
            return new StepResult
            {
                BytesIn = placed.Info.Size,
                BytesOut = placed.Info.Size,
                Outputs = [$"{Areas.Archive}:{context.InboxKey}"],
                Message = placed.How switch
                {
                    Placement.HardLinked => "hard-linked to the inbox original (same file, no copy)",
                    Placement.Reflinked => "cloned from the inbox original (reflink, no copy)",
                    _ => null,
                },
            };
        }

        var copy = await context.Store.CopyAsync(Areas.Inbox, context.InboxKey, Areas.Archive, context.InboxKey, cancellationToken);
        return new StepResult { BytesIn = copy.Size, BytesOut = copy.Size, Outputs = [$"{Areas.Archive}:{context.InboxKey}"] };
    }
}
