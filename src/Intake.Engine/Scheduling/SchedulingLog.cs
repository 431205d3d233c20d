using Microsoft.Extensions.Logging;

namespace Intake.Engine.Scheduling;

/// <summary>Every log line about a load carries its id and pipeline; lines about a run carry the pipeline.</summary>
internal static partial class SchedulingLog
{
    [LoggerMessage(101, LogLevel.Information, "run of {Pipeline} ({Trigger}): {New} new loads, {Seen} known files")]
    public static partial void RunFinished(ILogger logger, string pipeline, string trigger, int @new, int seen);

    [LoggerMessage(102, LogLevel.Information, "scheduled run of {Pipeline} for {ScheduledFor:o} taken by {Owner}")]
    public static partial void Fired(ILogger logger, string pipeline, DateTimeOffset scheduledFor, string owner);

    [LoggerMessage(103, LogLevel.Error, "scheduled run of {Pipeline} for {ScheduledFor:o} failed; the next run is at its next tick")]
    public static partial void RunFailed(ILogger logger, Exception exception, string pipeline, DateTimeOffset scheduledFor);

    [LoggerMessage(104, LogLevel.Warning, "load {LoadId} of {Pipeline}: timed out after {Timeout} in {Status}; failed as transient and its lease released")]
    public static partial void TimedOut(ILogger logger, long loadId, string pipeline, string timeout, string status);
}
