using Microsoft.Extensions.Logging;

namespace Intake.Server.Mail;

/// <summary>The SMTP listener's log lines: one per message answered, never the message's content.</summary>
internal static partial class SmtpLog
{
    [LoggerMessage(301, LogLevel.Information, "SMTP listening on {Endpoint}: messages up to {MaxBytes} bytes, STARTTLS {Tls}, {MaxSessions} sessions at once")]
    public static partial void Listening(ILogger logger, string endpoint, long maxBytes, string tls, int maxSessions);

    [LoggerMessage(302, LogLevel.Information, "SMTP message from {Client} (sender {Sender}, {Recipients} recipients, {Bytes} bytes) answered {Code}: {Reason}")]
    public static partial void Answered(ILogger logger, string client, string sender, int recipients, long bytes, int code, string reason);

    [LoggerMessage(303, LogLevel.Information, "SMTP recipient {Recipient} from {Client} refused: no mail pipeline takes it")]
    public static partial void RecipientRefused(ILogger logger, string recipient, string client);

    [LoggerMessage(304, LogLevel.Error, "SMTP message from {Client} could not be received; the sender was told to retry (451)")]
    public static partial void ReceiveFailed(ILogger logger, Exception exception, string client);

    [LoggerMessage(305, LogLevel.Warning, "SMTP session from {Client} failed")]
    public static partial void SessionFaulted(ILogger logger, Exception exception, string client);

    [LoggerMessage(306, LogLevel.Information, "SMTP listener on {Endpoint} stopped")]
    public static partial void Stopped(ILogger logger, string endpoint);
}
