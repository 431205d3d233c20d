using Intake.Core.Model;
using Intake.Core.Ports;
using Intake.Storage;

namespace Intake.Engine.Steps;

/// <summary>
/// Copies the original, unchanged, to another area and possibly another store (the COLD importer's raw copy
/// into a bucket per data type). The copy is verified by size and SHA-256; repeating it rewrites the same key.
/// </summary>
public sealed class CopyStep : IStep
{
    public string Name => StepDescriptor.Copy.Name;

    public async Task<StepResult> RunAsync(StepContext context, CancellationToken cancellationToken)
    {
        var copy = context.Pipeline.Copy!;
        var target = StepContext.Required(context.CopyStore, "store for the copy step");
        var key = Keys.Render(copy.KeyTemplate, context.Pipeline, context.Load);
        ObjectInfo written;
        if (ReferenceEquals(target, context.Store))
        {
            written = await target.CopyAsync(Areas.Inbox, context.InboxKey, copy.Area, key, cancellationToken);
        }
        else
        {
            var original = await context.Store.StatAsync(Areas.Inbox, context.InboxKey, cancellationToken)
                ?? throw new FileNotFoundException($"the original of load {context.Load.Id} is missing from the inbox", context.InboxKey);
            await using (var input = new CountingStream(await context.Store.OpenReadAsync(Areas.Inbox, context.InboxKey, cancellationToken), n => context.Progress(n, original.Size)))
            {
                written = await target.PutAsync(copy.Area, key, input, cancellationToken);
            }

            if (written.Size != original.Size || (original.Sha256 is not null && written.Sha256 is not null && !string.Equals(original.Sha256, written.Sha256, StringComparison.OrdinalIgnoreCase)))
            {
                throw Core.Errors.IntakeException.Integrity($"{target.Describe(copy.Area, key)}: the copy differs from the original ({written.Size} bytes, {written.Sha256}; expected {original.Size}, {original.Sha256})");
            }
        }

        return new StepResult { BytesIn = written.Size, BytesOut = written.Size, Outputs = [$"{copy.Store}/{copy.Area}:{key}"] };
    }
}
