using System.Globalization;
using Intake.Core.Model;
using Intake.Core.Ports;
using Intake.Engine.Steps;

namespace Intake.Engine.Mail;

/// <summary>
/// The <c>extract</c> step: takes the load's message (the original in the inbox, never modified) apart into the work
/// area with <see cref="MailExtractor"/>, the manifest <c>parts.json</c> beside the parts for the later steps. Like
/// <c>decompress</c> it clears the work prefix first and again on failure, so the work area holds one complete
/// extraction or nothing, and running it again after a crash rewrites the same files.
/// </summary>
public sealed class ExtractStep : IStep
{
    public string Name => MailSlice.Extract.Name;

    public async Task<StepResult> RunAsync(StepContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        var work = context.WorkStore;
        await work.DeletePrefixAsync(Areas.Work, context.WorkPrefix, cancellationToken);
        var inboxInfo = await context.Store.StatAsync(Areas.Inbox, context.InboxKey, cancellationToken);
        try
        {
            // A local original is read in place (it can seek); one from S3 is first copied to a temporary file by the extractor.
            await using var input = await context.Store.OpenReadAsync(Areas.Inbox, context.InboxKey, cancellationToken);
            var limits = context.Pipeline.Extract ?? new MailExtractLimits();
            var manifest = await new MailExtractor(limits).ExtractAsync(input, context.Load.SourceKey, work, Areas.Work, context.WorkPrefix, cancellationToken);
            context.Progress(inboxInfo?.Size ?? 0, inboxInfo?.Size);
            return new StepResult
            {
                BytesIn = inboxInfo?.Size,
                BytesOut = manifest.Parts.Sum(p => p.Size),
                Outputs = [.. manifest.Parts.Select(p => $"{Areas.Work}:{context.WorkPrefix}{p.Path}"), $"{Areas.Work}:{context.WorkPrefix}{MailManifest.FileName}"],
                Message = Describe(manifest),
            };
        }
        catch
        {
            await work.DeletePrefixAsync(Areas.Work, context.WorkPrefix, CancellationToken.None);
            throw;
        }
    }

    private static string Describe(MailManifest manifest)
    {
        var files = manifest.Parts.Count.ToString(CultureInfo.InvariantCulture);
        var text = $"{files} part(s) extracted";
        return manifest.Warnings.Count == 0 ? text : $"{text}; warning: {string.Join("; ", manifest.Warnings)}";
    }
}
