using Intake.Engine.Configuration;
using Intake.Engine.Steps;

namespace Intake.Engine.Mail;

/// <summary>Reads a pipeline's <c>extract:</c> block (<see cref="MailExtractLimits"/>), which only a pipeline with the <c>extract</c> step may have.</summary>
public static class MailExtractLimitsReader
{
    /// <summary>The limits of a pipeline whose steps include <c>extract</c> (the defaults when the block is absent); null otherwise.</summary>
    public static MailExtractLimits? Read(YamlScope pipeline, IReadOnlyList<string> steps)
    {
        ArgumentNullException.ThrowIfNull(pipeline);
        var s = pipeline.Scope(MailExtractLimits.Key);
        if (!MailSlice.Extract.IsIn(steps))
        {
            if (s.Exists)
            {
                pipeline.Report(MailExtractLimits.Key, "is set but the steps do not include 'extract'");
            }

            return null;
        }

        if (StepDescriptor.Decompress.IsIn(steps))
        {
            pipeline.Report("steps", "lists both 'decompress' and 'extract': each fills the load's work area, clearing it first, so list one (extract for mail messages, decompress for archives)");
        }

        var defaults = new MailExtractLimits();
        var limits = new MailExtractLimits
        {
            MaxAttachments = s.Int("max_attachments", defaults.MaxAttachments, 0, 1_000_000),
            // One level is a message with a multipart body; past a few hundred only a parser's stack is at stake.
            MaxDepth = s.Int("max_depth", defaults.MaxDepth, 1, 200),
        };
        s.RejectUnknown();
        return limits;
    }
}
