namespace Intake.Engine.Steps;

/// <summary>A read-only pass-through that counts bytes and reports progress at most every 4 MiB.</summary>
internal sealed class CountingStream : Stream
{
    private const long ReportEvery = 4 * 1024 * 1024;
    private readonly Stream _inner;
    private readonly Action<long>? _progress;
    private long _lastReported;

    public CountingStream(Stream inner, Action<long>? progress = null)
    {
        _inner = inner;
        _progress = progress;
    }

    public long BytesRead { get; private set; }

    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => _inner.Length;
    public override long Position { get => BytesRead; set => throw new NotSupportedException(); }

    public override int Read(byte[] buffer, int offset, int count) => Count(_inner.Read(buffer, offset, count));

    public override int Read(Span<byte> buffer) => Count(_inner.Read(buffer));

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
        Count(await _inner.ReadAsync(buffer, cancellationToken));

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    private int Count(int n)
    {
        BytesRead += n;
        if (_progress is not null && (BytesRead - _lastReported >= ReportEvery || n == 0))
        {
            _lastReported = BytesRead;
            _progress(BytesRead);
        }

        return n;
    }

    public override void Flush() { }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _inner.Dispose();
        }

        base.Dispose(disposing);
    }
}
