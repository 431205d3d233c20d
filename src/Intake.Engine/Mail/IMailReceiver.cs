namespace Intake.Engine.Mail;

/// <summary>What the sending side said about a message: the SMTP envelope, or Postfix's <c>pipe</c> arguments.</summary>
/// <param name="Sender">The envelope sender (<c>MAIL FROM</c>, Postfix's <c>${sender}</c>); null or empty for a bounce.</param>
/// <param name="Recipients">The envelope recipients (<c>RCPT TO</c>, Postfix's <c>${recipient}</c>).</param>
/// <param name="Client">Where the message came from (an SMTP client's address, or <c>postfix</c>); for the record only.</param>
public sealed record MailEnvelope(string? Sender, IReadOnlyList<string> Recipients, string? Client = null);

/// <summary>How a receive ended, in the terms both SMTP and Postfix's pipe transport need.</summary>
public enum MailReceiveOutcome
{
    /// <summary>The message is on disk (fsynced) and registered as a load: SMTP 250, pipe exit 0.</summary>
    Accepted,

    /// <summary>The same message (Message-ID and content) was received before; nothing new was written: 250, exit 0.</summary>
    Duplicate,

    /// <summary>No mail pipeline takes this recipient: SMTP 550, pipe exit 67 (EX_NOUSER).</summary>
    RecipientUnknown,

    /// <summary>The message is over the size limit: SMTP 552, pipe exit 69 (EX_UNAVAILABLE: Postfix bounces it).</summary>
    TooLarge,

    /// <summary>The message could not be made durable (disk full, store or catalog down): SMTP 451, pipe exit 75 (EX_TEMPFAIL).</summary>
    TemporaryFailure,
}

/// <summary>The answer to one receive: the outcome, the load when there is one, and a message for the sender's log.</summary>
public sealed record MailReceipt(MailReceiveOutcome Outcome, long? LoadId, string Message);

/// <summary>
/// The Mail slice's one way in. <c>intake mail</c> (Postfix's pipe) and the embedded SMTP listener both call it; it
/// answers <see cref="MailReceiveOutcome.Accepted"/> only once the raw message is durable and its load registered.
/// </summary>
public interface IMailReceiver
{
    /// <summary>The largest message accepted, in bytes (SMTP's SIZE extension announces it).</summary>
    long MaxMessageBytes { get; }

    /// <summary>Whether some mail pipeline takes mail for this recipient (checked at <c>RCPT TO</c>, before the data).</summary>
    bool AcceptsRecipient(string recipient);

    /// <summary>Makes the raw message durable, registers its load and answers; never throws for a bad message.</summary>
    Task<MailReceipt> ReceiveAsync(Stream message, MailEnvelope envelope, CancellationToken cancellationToken);
}
