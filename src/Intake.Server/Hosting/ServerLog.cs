using Microsoft.Extensions.Logging;

namespace Intake.Server.Hosting;

/// <summary>The server's log lines. None takes a key or a secret: only a key's public id.</summary>
internal static partial class ServerLog
{
    [LoggerMessage(201, LogLevel.Warning, "API request with an invalid key rejected ({Reason}, key id {KeyId}) from {Client}")]
    public static partial void KeyRejected(ILogger logger, string reason, string keyId, string client);

    [LoggerMessage(202, LogLevel.Information, "pipeline {Pipeline} {Action} by key {KeyId}")]
    public static partial void PipelineAction(ILogger logger, string pipeline, string action, string keyId);

    [LoggerMessage(203, LogLevel.Information, "load {LoadId} of {Pipeline}: {Action} by key {KeyId}")]
    public static partial void LoadAction(ILogger logger, long loadId, string pipeline, string action, string keyId);

    [LoggerMessage(204, LogLevel.Error, "{Service} failed; retrying after {Delay}")]
    public static partial void ServiceFailed(ILogger logger, Exception exception, string service, TimeSpan delay);

    [LoggerMessage(205, LogLevel.Information, "intake {Mode} started: {Workers} workers and {SmallLoadWorkers} small-load workers, catalog {Catalog}, pipelines {Pipelines}")]
    public static partial void Started(ILogger logger, string mode, int workers, int smallLoadWorkers, string catalog, string pipelines);

    [LoggerMessage(206, LogLevel.Warning, "returned {Count} loads whose lease expired or whose worker stopped")]
    public static partial void Swept(ILogger logger, int count);

    [LoggerMessage(207, LogLevel.Error, "unhandled error on {Method} {Path} (request id {RequestId})")]
    public static partial void Unhandled(ILogger logger, Exception exception, string method, string path, string requestId);

    [LoggerMessage(208, LogLevel.Information, "request {Method} {Path} from {Client} refused with {Status}: {Reason}")]
    public static partial void RequestRefused(ILogger logger, string method, string path, string client, int status, string reason);

    [LoggerMessage(209, LogLevel.Information, "stream {Stream} flushed by key {KeyId}")]
    public static partial void StreamFlushed(ILogger logger, string stream, string keyId);
}
