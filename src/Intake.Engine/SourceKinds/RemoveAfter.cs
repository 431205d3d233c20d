using System.Globalization;
using Intake.Core.Errors;
using Intake.Core.Model;
using Intake.Core.Ports;
using Intake.Engine.Runtime;
using Intake.Engine.Steps;

namespace Intake.Engine.SourceKinds;

/// <summary>
/// <c>source.remove_after</c> of a file source: once a load is final its file leaves the source (the Cubic design's move
/// out of the incoming prefix): copied to the archive area (archived) or the error area (errored) by the stage that
/// ends the load, that copy verified here, then the file deleted at the source.
/// </summary>
/// <remarks>
/// The copy and the delete are separate steps, each recorded: a worker that stops between them leaves the load
/// <c>archiving</c> or <c>erroring</c>, and the next worker finds the copy done (verified again here) and deletes. A file
/// rewritten at the source since it was listed is another version and a load of its own: it is never deleted
/// (<see cref="IRemovableFileSource"/> compares the fingerprint). A deleted file is no longer listed, so it is never
/// registered again.
/// </remarks>
public static class RemoveAfter
{
    /// <summary>The YAML key under <c>source:</c>.</summary>
    public const string Key = "remove_after";

    /// <summary>Verifies the original's copy in <paramref name="area"/> against the inbox, then deletes the load's file at its source.</summary>
    /// <exception cref="IntakeException">Integrity when the copy is missing or differs (the file is left at the source); as the source for its failures.</exception>
    public static async Task<StepResult> RemoveAsync(StepContext context, string area, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        var load = context.Load;
        var store = context.Store;
        var key = context.InboxKey;
        var original = await store.StatAsync(Areas.Inbox, key, cancellationToken);
        var copy = await store.StatAsync(area, key, cancellationToken);
        var leftAt = $"{load.SourceKey} stays at the source";
        if (copy is null)
        {
            throw IntakeException.Integrity($"{leftAt}: its copy {store.Describe(area, key)} is missing, so deleting it there would lose it");
        }

        var expectedSize = original?.Size ?? load.SourceSize;
        if (expectedSize is { } size && copy.Size != size)
        {
            throw IntakeException.Integrity(string.Create(CultureInfo.InvariantCulture,
                $"{leftAt}: its copy {store.Describe(area, key)} has {copy.Size} bytes, the original {size}; run the load again to copy it anew"));
        }

        if (original?.Sha256 is { } want && copy.Sha256 is { } have && !string.Equals(want, have, StringComparison.OrdinalIgnoreCase))
        {
            throw IntakeException.Integrity($"{leftAt}: its copy {store.Describe(area, key)} differs from the original in the inbox (SHA-256); run the load again to copy it anew");
        }

        var source = FileSources.For(context.Pipeline, context.Time);
        try
        {
            if (source is not IRemovableFileSource removable)
            {
                throw IntakeException.Config($"{context.Pipeline.File}: source.remove_after is set, but source.kind: {context.Pipeline.Source.Kind.Name} cannot delete files");
            }

            var location = source.Describe(load.SourceKey);
            var outcome = await removable.DeleteAsync(load.SourceKey, load.Fingerprint, cancellationToken);
            return new StepResult
            {
                BytesIn = copy.Size,
                Message = outcome switch
                {
                    SourceRemoval.Deleted => $"deleted {location} after its copy to the {area} area was verified",
                    SourceRemoval.AlreadyGone => $"{location} was already gone (deleted by an earlier attempt or by someone else)",
                    _ => $"{location} was rewritten since it was listed and is left there: the new version is a load of its own",
                },
                Outputs = outcome == SourceRemoval.Changed ? [] : [$"deleted:{location}"],
            };
        }
        finally
        {
            (source as IDisposable)?.Dispose();
        }
    }
}
