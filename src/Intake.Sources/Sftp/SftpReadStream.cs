using Intake.Core.Errors;

namespace Intake.Sources.Sftp;

/// <summary>
/// A forward-only stream over one remote file: pipelined SFTP reads, no temporary file, memory bounded by
/// the read-ahead window whatever the file size. Survives dropped connections by reconnecting and
/// continuing at the next undelivered byte, after checking the file is still the one it started reading.
/// </summary>
internal sealed class SftpReadStream : Stream
{
    /// <summary>
    /// 32 KiB is the read size every SFTP server must support (OpenSSH's own client uses it); 32 of them
    /// in flight keep a long-distance link busy (1 MiB per round trip) while bounding memory per download.
    /// </summary>
    public const uint DefaultChunkSize = 32 * 1024;

    private const int ReadAhead = 32;

    private readonly SftpSource _source;
    private readonly string _path;
    private readonly string _location;
    private readonly int _maxResumeAttempts;
    private readonly TimeProvider _time;
    private readonly LinkedList<PendingRead> _pending = new();
    private readonly uint _chunkSize;

    private SftpSession? _session;
    private byte[] _handle = [];
    private FileIdentity _identity;
    private SftpResponse? _chunk;
    private int _chunkOffset;
    private long _position;
    private long _requestOffset;
    private bool _eof;
    private int _resumeAttempts;
    private bool _disposed;

    public SftpReadStream(SftpSource source, string path, string location, int maxResumeAttempts, TimeProvider time, uint chunkSize = DefaultChunkSize)
    {
        _chunkSize = chunkSize;
        _source = source;
        _path = path;
        _location = location;
        _maxResumeAttempts = maxResumeAttempts;
        _time = time;
    }

    /// <summary>How many times the download reconnected and continued.</summary>
    public int Resumes { get; private set; }

    /// <summary>The current ssh process, for tests that cut the connection the way a network failure would.</summary>
    internal int ProcessId => _session?.ProcessId ?? throw new InvalidOperationException("not connected");

    public override bool CanRead => !_disposed;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => _position;
        set => throw new NotSupportedException();
    }

    /// <summary>Connects and opens the file.</summary>
    public async Task OpenAsync(CancellationToken cancellationToken)
    {
        var (session, handle, identity) = await OpenFileAsync(cancellationToken);
        _session = session;
        _handle = handle;
        _identity = identity;
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (buffer.IsEmpty)
        {
            return 0;
        }

        while (true)
        {
            if (_chunk is not null)
            {
                var data = _chunk.Data;
                var count = Math.Min(data.Length - _chunkOffset, buffer.Length);
                data.Slice(_chunkOffset, count).CopyTo(buffer);
                _chunkOffset += count;
                _position += count;
                if (_chunkOffset == data.Length)
                {
                    _chunk.Dispose();
                    _chunk = null;
                }

                return count;
            }

            if (_eof)
            {
                return 0;
            }

            try
            {
                await NextChunkAsync(cancellationToken);
            }
            catch (IntakeException ex) when (ex.IsTransient && _session is { IsBroken: true } && !cancellationToken.IsCancellationRequested)
            {
                await ResumeAsync(ex, cancellationToken);
            }
        }
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override int Read(byte[] buffer, int offset, int count) =>
        ReadAsync(buffer.AsMemory(offset, count), CancellationToken.None).AsTask().GetAwaiter().GetResult();

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    public override async ValueTask DisposeAsync()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        _chunk?.Dispose();
        _chunk = null;
        _pending.Clear();
        if (_session is not null)
        {
            // Ending the session closes the file on the server; replies still in flight are dropped with it.
            await _session.DisposeAsync();
            _session = null;
        }

        await base.DisposeAsync();
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            DisposeAsync().AsTask().GetAwaiter().GetResult();
        }

        base.Dispose(disposing);
    }

    /// <summary>Keeps the read-ahead window full and waits for the next chunk in file order.</summary>
    private async Task NextChunkAsync(CancellationToken cancellationToken)
    {
        var session = _session!;

        // Read ahead up to the size the file had when opened; beyond it, one request at a time until the
        // server says EOF, so a file that grew is still read to its end without flooding the server.
        // Topped up in batches once half the window is used: one write carries many requests.
        var topUp = _pending.Count <= ReadAhead / 2;
        while (topUp && _pending.Count < ReadAhead && (_requestOffset < _identity.Size || _pending.Count == 0))
        {
            QueueRead(session, _requestOffset, _chunkSize, atFront: false);
            _requestOffset += _chunkSize;
        }

        await session.FlushAsync(cancellationToken);
        var head = _pending.First!.Value;
        _pending.RemoveFirst();
        var response = await session.ReceiveAsync(head.Id, cancellationToken);
        if (response.Type == SftpProtocol.Data)
        {
            var length = response.Data.Length;
            if (length == 0 || length > head.Length || head.Offset != _position)
            {
                response.Dispose();
                session.Kill();
                throw IntakeException.Transient($"{_location}: the server answered a read of {head.Length} bytes at {head.Offset} with {length} bytes", null);
            }

            if (length < head.Length)
            {
                // A short read (a server with a smaller maximum, or the end of the file): ask for the rest
                // before anything else, so bytes are still delivered strictly in file order.
                QueueRead(session, head.Offset + length, head.Length - (uint)length, atFront: true);
            }

            _chunk = response;
            _chunkOffset = 0;
            return;
        }

        using (response)
        {
            if (response.Type == SftpProtocol.Status && SftpSession.ReadStatus(response) is var (status, message))
            {
                if (status == SftpStatus.Eof)
                {
                    _eof = true; // replies to reads further on are dropped with the session
                    return;
                }

                throw SshErrors.Status(status, message, "read", _location);
            }

            throw SftpSession.Unexpected(response, "read", _location);
        }
    }

    private void QueueRead(SftpSession session, long offset, uint length, bool atFront)
    {
        var handle = _handle;
        var id = session.Queue(SftpProtocol.Read, w =>
        {
            w.String(handle);
            w.UInt64((ulong)offset);
            w.UInt32(length);
        });
        var read = new PendingRead(id, offset, length);
        if (atFront)
        {
            _pending.AddFirst(read);
        }
        else
        {
            _pending.AddLast(read);
        }
    }

    /// <summary>
    /// Reconnects after the connection dropped and continues at <see cref="_position"/>. Resuming is safe
    /// only for the same content, so the file must still have the size and modification time it had
    /// when the download started.
    /// </summary>
    private async Task ResumeAsync(IntakeException dropped, CancellationToken cancellationToken)
    {
        await _session!.DisposeAsync();
        _session = null;
        _pending.Clear();

        var failure = dropped;
        while (_resumeAttempts < _maxResumeAttempts)
        {
            // The first attempt is immediate (a single dropped connection); later ones wait a little longer
            // each, for a server that is restarting.
            if (_resumeAttempts > 0)
            {
                await Task.Delay(TimeSpan.FromSeconds(_resumeAttempts), _time, cancellationToken);
            }

            _resumeAttempts++;
            SftpSession session;
            byte[] handle;
            FileIdentity identity;
            try
            {
                (session, handle, identity) = await OpenFileAsync(cancellationToken);
            }
            catch (IntakeException ex) when (ex.IsTransient)
            {
                failure = ex;
                continue;
            }

            if (identity != _identity)
            {
                await session.DisposeAsync();
                throw IntakeException.Integrity(
                    $"{_location}: the file changed on the server while it was downloaded (size {_identity.Size} → {identity.Size}, " +
                    $"modified {_identity.ModifiedUnixSeconds} → {identity.ModifiedUnixSeconds}); it must be read again from the start");
            }

            _session = session;
            _handle = handle;
            _requestOffset = _position;
            Resumes++;
            return;
        }

        throw IntakeException.Transient(
            $"{_location}: the download stopped at byte {_position} and could not be resumed after {_resumeAttempts} attempt(s): {failure.Message}",
            failure);
    }

    /// <summary>Connects, checks the path is a regular file (not a link, not a folder), opens it and reads its size and time.</summary>
    private async Task<(SftpSession Session, byte[] Handle, FileIdentity Identity)> OpenFileAsync(CancellationToken cancellationToken)
    {
        var session = await _source.ConnectAsync(cancellationToken);
        try
        {
            using (var stat = await session.RequestAsync(SftpProtocol.Lstat, w => w.String(_path), cancellationToken))
            {
                if (stat.Type != SftpProtocol.Attrs)
                {
                    throw SftpSession.Unexpected(stat, "stat", _location);
                }

                var attributes = stat.Attributes();
                if (attributes.IsSymbolicLink)
                {
                    // Listing never offers links; one here was swapped in after the listing.
                    throw IntakeException.Security($"{_location} is a symbolic link; links are not followed");
                }

                if (attributes.IsDirectory)
                {
                    throw new FileNotFoundException($"{_location} is a folder, not a file", _location);
                }

                if (attributes.Permissions is not null && !attributes.IsRegularFile)
                {
                    throw new FileNotFoundException($"{_location} is not a regular file", _location);
                }
            }

            byte[] handle;
            using (var opened = await session.RequestAsync(SftpProtocol.Open, w =>
            {
                w.String(_path);
                w.UInt32(SftpProtocol.OpenRead);
                w.UInt32(0); // no attributes
            }, cancellationToken))
            {
                if (opened.Type != SftpProtocol.Handle)
                {
                    throw SftpSession.Unexpected(opened, "open", _location);
                }

                handle = opened.Bytes();
            }

            // The attributes of what was actually opened (the path could have been replaced since the
            // LSTAT), to recognise the same file when resuming.
            FileIdentity identity;
            using (var stat = await session.RequestAsync(SftpProtocol.Fstat, w => w.String(handle), cancellationToken))
            {
                if (stat.Type != SftpProtocol.Attrs)
                {
                    throw SftpSession.Unexpected(stat, "stat", _location);
                }

                var attributes = stat.Attributes();
                identity = new FileIdentity(attributes.Size ?? long.MaxValue, attributes.ModifiedUnixSeconds ?? 0);
            }

            return (session, handle, identity);
        }
        catch
        {
            await session.DisposeAsync();
            throw;
        }
    }

    private readonly record struct PendingRead(uint Id, long Offset, uint Length);

    private readonly record struct FileIdentity(long Size, long ModifiedUnixSeconds);
}
