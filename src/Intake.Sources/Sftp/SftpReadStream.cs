using Intake.Core.Errors;
using Renci.SshNet.Sftp;

namespace Intake.Sources.Sftp;

/// <summary>
/// A forward-only stream over one remote file (SSH.NET's <see cref="SftpFileStream"/>, which reads ahead), that
/// survives dropped connections: it reconnects, checks the file is still the one it started reading, opens it
/// again and seeks to the next undelivered byte.
/// </summary>
internal sealed class SftpReadStream : Stream
{
    private readonly SftpSource _source;
    private readonly string _key;
    private readonly string _path;
    private readonly string _location;
    private readonly int _maxResumeAttempts;
    private readonly TimeProvider _time;

    private SftpConnection? _connection;
    private SftpFileStream? _file;
    private FileIdentity _identity;
    private long _position;
    private int _resumeAttempts;
    private bool _disposed;

    public SftpReadStream(SftpSource source, string key, string location, int maxResumeAttempts, TimeProvider time)
    {
        _source = source;
        _key = key;
        _path = source.RemotePath(key);
        _location = location;
        _maxResumeAttempts = maxResumeAttempts;
        _time = time;
    }

    /// <summary>How many times the download reconnected and continued.</summary>
    public int Resumes { get; private set; }

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
        (_connection, _file, _identity) = await OpenFileAsync(cancellationToken);
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
            IntakeException? dropped;
            try
            {
                var read = await _file!.ReadAsync(buffer, cancellationToken);
                if (read > 0 || _position >= _identity.Size)
                {
                    _position += read;
                    return read;
                }

                // The end before the size the file had when opened: a channel closed under the read looks like
                // this too. Only reading again on a new connection tells a shrunk file (Integrity) from a drop.
                dropped = IntakeException.Transient($"{_location}: the read ended at byte {_position} of {_identity.Size}");
            }
            catch (Exception ex) when (!cancellationToken.IsCancellationRequested && SftpConnection.IsConnectionLoss(ex))
            {
                dropped = IntakeException.Transient($"sftp {_source.Target}: connection lost reading {_location} at byte {_position}: {ex.Message}", ex);
            }
            catch (Exception ex) when (!cancellationToken.IsCancellationRequested && _connection!.Failure(ex, "read", _location) is { } failure)
            {
                throw failure;
            }

            await ResumeAsync(dropped, cancellationToken);
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
        await CloseAsync();
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

    private async Task CloseAsync()
    {
        if (_file is not null)
        {
            try
            {
                await _file.DisposeAsync();
            }
            catch (Exception ex) when (SftpConnection.IsConnectionLoss(ex) || ex is Renci.SshNet.Common.SftpException)
            {
                // closing the handle on a broken connection: the server drops it with the session
            }

            _file = null;
        }

        _connection?.Dispose();
        _connection = null;
    }

    /// <summary>
    /// Reconnects after the connection dropped and continues at <see cref="_position"/>. Resuming is safe only for
    /// the same content, so the file must still have the size and modification time it had when the download started.
    /// </summary>
    private async Task ResumeAsync(IntakeException dropped, CancellationToken cancellationToken)
    {
        await CloseAsync();

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
            SftpConnection connection;
            SftpFileStream file;
            FileIdentity identity;
            try
            {
                (connection, file, identity) = await OpenFileAsync(cancellationToken);
            }
            catch (IntakeException ex) when (ex.IsTransient)
            {
                failure = ex;
                continue;
            }

            if (identity != _identity)
            {
                await file.DisposeAsync();
                connection.Dispose();
                throw IntakeException.Integrity(
                    $"{_location}: the file changed on the server while it was downloaded (size {_identity.Size} → {identity.Size}, " +
                    $"modified {_identity.Modified:O} → {identity.Modified:O}); it must be read again from the start");
            }

            // The bytes already delivered stay delivered: the new handle starts at the next one.
            file.Seek(_position, SeekOrigin.Begin);
            (_connection, _file) = (connection, file);
            Resumes++;
            return;
        }

        throw IntakeException.Transient(
            $"{_location}: the download stopped at byte {_position} and could not be resumed after {_resumeAttempts} attempt(s): {failure.Message}",
            failure);
    }

    /// <summary>Connects, checks the path is a regular file reached without a link, opens it and notes its size and time.</summary>
    private async Task<(SftpConnection Connection, SftpFileStream File, FileIdentity Identity)> OpenFileAsync(CancellationToken cancellationToken)
    {
        var connection = await _source.ConnectAsync(cancellationToken);
        try
        {
            var file = await _source.StatAsync(connection, _key, _path, _location, "open", cancellationToken);
            if (file.IsDirectory)
            {
                throw new FileNotFoundException($"{_location} is a folder, not a file", _location);
            }

            if (!file.IsRegularFile)
            {
                throw new FileNotFoundException($"{_location} is not a regular file", _location);
            }

            SftpFileStream stream;
            try
            {
                stream = await connection.Client.OpenAsync(_path, FileMode.Open, FileAccess.Read, cancellationToken);
            }
            catch (Exception ex) when (connection.Failure(ex, "open", _location) is { } failure)
            {
                throw failure;
            }

            return (connection, stream, new FileIdentity(file.Length, SftpSource.Modified(file.Attributes)));
        }
        catch
        {
            connection.Dispose();
            throw;
        }
    }

    private readonly record struct FileIdentity(long Size, DateTimeOffset Modified);
}
