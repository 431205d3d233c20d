using Intake.Core.Model;
using Intake.Core.Ports;
using Intake.Formats.Archives;
using Intake.Formats.Csv;

namespace Intake.Engine.Steps;

/// <summary>
/// Expands the original (gz, bz2, xz, zst, zip, tar and compressed tars, one nested level) into the load's work
/// prefix, streaming, through <see cref="DataFiles.Expand"/>: the same walk the streamed load runs. Unsafe names,
/// links, colliding names and sizes declared past the limits fail before anything of the archive is written; a
/// failure found later removes what was written, so the work area holds one complete expansion or nothing.
/// </summary>
public sealed class DecompressStep : IStep
{
    public string Name => StepDescriptor.Decompress.Name;

    public async Task<StepResult> RunAsync(StepContext context, CancellationToken cancellationToken)
    {
        var store = context.Store;
        var work = context.WorkStore;
        await work.DeletePrefixAsync(Areas.Work, context.WorkPrefix, cancellationToken);
        var inboxInfo = await store.StatAsync(Areas.Inbox, context.InboxKey, cancellationToken);
        var outputs = new List<string>();
        long bytesOut = 0;
        try
        {
            await using var input = new CountingStream(await store.OpenReadAsync(Areas.Inbox, context.InboxKey, cancellationToken), n => context.Progress(n, inboxInfo?.Size));
            await foreach (var entry in DataFiles.Expand(context, input, cancellationToken))
            {
                var key = context.WorkPrefix + entry.Name;
                var written = await work.PutAsync(Areas.Work, key, entry.Content, cancellationToken);
                bytesOut += written.Size;
                outputs.Add($"{Areas.Work}:{key}");
            }

            return new StepResult { BytesIn = input.BytesRead, BytesOut = bytesOut, Outputs = outputs };
        }
        catch
        {
            await work.DeletePrefixAsync(Areas.Work, context.WorkPrefix, CancellationToken.None);
            throw;
        }
    }
}
