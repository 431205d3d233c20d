using System.Globalization;
using Intake.Core.Errors;

namespace Intake.Sources.Ftp;

/// <summary>
/// The bytes of one RETR, read straight from the data connection (no buffering beyond the caller's).
/// Its end is earned, not assumed: reading returns 0 only after the server confirmed the transfer
/// (226) and, when the size is known, exactly that many bytes arrived. Anything else throws, so a cut
/// connection can never pass for a complete, shorter file.
/// </summary>
internal sealed class FtpDownloadStream : Stream
{
    private readonly FtpClient _client;
    private readonly FtpClient.Transfer _transfer;
    private readonly string _path;
    private readonly long? _expectedSize;
    private readonly bool _ownsClient;
    private long _position;
    private long _skip;
    private bool _finished;
    private bool _disposed;

    public FtpDownloadStream(FtpClient client, FtpClient.Transfer transfer, string path, long offset, long? expectedSize, long skip, bool ownsClient)
    {
        _client = client;
        _transfer = transfer;
        _path = path;
        _position = offset;
        _expectedSize = expectedSize;
        _skip = skip;
        _ownsClient = ownsClient;
    }

    public override bool CanRead => !_disposed;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => throw new NotSupportedException();

    /// <summary>The offset in the file of the next byte to read.</summary>
    public override long Position
    {
        get => _position;
        set => throw new NotSupportedException();
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_finished || buffer.IsEmpty)
        {
            return 0;
        }

        if (_skip > 0)
        {
            await SkipAsync(cancellationToken);
        }

        var n = await ReadDataAsync(buffer, cancellationToken);
        if (n > 0)
        {
            _position += n;
            if (_position > _expectedSize)
            {
                Abort();
                throw IntakeException.Integrity(
                    $"{_client.Endpoint}{_path}: more than the expected {_expectedSize} bytes arrived: the file changed on the server during the download");
            }

            return n;
        }

        await FinishAsync(cancellationToken);
        return 0;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        // Synchronous callers get the same checks; the bytes go through a rented buffer.
        var rented = System.Buffers.ArrayPool<byte>.Shared.Rent(buffer.Length);
        try
        {
            var n = ReadAsync(rented.AsMemory(0, buffer.Length)).AsTask().GetAwaiter().GetResult();
            rented.AsSpan(0, n).CopyTo(buffer);
            return n;
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(rented);
        }
    }

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    private async Task SkipAsync(CancellationToken ct)
    {
        // The server refused REST: the transfer began at byte 0; drop what the caller already has.
        var scratch = new byte[(int)Math.Min(_skip, 64 * 1024)];
        while (_skip > 0)
        {
            var n = await ReadDataAsync(scratch.AsMemory(0, (int)Math.Min(_skip, scratch.Length)), ct);
            if (n == 0)
            {
                await FinishAsync(ct); // throws: short, or the server failed the transfer
                throw FtpClient.Network($"{_client.Endpoint}{_path}: the file ended before byte {_position}");
            }

            _skip -= n;
        }
    }

    private Task<int> ReadDataAsync(Memory<byte> buffer, CancellationToken ct) =>
        _client.IoAsync(
            string.Create(CultureInfo.InvariantCulture, $"downloading {_path} at byte {_position}"),
            t => _transfer.Stream.ReadAsync(buffer, t),
            ct);

    private async Task FinishAsync(CancellationToken ct)
    {
        // Guarantee: 0 is returned only after a clean data close, a 2xx final reply, and the full size.
        await _transfer.CloseAsync();
        await _client.FinishTransferAsync("RETR " + _path, ct);
        if (_position < _expectedSize)
        {
            throw FtpClient.Network(
                $"{_client.Endpoint}{_path}: the transfer ended after {_position} of {_expectedSize} bytes");
        }

        _finished = true;
    }

    private void Abort()
    {
        _transfer.Dispose();
        _client.Break();
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing && !_disposed)
        {
            _disposed = true;
            if (!_finished)
            {
                _transfer.Dispose();
                _client.AbandonTransfer();
            }

            if (_ownsClient)
            {
                _client.Dispose();
            }
        }

        base.Dispose(disposing);
    }

    public override async ValueTask DisposeAsync()
    {
        if (!_disposed)
        {
            _disposed = true;
            if (!_finished)
            {
                _transfer.Dispose();
                _client.AbandonTransfer();
            }

            if (_ownsClient && _finished)
            {
                await _client.DisposeAsync(); // QUIT: the server logs a clean end
            }
            else if (_ownsClient)
            {
                _client.Dispose(); // abandoned or failed: waiting for the server's word on it helps nobody
            }
        }

        await base.DisposeAsync();
    }
}
