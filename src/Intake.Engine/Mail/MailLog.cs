using Microsoft.Extensions.Logging;

namespace Intake.Engine.Mail;

/// <summary>The Mail slice's log messages, declared once.</summary>
internal static partial class MailLog
{
    [LoggerMessage(EventId = 7001, Level = LogLevel.Information, Message = "Mail accepted as load {LoadId} of {Pipeline} ({SourceKey}): {Route}")]
    public static partial void Accepted(ILogger logger, long loadId, string pipeline, string sourceKey, string route);

    [LoggerMessage(EventId = 7002, Level = LogLevel.Information, Message = "Mail received again, already load {LoadId} of {Pipeline} ({SourceKey})")]
    public static partial void Duplicate(ILogger logger, long loadId, string pipeline, string sourceKey);

    [LoggerMessage(EventId = 7003, Level = LogLevel.Warning, Message = "Mail from {Sender} to {Recipients} not kept; the sender keeps it and tries again: {Reason}")]
    public static partial void NotDurable(ILogger logger, Exception exception, string sender, string recipients, string reason);

}
