using Microsoft.Extensions.Logging;

namespace Intake.Engine.Runtime;

/// <summary>Every log line about a load carries its id and pipeline.</summary>
internal static partial class Log
{
    [LoggerMessage(1, LogLevel.Information, "discovered {New} new and {Seen} known files for {Pipeline}")]
    public static partial void Discovered(ILogger logger, string pipeline, int @new, int seen);

    [LoggerMessage(2, LogLevel.Information, "load {LoadId} of {Pipeline}: {Step} attempt {Attempt} started")]
    public static partial void StepStarted(ILogger logger, long loadId, string pipeline, string step, int attempt);

    [LoggerMessage(3, LogLevel.Information, "load {LoadId} of {Pipeline}: {Step} succeeded (rows in {RowsIn}, rows out {RowsOut}, bytes {BytesIn})")]
    public static partial void StepSucceeded(ILogger logger, long loadId, string pipeline, string step, long? rowsIn, long? rowsOut, long? bytesIn);

    [LoggerMessage(4, LogLevel.Warning, "load {LoadId} of {Pipeline}: {Step} attempt {Attempt} failed ({ErrorKind}): {Message}")]
    public static partial void StepFailed(ILogger logger, long loadId, string pipeline, string step, int attempt, string errorKind, string message);

    [LoggerMessage(5, LogLevel.Information, "load {LoadId} of {Pipeline}: {Status}")]
    public static partial void LoadStatusChanged(ILogger logger, long loadId, string pipeline, string status);

    [LoggerMessage(6, LogLevel.Warning, "load {LoadId} of {Pipeline}: lease lost to another worker; stopping work on it")]
    public static partial void LeaseLost(ILogger logger, long loadId, string pipeline);

    [LoggerMessage(7, LogLevel.Warning, "returned {Count} loads whose lease expired")]
    public static partial void Swept(ILogger logger, int count);

    [LoggerMessage(8, LogLevel.Warning, "load {LoadId} of {Pipeline}: reclaimed from stopped process {Owner}")]
    public static partial void Reclaimed(ILogger logger, long loadId, string pipeline, string owner);

    [LoggerMessage(9, LogLevel.Error, "load {LoadId} of {Pipeline}: unexpected failure in {Step}")]
    public static partial void Unexpected(ILogger logger, Exception exception, long loadId, string pipeline, string step);

    [LoggerMessage(11, LogLevel.Error, "could not list the source of {Pipeline} ({ErrorKind}): {Message}")]
    public static partial void DiscoveryFailed(ILogger logger, string pipeline, string errorKind, string message);

    [LoggerMessage(10, LogLevel.Warning, "load {LoadId} of {Pipeline}: {Step} retrying in {Delay} after a transient failure")]
    public static partial void Retrying(ILogger logger, long loadId, string pipeline, string step, TimeSpan delay);

    [LoggerMessage(70, LogLevel.Information, "{Pipeline}: new table {Table} from the prefix {Prefix}")]
    public static partial void TableRegistered(ILogger logger, string pipeline, string table, string prefix);

    [LoggerMessage(71, LogLevel.Warning, "{Pipeline}: {SourceKey} is not loaded: {Reason}")]
    public static partial void FileSkipped(ILogger logger, string pipeline, string sourceKey, string reason);

    [LoggerMessage(60, LogLevel.Warning, "catalog outage: {Reason}; waiting and trying again, up to {MaxDelay} apart, until it answers")]
    public static partial void OutageBegan(ILogger logger, string reason, TimeSpan maxDelay);

    [LoggerMessage(61, LogLevel.Information, "the catalog answers again after an outage of {Duration}; carrying on")]
    public static partial void OutageEnded(ILogger logger, TimeSpan duration);

    [LoggerMessage(62, LogLevel.Warning, "load {LoadId} of {Pipeline}: {Step} attempt {Attempt} was left running when the catalog became unreachable; closed as failed before the next attempt")]
    public static partial void UnclosedAttempt(ILogger logger, long loadId, string pipeline, string step, int attempt);
}
