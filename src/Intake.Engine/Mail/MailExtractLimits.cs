namespace Intake.Engine.Mail;

/// <summary>
/// <c>extract:</c>, the limits of the <c>extract</c> step. A message past one of them is refused (kind <c>security</c>)
/// before any of its parts is written. The message's size is the receiver's limit (<see cref="IMailReceiver.MaxMessageBytes"/>):
/// a message that got in is small enough to read.
/// </summary>
public sealed record MailExtractLimits
{
    /// <summary>The YAML key of the block in a pipeline file.</summary>
    public const string Key = "extract";

    /// <summary>
    /// Files besides the bodies, over the message and every message attached to it (<c>extract.max_attachments</c>).
    /// Mail programs send a few; a thousand is no report, and each becomes a file and a manifest entry.
    /// </summary>
    public int MaxAttachments { get; init; } = 1000;

    /// <summary>
    /// How deeply parts may nest (<c>extract.max_depth</c>): each multipart and each attached message is one level. A
    /// forwarded message with an HTML body and pictures is about five; far deeper is made on purpose, to exhaust a parser.
    /// </summary>
    public int MaxDepth { get; init; } = 20;
}
