using Intake.Core.Errors;

namespace Intake.Sources.Ftp;

/// <summary>
/// A download that outlives its connections: on a transient failure it reconnects and continues with
/// REST at the current position, so the reader sees one uninterrupted stream of the file's bytes.
/// </summary>
/// <remarks>
/// Guarantees: the bytes returned are the file's bytes in order, each exactly once; the stream ends only
/// after exactly the expected size arrived and the server confirmed the last transfer; a file that
/// changes between attempts (size or MDTM) fails with Integrity instead of being spliced; a file that
/// disappears fails with <see cref="FileNotFoundException"/>; after the policy's retries it fails with a
/// transient error. Never a silent short stream.
/// </remarks>
internal sealed class FtpResumableReadStream : Stream
{
    private readonly FtpSource _source;
    private readonly string _key;
    private readonly long _expectedSize;
    private readonly FtpResumePolicy _policy;
    private readonly TimeProvider _time;
    private Stream? _current;
    private FtpSource.FileStamp? _stamp;
    private long _position;
    private int _failuresInARow;
    private bool _finished;
    private bool _disposed;

    public FtpResumableReadStream(FtpSource source, string key, long expectedSize, FtpResumePolicy policy, TimeProvider time)
    {
        _source = source;
        _key = key;
        _expectedSize = expectedSize;
        _policy = policy;
        _time = time;
    }

    /// <summary>Attempts made after a failure (for tests and logs).</summary>
    public int Resumes { get; private set; }

    public override bool CanRead => !_disposed;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    /// <summary>The expected size: known up front, which lets callers preallocate or show progress.</summary>
    public override long Length => _expectedSize;

    public override long Position
    {
        get => _position;
        set => throw new NotSupportedException();
    }

    /// <summary>Opens the first connection, so a missing file or a refused login surfaces at open time.</summary>
    public async Task OpenAsync(CancellationToken cancellationToken) => await ReadOrOpenAsync(Memory<byte>.Empty, openOnly: true, cancellationToken);

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        return _finished || buffer.IsEmpty ? ValueTask.FromResult(0) : new ValueTask<int>(ReadOrOpenAsync(buffer, openOnly: false, cancellationToken));
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    private async Task<int> ReadOrOpenAsync(Memory<byte> buffer, bool openOnly, CancellationToken ct)
    {
        while (true)
        {
            try
            {
                if (_current is null)
                {
                    var (stream, stamp) = await _source.OpenSessionAsync(_key, _position, _expectedSize, _stamp, ct);
                    _current = stream;
                    _stamp ??= stamp;
                }

                if (openOnly)
                {
                    return 0;
                }

                // The inner stream checks the size: more than expected is Integrity, fewer at its end Transient.
                var n = await _current.ReadAsync(buffer, ct);
                if (n > 0)
                {
                    _position += n;
                    _failuresInARow = 0; // progress: the link works, only not for long
                    return n;
                }

                if (_position != _expectedSize)
                {
                    // Only reachable when the server does not support SIZE and confirmed a different length.
                    throw IntakeException.Integrity($"{_source.Describe(_key)}: {_position} bytes arrived, {_expectedSize} were expected");
                }

                _finished = true;
                await DropCurrentAsync();
                return 0;
            }
            catch (IntakeException e) when (e.IsTransient)
            {
                await DropCurrentAsync();
                _failuresInARow++;
                if (_failuresInARow > _policy.MaxRetries)
                {
                    throw FtpClient.Network(
                        $"{_source.Describe(_key)}: download given up at byte {_position} of {_expectedSize} after {_failuresInARow} failed attempts in a row: {e.Message}", e);
                }

                Resumes++;
                var delay = _policy.DelayFor(_failuresInARow);
                if (delay > TimeSpan.Zero)
                {
                    await Task.Delay(delay, _time, ct);
                }
            }
        }
    }

    private async Task DropCurrentAsync()
    {
        if (_current is { } current)
        {
            _current = null;
            await current.DisposeAsync();
        }
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing && !_disposed)
        {
            _disposed = true;
            _current?.Dispose();
            _current = null;
        }

        base.Dispose(disposing);
    }

    public override async ValueTask DisposeAsync()
    {
        if (!_disposed)
        {
            _disposed = true;
            await DropCurrentAsync();
        }

        await base.DisposeAsync();
    }
}
