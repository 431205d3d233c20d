using Intake.Core.Errors;
using Intake.Core.Ports;
using Intake.Engine.Configuration;
using Intake.Engine.Runtime;
using Intake.Engine.Scheduling;
using Intake.Engine.SourceKinds;
using Microsoft.Extensions.Logging;

namespace Intake.Engine.Streams;

/// <summary>
/// Where records of a stream come in: the REST endpoint of <c>intake serve</c> today, a Kafka consumer later. A feed
/// hands each set of records (checked into <see cref="StreamRecords"/>: a request body with
/// <see cref="StreamRecords.Parse"/>, a poll of messages with <see cref="StreamRecords.FromValues"/>) to
/// <see cref="AppendAsync"/>, and acknowledges them upstream (answers 200, commits the Kafka offsets) only once it
/// returns: they are then on disk, and will be written into the pipeline's source exactly once.
/// </summary>
/// <remarks>
/// A Kafka consumer would be one more host of this interface, no change to the batcher: poll a batch of messages,
/// append their values, then commit the offsets. Messages appended but not committed before a crash are polled and
/// appended again, as a client's unanswered request is sent again: at least once into the batches, so such a
/// pipeline should merge on a record id (see docs/streams.md).
/// </remarks>
public interface IStreamRecordSink
{
    /// <summary>Appends records to a stream; returns once they are durable.</summary>
    /// <exception cref="ArgumentException">No stream of that name.</exception>
    /// <exception cref="IntakeException">Transient: the spool cannot be written now; nothing was acknowledged.</exception>
    Task AppendAsync(string stream, StreamRecords records, CancellationToken cancellationToken);
}

/// <summary>The batchers of every stream a configuration declares, started and stopped together.</summary>
public sealed class StreamsService : IStreamRecordSink, IAsyncDisposable
{
    private readonly IntakeRuntime _runtime;
    private readonly Func<PipelineConfig, string, CancellationToken, Task<bool>> _discover;
    private readonly Dictionary<string, StreamBatcher> _batchers = new(StringComparer.Ordinal);

    /// <param name="runtime">The opened runtime: its configuration's streams and pipelines, its clock and logs.</param>
    /// <param name="discover">Asks a pipeline to discover a batch just written (see <see cref="DiscoverWith"/>).</param>
    public StreamsService(IntakeRuntime runtime, Func<PipelineConfig, string, CancellationToken, Task<bool>> discover)
    {
        ArgumentNullException.ThrowIfNull(runtime);
        ArgumentNullException.ThrowIfNull(discover);
        _runtime = runtime;
        _discover = discover;
    }

    /// <summary>Raised after records of a stream are durable in its spool, with how many.</summary>
    public event Action<StreamConfig, long>? Accepted;

    /// <summary>Raised after a batch of a stream is written into its pipeline's source, with its key.</summary>
    public event Action<StreamConfig, string>? Written;

    /// <summary>The started streams, by name.</summary>
    public IReadOnlyCollection<StreamBatcher> Batchers => _batchers.Values;

    /// <summary>Discovery through <paramref name="runs"/>, limited to the batch's key, as an upload trigger asks for one file.</summary>
    public static Func<PipelineConfig, string, CancellationToken, Task<bool>> DiscoverWith(PipelineRuns runs)
    {
        ArgumentNullException.ThrowIfNull(runs);
        return async (pipeline, key, ct) => (await runs.RunAsync(pipeline, [key], "stream", ct)).MissingKeys.Count == 0;
    }

    /// <summary>Starts every stream of the configuration, or those named in <paramref name="only"/>.</summary>
    /// <exception cref="IntakeException">Config: a spool cannot be taken over; the streams started before it are stopped again.</exception>
    public async Task StartAsync(IReadOnlyCollection<string>? only = null)
    {
        try
        {
            foreach (var stream in _runtime.Config.Streams.Where(s => only is null || only.Contains(s.Name)))
            {
                var pipeline = _runtime.Pipeline(stream.Pipeline);
                var drop = FileSources.For(pipeline, _runtime.Time) as IFileDrop
                    ?? throw IntakeException.Config($"stream '{stream.Name}': the source of pipeline '{pipeline.Name}' cannot be written into");
                var batcher = new StreamBatcher(stream, drop, (key, ct) => _discover(pipeline, key, ct), _runtime.Time, _runtime.Logs.CreateLogger("Intake.Streams"));
                batcher.Accepted += n => Accepted?.Invoke(stream, n);
                batcher.Written += key => Written?.Invoke(stream, key);
                try
                {
                    batcher.Start();
                }
                catch
                {
                    await batcher.DisposeAsync();
                    throw;
                }

                _batchers[stream.Name] = batcher;
            }
        }
        catch
        {
            await DisposeAsync();
            throw;
        }
    }

    /// <summary>The started stream of that name, or null.</summary>
    public StreamBatcher? Find(string name) => _batchers.GetValueOrDefault(name);

    /// <inheritdoc />
    public Task AppendAsync(string stream, StreamRecords records, CancellationToken cancellationToken) =>
        (Find(stream) ?? throw new ArgumentException($"no stream named '{stream}' (streams: {string.Join(", ", _batchers.Keys)})", nameof(stream))).AppendAsync(records);

    public async ValueTask DisposeAsync()
    {
        foreach (var batcher in _batchers.Values)
        {
            await batcher.DisposeAsync();
        }

        _batchers.Clear();
    }
}
