namespace Intake.Engine.Streams;

/// <summary>
/// One stream of <c>streams:</c> in intake.yaml: records pushed to <c>intake serve</c> (or, later, read from Kafka),
/// batched into NDJSON files that land in a file pipeline's own source, where that pipeline discovers them.
/// </summary>
/// <remarks>
/// The stream has no customer of its own: its batches become loads of <see cref="Pipeline"/>, which carry that
/// pipeline's customer, so only keys of that customer (or admin keys) may write to it.
/// </remarks>
public sealed record StreamConfig
{
    /// <summary>The name in the URL (<c>/api/v1/streams/{name}/records</c>) and on the command line.</summary>
    public required string Name { get; init; }

    /// <summary>The file pipeline whose source receives the batch files (its kind must be one Intake can write into: local, s3).</summary>
    public required string Pipeline { get; init; }

    /// <summary>
    /// Key prefix of the batch files under the pipeline's source, <c>''</c> or ending in '/' (e.g. <c>kafka/sample/</c>):
    /// a batch is written as <c>&lt;prefix&gt;&lt;uuid&gt;.json</c>, as the Cubic Kafka design names them.
    /// </summary>
    public string Prefix { get; init; } = "";

    /// <summary>Records per batch: a batch is sealed as soon as it holds this many (the design's 10,000).</summary>
    public int MaxRecords { get; init; } = 10_000;

    /// <summary>How long the oldest record of a batch may wait before the batch is sealed however small it is (the design's hour).</summary>
    public TimeSpan MaxAge { get; init; } = TimeSpan.FromHours(1);

    /// <summary>
    /// The largest request body this stream takes. 16 MiB holds tens of thousands of typical records, so a client
    /// reaches the batcher's throughput with few requests, while one request never holds more than that in memory.
    /// </summary>
    public long MaxRequestBytes { get; init; } = 16L * 1024 * 1024;

    /// <summary>
    /// The folder on this machine where accepted records wait, fsynced, until their batch is written
    /// (default <c>.intake/streams/&lt;name&gt;</c> beside intake.yaml). It must survive a restart: never a tmpfs.
    /// </summary>
    public required string SpoolDirectory { get; init; }

    /// <summary>The source key of the batch with <paramref name="id"/>.</summary>
    public string KeyFor(Guid id) => $"{Prefix}{id:N}.json";
}
