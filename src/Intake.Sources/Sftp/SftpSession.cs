using System.Buffers;
using System.Buffers.Binary;
using System.ComponentModel;
using System.Diagnostics;
using System.Text;
using Intake.Core.Errors;

namespace Intake.Sources.Sftp;

/// <summary>
/// One SFTP conversation over one <c>ssh -s HOST sftp</c> process: the OpenSSH client does the network,
/// encryption, key authentication and host key checking; this class speaks SFTP over the process's
/// stdin and stdout. Requests may be pipelined; replies are matched by id.
/// </summary>
/// <remarks>
/// Not thread-safe: one session serves one listing or one download at a time. The server side needs no
/// shell (OpenSSH's <c>internal-sftp</c> runs inside sshd), so accounts with a nologin shell or a chroot
/// work. Any failure of the transport marks the session <see cref="IsBroken"/>; it is then only disposed.
/// </remarks>
internal sealed class SftpSession : IAsyncDisposable
{
    private const int StderrLimit = 16 * 1024;

    private readonly Process _process;
    private readonly Stream _input;
    private readonly Stream _output;
    private readonly StringBuilder _stderr = new();
    private readonly Task _stderrPump;
    private readonly SftpPacketWriter _writer = new();
    private readonly Dictionary<uint, SftpResponse> _early = [];
    private readonly byte[] _header = new byte[13];
    private readonly TimeProvider _time;
    private readonly string _target;
    private uint _nextId;
    private int _disposed;

    private SftpSession(Process process, TimeProvider time, string target)
    {
        _process = process;
        _time = time;
        _target = target;
        _input = process.StandardInput.BaseStream;
        // Buffered: every reply is read as a small header and then its body, which would otherwise be
        // several system calls per 32 KiB chunk.
        _output = new BufferedStream(process.StandardOutput.BaseStream, 64 * 1024);
        _stderrPump = PumpStderrAsync(process.StandardError);
    }

    /// <summary>True once the transport failed; the session can then only be disposed.</summary>
    public bool IsBroken { get; private set; }

    /// <summary>The ssh process, for tests that cut the connection the way a network failure would.</summary>
    internal int ProcessId => _process.Id;

    /// <summary>
    /// Starts ssh and completes the SFTP version exchange, which succeeds only after the TCP connection,
    /// host key check and authentication did.
    /// </summary>
    /// <exception cref="IntakeException">Classified from ssh's message: Transient (network), Config
    /// (authentication, key, missing ssh), Security (host key).</exception>
    public static async Task<SftpSession> OpenAsync(ProcessStartInfo start, SshContext context, TimeProvider time, CancellationToken cancellationToken)
    {
        Process process;
        try
        {
            process = Process.Start(start) ?? throw new InvalidOperationException("no process");
        }
        catch (Win32Exception ex)
        {
            throw IntakeException.Config(
                $"sftp {context.Target}: cannot run '{start.FileName}' ({ex.Message}); the SFTP source drives the OpenSSH client: install it (Debian/Ubuntu: apt-get install openssh-client) so it is on PATH",
                ex);
        }

        var session = new SftpSession(process, time, context.Target);
        try
        {
            // ConnectTimeout bounds ssh's TCP connect and banner; this bounds everything up to a working
            // SFTP channel (a server that accepts and then stalls during authentication), with slack so
            // ssh's own, more precise message usually wins.
            using var timeout = new CancellationTokenSource(context.ConnectTimeout + TimeSpan.FromSeconds(10), time);
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
            try
            {
                session._writer.Clear();
                session._writer.Begin(SftpProtocol.Init, id: null);
                session._writer.UInt32(SftpProtocol.Version);
                session._writer.End();

                // Written directly, not through FlushAsync: if ssh already gave up, the failure must be
                // classified from its message below, not reported as a lost connection.
                await session._input.WriteAsync(session._writer.Pending, linked.Token);
                await session._input.FlushAsync(linked.Token);
                session._writer.Clear();
                using var version = await session.ReceiveAnyAsync(linked.Token);
                if (version.Type != SftpProtocol.VersionReply)
                {
                    throw new SftpProtocolException($"the server answered the SFTP greeting with message type {version.Type}");
                }

                return session;
            }
            catch (Exception ex) when (ex is IOException or ObjectDisposedException or SftpProtocolException or OperationCanceledException)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var stderr = await session.StopAndReadStderrAsync();
                if (timeout.IsCancellationRequested)
                {
                    throw IntakeException.Transient($"sftp {context.Target}: no working SFTP channel within {context.ConnectTimeout.TotalSeconds:0.#} s (+10 s); ssh: {stderr.Trim()}", ex);
                }

                if (ex is SftpProtocolException && stderr.Trim().Length == 0)
                {
                    throw IntakeException.Config(
                        $"sftp {context.Target}: the server's sftp channel does not speak SFTP ({ex.Message}); a login script that prints text, or a shell instead of an sftp server, is the usual cause",
                        ex);
                }

                throw SshErrors.Classify(stderr, context.Target, context.User, context.KeyFile);
            }
        }
        catch
        {
            await session.DisposeAsync();
            throw;
        }
    }

    /// <summary>Queues a request (sent by the next <see cref="FlushAsync"/>) and returns its id.</summary>
    public uint Queue(byte type, Action<SftpPacketWriter> body)
    {
        var id = unchecked(++_nextId);
        _writer.Begin(type, id);
        body(_writer);
        _writer.End();
        return id;
    }

    /// <summary>Sends every queued request.</summary>
    public async Task FlushAsync(CancellationToken cancellationToken)
    {
        if (_writer.Pending.Length == 0)
        {
            return;
        }

        try
        {
            await using var kill = cancellationToken.Register(static s => ((SftpSession)s!).Kill(), this);
            await _input.WriteAsync(_writer.Pending, cancellationToken);
            await _input.FlushAsync(cancellationToken);
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or OperationCanceledException)
        {
            // Whatever was half-written makes the channel unusable, cancelled or not.
            IsBroken = true;
            cancellationToken.ThrowIfCancellationRequested();
            throw SshErrors.ConnectionLost(await StopAndReadStderrAsync(), _target, ex);
        }
        finally
        {
            _writer.Clear();
        }
    }

    /// <summary>Sends one request and waits for its reply.</summary>
    public async Task<SftpResponse> RequestAsync(byte type, Action<SftpPacketWriter> body, CancellationToken cancellationToken)
    {
        var id = Queue(type, body);
        await FlushAsync(cancellationToken);
        return await ReceiveAsync(id, cancellationToken);
    }

    /// <summary>Waits for the reply to request <paramref name="id"/>, keeping replies to other requests for later.</summary>
    public async Task<SftpResponse> ReceiveAsync(uint id, CancellationToken cancellationToken)
    {
        if (_early.Remove(id, out var kept))
        {
            return kept;
        }

        try
        {
            while (true)
            {
                var response = await ReceiveAnyAsync(cancellationToken);
                if (response.Id == id)
                {
                    return response;
                }

                if (!_early.TryAdd(response.Id, response))
                {
                    response.Dispose();
                    throw new SftpProtocolException($"two replies to request {response.Id}");
                }
            }
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or SftpProtocolException or OperationCanceledException)
        {
            // A reply read halfway leaves the channel out of step: nothing more can be read from it.
            IsBroken = true;
            cancellationToken.ThrowIfCancellationRequested();
            var stderr = await StopAndReadStderrAsync();
            if (ex is SftpProtocolException)
            {
                throw IntakeException.Transient($"sftp {_target}: malformed reply from the server ({ex.Message})", ex);
            }

            throw SshErrors.ConnectionLost(stderr, _target, ex);
        }
    }

    /// <summary>Throws the exception for a STATUS reply that is not OK (or for an unexpected reply type).</summary>
    public static Exception Unexpected(SftpResponse response, string operation, string location)
    {
        if (response.Type != SftpProtocol.Status)
        {
            return IntakeException.Transient($"{location}: unexpected reply type {response.Type} to {operation}");
        }

        var (status, message) = ReadStatus(response);
        return SshErrors.Status(status, message, operation, location);
    }

    /// <summary>Reads the code and message of a STATUS reply.</summary>
    public static (SftpStatus Status, string Message) ReadStatus(SftpResponse response)
    {
        var code = (SftpStatus)response.UInt32();
        string message;
        try
        {
            message = response.Text();
        }
        catch (SftpProtocolException)
        {
            message = ""; // some servers omit the message and language fields
        }

        return (code, message);
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        foreach (var response in _early.Values)
        {
            response.Dispose();
        }

        _early.Clear();
        await StopAndReadStderrAsync();
        _process.Dispose();
    }

    /// <summary>Ends the ssh process for good (cancellation, or a test cutting the connection).</summary>
    internal void Kill()
    {
        IsBroken = true;
        try
        {
            _process.Kill();
        }
        catch (InvalidOperationException)
        {
            // already exited
        }
        catch (Win32Exception)
        {
            // exiting right now
        }
    }

    private async Task<SftpResponse> ReceiveAnyAsync(CancellationToken cancellationToken)
    {
        await using var kill = cancellationToken.Register(static s => ((SftpSession)s!).Kill(), this);

        // Header: uint32 length, byte type, uint32 id (VERSION has a version number where the id would be).
        await ReadExactAsync(_header.AsMemory(0, 9), cancellationToken);
        var length = BinaryPrimitives.ReadUInt32BigEndian(_header);
        var type = _header[4];
        var id = BinaryPrimitives.ReadUInt32BigEndian(_header.AsSpan(5));
        if (length is < 5 or > SftpProtocol.MaxPacketLength)
        {
            throw new SftpProtocolException($"a reply claims {length} bytes");
        }

        var bodyLength = (int)length - 5;
        if (type == SftpProtocol.Data)
        {
            // DATA: keep only the file bytes, so a pooled buffer of the chunk size holds it.
            if (bodyLength < 4)
            {
                throw new SftpProtocolException("a DATA reply has no length");
            }

            await ReadExactAsync(_header.AsMemory(9, 4), cancellationToken);
            var dataLength = BinaryPrimitives.ReadUInt32BigEndian(_header.AsSpan(9));
            if (dataLength != bodyLength - 4)
            {
                throw new SftpProtocolException($"a DATA reply of {bodyLength} bytes claims {dataLength} bytes of data");
            }

            bodyLength = (int)dataLength;
        }

        var body = bodyLength == 0 ? [] : ArrayPool<byte>.Shared.Rent(bodyLength);
        try
        {
            await ReadExactAsync(body.AsMemory(0, bodyLength), cancellationToken);
        }
        catch
        {
            if (body.Length > 0)
            {
                ArrayPool<byte>.Shared.Return(body);
            }

            throw;
        }

        return new SftpResponse(type, id, body, bodyLength);
    }

    private async Task ReadExactAsync(Memory<byte> buffer, CancellationToken cancellationToken)
    {
        try
        {
            await _output.ReadExactlyAsync(buffer, cancellationToken);
        }
        catch (EndOfStreamException ex)
        {
            throw new IOException("the ssh process closed the channel", ex);
        }
    }

    /// <summary>
    /// Ends ssh (gently: closing its stdin ends the SFTP channel; killed if it does not exit soon) and
    /// returns everything it wrote to stderr.
    /// </summary>
    private async Task<string> StopAndReadStderrAsync()
    {
        try
        {
            _process.StandardInput.Close();
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException)
        {
            // the pipe is already broken: ssh is gone
        }

        // Replies still in flight (a download abandoned part-way) must be read and dropped: until they
        // are, ssh cannot write them out, the server cannot finish, and ssh would not exit.
        var drain = DrainOutputAsync();
        using (var grace = new CancellationTokenSource(TimeSpan.FromSeconds(5), _time))
        {
            try
            {
                await _process.WaitForExitAsync(grace.Token);
            }
            catch (OperationCanceledException)
            {
                Kill();
                await _process.WaitForExitAsync(CancellationToken.None);
            }
        }

        // stdout and stderr reach their end once ssh has exited; the drain and the pump then complete.
        await drain;
        await _stderrPump;
        lock (_stderr)
        {
            return _stderr.ToString();
        }
    }

    private async Task DrainOutputAsync()
    {
        try
        {
            await _output.CopyToAsync(Stream.Null);
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException)
        {
            // the pipe broke with the process: nothing left to drop
        }
    }

    private async Task PumpStderrAsync(StreamReader reader)
    {
        var buffer = new char[1024];
        try
        {
            int read;
            while ((read = await reader.ReadAsync(buffer)) > 0)
            {
                lock (_stderr)
                {
                    // Keep the first part: ssh's reason comes first, repeats and noise follow.
                    if (_stderr.Length < StderrLimit)
                    {
                        _stderr.Append(buffer, 0, Math.Min(read, StderrLimit - _stderr.Length));
                    }
                }
            }
        }
        catch (IOException)
        {
            // the pipe broke with the process: what was read so far is what there is
        }
        catch (ObjectDisposedException)
        {
        }
    }
}

/// <summary>What error messages need to name: where, who, which key, and how long connecting may take.</summary>
internal sealed record SshContext(string Target, string User, string KeyFile, TimeSpan ConnectTimeout);
