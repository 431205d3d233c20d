using System.IO.Compression;
using System.IO.Pipelines;
using Intake.Core.Ports;

namespace Intake.Engine.Exports;

/// <summary>
/// One gzipped object being written to a store while the rows are still being read: the rows go through gzip into
/// a pipe that the store's <see cref="IObjectStore.PutAsync"/> reads, so memory stays flat whatever the window's
/// size. The store makes the object visible only once it is complete; an aborted sink leaves nothing behind.
/// </summary>
internal sealed class ObjectSink : IAsyncDisposable
{
    private const int BufferSize = 64 * 1024;
    private readonly Pipe _pipe = new(new PipeOptions(pauseWriterThreshold: 1024 * 1024, resumeWriterThreshold: 512 * 1024));
    private readonly GZipStream _gzip;
    private readonly BufferedStream _buffer;
    private readonly Task<ObjectInfo> _put;
    private bool _finished;

    private ObjectSink(IObjectStore store, string area, string key, CompressionLevel level, CancellationToken cancellationToken)
    {
        _gzip = new GZipStream(_pipe.Writer.AsStream(leaveOpen: true), level, leaveOpen: false);
        _buffer = new BufferedStream(_gzip, BufferSize);
        var reader = _pipe.Reader.AsStream();
        _put = Task.Run(async () =>
        {
            await using (reader)
            {
                return await store.PutAsync(area, key, reader, cancellationToken);
            }
        }, cancellationToken);
        Key = key;
    }

    public string Key { get; }

    public static ObjectSink Start(IObjectStore store, string area, string key, CompressionLevel level, CancellationToken cancellationToken) =>
        new(store, area, key, level, cancellationToken);

    public ValueTask WriteAsync(ReadOnlyMemory<byte> bytes, CancellationToken cancellationToken)
    {
        // A store that failed stops reading: surface its error instead of waiting on a full pipe forever.
        if (_put.IsFaulted)
        {
            return ValueTask.FromException(_put.Exception!.InnerException!);
        }

        return _buffer.WriteAsync(bytes, cancellationToken);
    }

    /// <summary>Ends the gzip stream and waits until the store has the whole object.</summary>
    public async Task<ObjectInfo> CompleteAsync(CancellationToken cancellationToken)
    {
        _finished = true;
        await _buffer.FlushAsync(cancellationToken);
        await _gzip.DisposeAsync(); // writes the gzip trailer
        await _pipe.Writer.CompleteAsync();
        return await _put;
    }

    /// <summary>Abandons the object: the store sees a failed stream and publishes nothing.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_finished)
        {
            return;
        }

        _finished = true;
        await _pipe.Writer.CompleteAsync(new OperationCanceledException("the export of this object was abandoned"));
        try
        {
            await _put;
        }
        catch (Exception)
        {
            // expected: the put fails because its input failed
        }

        try
        {
            await _gzip.DisposeAsync();
        }
        catch (InvalidOperationException)
        {
            // the pipe is already completed
        }
    }
}
