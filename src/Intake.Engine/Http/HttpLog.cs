using Microsoft.Extensions.Logging;

namespace Intake.Engine.Http;

/// <summary>The pull's log messages (the API client's own, event 40, are in <c>Intake.Sources.Http</c>).</summary>
internal static partial class HttpLog
{
    [LoggerMessage(41, LogLevel.Information, "{Event} {Day}: resuming after {Records} records in {Parts} parts ({Token})")]
    public static partial void Resuming(ILogger logger, string @event, string day, long records, int parts, string token);

    [LoggerMessage(42, LogLevel.Information, "{Event} {Day}: {Records} records in {Parts} parts, {Requests} requests ({Retries} retried); removed {Stale} stale parts")]
    public static partial void Pulled(ILogger logger, string @event, string day, long records, int parts, int requests, int retries, int stale);
}
