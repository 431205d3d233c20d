using System.Buffers;
using System.Threading.Channels;

namespace Intake.Engine.Steps;

/// <summary>
/// Reads its inner stream on another thread, a few blocks ahead of the caller, so that decompressing an original
/// overlaps with parsing and copying it (what a <c>gzip -dc |</c> pipe gives psql). Memory is bounded: at most
/// <see cref="Blocks"/> blocks of <see cref="BlockSize"/> bytes, rented from the shared pool and returned once read
/// (fresh arrays of this size would land on the large-object heap and only be freed by full collections). The inner
/// stream's errors reach the caller at the read that would have met them. Disposing stops the reader after the read
/// it is in (never inside one) and waits for it, so the inner stream is idle and intact after.
/// </summary>
/// <remarks>
/// The reader keeps its own task; the caller's side is <see cref="ReadAsync(Memory{byte}, CancellationToken)"/>, which
/// copies out of the current block synchronously and awaits only for the next block, and <see cref="DisposeAsync"/>,
/// which awaits the reader. The synchronous <see cref="Read(Span{byte})"/> and <see cref="Stream.Dispose()"/> are there
/// for <see cref="Stream"/>'s contract and block a thread instead; the load does not use them.
/// </remarks>
internal sealed class ReadAheadStream : Stream
{
    private const int BlockSize = 256 * 1024;
    private const int Blocks = 4;
    private readonly Stream _inner;
    private readonly Channel<(byte[] Buffer, int Count)> _filled = Channel.CreateBounded<(byte[], int)>(Blocks);
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _reader;
    private byte[]? _current;
    private int _offset;
    private int _count;
    private bool _disposed;

    private readonly CancellationToken _abandon;

    /// <param name="inner">The stream to read ahead.</param>
    /// <param name="abandon">
    /// Cancels a read of the inner stream in the middle: only for when its owner gives it up altogether (the load is
    /// cancelled), since the inner stream is not usable after.
    /// </param>
    public ReadAheadStream(Stream inner, CancellationToken abandon = default)
    {
        _inner = inner;
        _abandon = abandon;
        _reader = Task.Run(ReadAsync, CancellationToken.None); // the reader itself completes the channel, cancelled or not
    }

    private async Task ReadAsync()
    {
        try
        {
            while (true)
            {
                var buffer = ArrayPool<byte>.Shared.Rent(BlockSize);
                int n;
                try
                {
                    // Not stopped in the middle by Dispose: a decoder stopped inside a read is left in an undefined
                    // state, and the expander reads on from here (to check the rest of the entry) once this stream is
                    // disposed. Only abandoning the whole load cancels a read.
                    n = await _inner.ReadAtLeastAsync(buffer.AsMemory(0, BlockSize), BlockSize, throwOnEndOfStream: false, _abandon);
                    if (n > 0)
                    {
                        await _filled.Writer.WriteAsync((buffer, n), _stop.Token);
                        buffer = null;
                    }
                }
                finally
                {
                    if (buffer is not null)
                    {
                        ArrayPool<byte>.Shared.Return(buffer);
                    }
                }

                if (n < BlockSize || _stop.IsCancellationRequested)
                {
                    break;
                }
            }

            _filled.Writer.TryComplete();
        }
        catch (Exception e)
        {
            // The caller meets the inner stream's error (a truncated archive, a bomb) at its next read.
            _filled.Writer.TryComplete(e);
        }
    }

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
        _current is not null && _offset < _count ? new ValueTask<int>(Take(buffer.Span)) : ReadNextAsync(buffer, cancellationToken);

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    private async ValueTask<int> ReadNextAsync(Memory<byte> buffer, CancellationToken cancellationToken)
    {
        Release();
        var reader = _filled.Reader;
        (byte[] Buffer, int Count) block;
        while (!reader.TryRead(out block))
        {
            // Completed with an error: WaitToReadAsync throws it (the inner stream's own exception).
            if (!await reader.WaitToReadAsync(cancellationToken))
            {
                return 0;
            }
        }

        (_current, _count) = block;
        _offset = 0;
        return Take(buffer.Span);
    }

    public override int Read(Span<byte> buffer)
    {
        if (_current is null || _offset == _count)
        {
            if (!Next())
            {
                return 0;
            }
        }

        return Take(buffer);
    }

    private int Take(Span<byte> buffer)
    {
        var n = Math.Min(buffer.Length, _count - _offset);
        _current.AsSpan(_offset, n).CopyTo(buffer);
        _offset += n;
        return n;
    }

    // Blocks: only for a synchronous caller (see the remarks).
    private bool Next()
    {
        Release();
        var reader = _filled.Reader;
        (byte[] Buffer, int Count) block;
        while (!reader.TryRead(out block))
        {
            if (!reader.WaitToReadAsync().AsTask().GetAwaiter().GetResult())
            {
                return false;
            }
        }

        (_current, _count) = block;
        _offset = 0;
        return true;
    }

    private void Release()
    {
        if (_current is not null)
        {
            ArrayPool<byte>.Shared.Return(_current);
            _current = null;
        }
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override async ValueTask DisposeAsync()
    {
        if (!_disposed)
        {
            _stop.Cancel();
            try
            {
                await _reader;
            }
            catch (OperationCanceledException)
            {
                // stopped early: the caller did not want the rest
            }
        }

        await base.DisposeAsync(); // Dispose(true), which finds the reader ended and does not block
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing && !_disposed)
        {
            _disposed = true;
            _stop.Cancel();
            try
            {
                _reader.GetAwaiter().GetResult(); // blocks, unless DisposeAsync awaited the reader first
            }
            catch (OperationCanceledException)
            {
                // stopped early: the caller did not want the rest
            }

            Release();
            while (_filled.Reader.TryRead(out var left))
            {
                ArrayPool<byte>.Shared.Return(left.Buffer);
            }

            _stop.Dispose();
        }

        base.Dispose(disposing);
    }

    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override void Flush() { }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
