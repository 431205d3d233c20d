using Intake.Core.Model;
using Intake.Core.Ports;
using Intake.Formats.Archives;
using Intake.Formats.Csv;

namespace Intake.Engine.Steps;

/// <summary>
/// Expands the original (gz, zip, tar, tgz, one nested level) into the load's work prefix, streaming.
/// Unsafe archives fail as <c>security</c> before anything of theirs is written; entries already
/// written by a failed attempt are removed, so the work area holds one complete expansion or nothing.
/// </summary>
public sealed class DecompressStep : IStep
{
    public string Name => "decompress";

    public async Task<StepResult> RunAsync(StepContext context, CancellationToken cancellationToken)
    {
        var store = context.Store;
        var work = context.WorkStore;
        await work.DeletePrefixAsync(Areas.Work, context.WorkPrefix, cancellationToken);
        var limits = context.Pipeline.Limits;
        var expander = new ArchiveExpander(new ArchiveLimits { MaxTotalBytes = limits.MaxTotalBytes, MaxRatio = limits.MaxRatio, MaxEntries = limits.MaxEntries });
        var inboxInfo = await store.StatAsync(Areas.Inbox, context.InboxKey, cancellationToken);
        var outputs = new List<string>();
        long bytesOut = 0;
        try
        {
            await using var input = new CountingStream(await store.OpenReadAsync(Areas.Inbox, context.InboxKey, cancellationToken), n => context.Progress(n, inboxInfo?.Size));
            var name = context.InboxKey[(context.InboxKey.LastIndexOf('/') + 1)..];
            await foreach (var entry in expander.ExpandAsync(input, name, cancellationToken))
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
