using Microsoft.Extensions.Logging;

namespace Intake.Engine.Streams;

/// <summary>Every line about a stream carries its name; lines about a batch its source key.</summary>
internal static partial class StreamsLog
{
    [LoggerMessage(120, LogLevel.Information, "stream {Stream}: spool recovered: {Records} records in the open batch, {Sealed} sealed batches to write, {TornBytes} bytes of an unacknowledged last line cut, {BadLines} damaged lines dropped")]
    public static partial void Recovered(ILogger logger, string stream, long records, int @sealed, long tornBytes, long badLines);

    [LoggerMessage(121, LogLevel.Warning, "stream {Stream}: {BadLines} complete lines of the spool {Spool} were not records (the disk lost writes) and were dropped")]
    public static partial void BadLinesDropped(ILogger logger, string stream, long badLines, string spool);

    [LoggerMessage(122, LogLevel.Information, "stream {Stream}: batch {Key} sealed ({Bytes} bytes)")]
    public static partial void Sealed(ILogger logger, string stream, string key, long bytes);

    [LoggerMessage(123, LogLevel.Information, "stream {Stream}: batch {Key} written into the source of {Pipeline}")]
    public static partial void Written(ILogger logger, string stream, string key, string pipeline);

    [LoggerMessage(124, LogLevel.Error, "stream {Stream}: cannot write the spool {Spool}")]
    public static partial void SpoolFailed(ILogger logger, Exception exception, string stream, string spool);

    [LoggerMessage(125, LogLevel.Warning, "stream {Stream}: cannot write batch {Key}; retrying in {Delay}")]
    public static partial void WriteFailed(ILogger logger, Exception exception, string stream, string key, TimeSpan delay);

    [LoggerMessage(126, LogLevel.Warning, "stream {Stream}: batch {Key} is not listed by the source of {Pipeline} yet; its next discovery takes it")]
    public static partial void NotListedYet(ILogger logger, string stream, string key, string pipeline);

    [LoggerMessage(127, LogLevel.Warning, "stream {Stream}: discovery of batch {Key} by {Pipeline} failed; its next discovery takes it")]
    public static partial void DiscoveryFailed(ILogger logger, Exception exception, string stream, string key, string pipeline);
}
