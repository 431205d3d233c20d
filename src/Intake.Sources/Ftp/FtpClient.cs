using System.Globalization;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Text;
using Intake.Core.Errors;

namespace Intake.Sources.Ftp;

/// <summary>
/// A small FTP and explicit-FTPS client (RFC 959, 2228, 2428, 3659, 4217): one logged-in control
/// connection, passive data connections, binary transfers. Written over sockets and
/// <see cref="SslStream"/> because no FTP client package is available here and <c>FtpWebRequest</c> is
/// obsolete and hangs on FTPS downloads.
/// </summary>
/// <remarks>
/// <para>
/// Failures are classified where they happen: a refused, reset or silent connection and every 4xx reply
/// are <see cref="ErrorKind.Transient"/>; a refused
/// login, a refused TLS upgrade or an untrusted certificate are <see cref="ErrorKind.Config"/>; a 550 on a
/// file is a <see cref="FileNotFoundException"/>; other 5xx replies are <see cref="ErrorKind.Format"/>
/// (the server does not speak the protocol as expected) or Config. The password never appears in a message.
/// </para>
/// <para>
/// After a network failure or a timeout the client is unusable (the state of the conversation is
/// unknown): connect again. One command at a time; while a download stream is open the connection
/// belongs to it. Not thread-safe.
/// </para>
/// <para>
/// Data connections are always passive (EPSV, or PASV when the server refuses EPSV) and always go to the
/// address of the control connection: the address in a PASV reply is ignored, because servers behind
/// NAT announce private or 0.0.0.0 addresses, and obeying it would let a server point us elsewhere.
/// </para>
/// </remarks>
public sealed class FtpClient : IAsyncDisposable, IDisposable
{
    private readonly FtpClientOptions _options;
    private readonly TimeProvider _time;
    private readonly FtpCertificateValidator _validator;
    private readonly Socket _socket;
    private readonly IPAddress _peer;
    private readonly FtpLineReader _control;
    private FtpLineReader? _listingLines;
    private Stream _stream;
    private Dictionary<string, string> _features = new(StringComparer.OrdinalIgnoreCase);
    private bool _useEpsv;
    private bool _useMlsd;
    private bool _broken;
    private bool _disposed;
    private bool _transferOpen;
    private bool _finalReplyPending;

    private FtpClient(FtpClientOptions options, TimeProvider time, FtpCertificateValidator validator, Socket socket)
    {
        _options = options;
        _time = time;
        _validator = validator;
        _socket = socket;
        // The control socket is dual-mode, so an IPv4 server shows as ::ffff:a.b.c.d; data sockets are
        // created for the peer's real family.
        var peer = ((IPEndPoint)socket.RemoteEndPoint!).Address;
        _peer = peer.IsIPv4MappedToIPv6 ? peer.MapToIPv4() : peer;
        _stream = new NetworkStream(socket, ownsSocket: false);
        _control = new FtpLineReader(_stream.ReadAsync);
        _useEpsv = options.UseEpsv;
        _useMlsd = options.UseMlsd;
    }

    /// <summary>The server's FEAT answer: feature keyword (upper case) to its parameters.</summary>
    public IReadOnlyDictionary<string, string> Features => _features;

    /// <summary>True when control and data connections are encrypted.</summary>
    public bool IsEncrypted => _stream is SslStream;

    /// <summary>Where the server is, for messages (never the password).</summary>
    public string Endpoint => _options.Endpoint;

    /// <summary>
    /// Connects, upgrades to TLS when configured (<c>AUTH TLS</c>, then <c>PBSZ 0</c> and <c>PROT P</c> after
    /// login), logs in, reads the features and switches to binary mode.
    /// </summary>
    /// <param name="options">Server, credentials, TLS and timeouts; validated here.</param>
    /// <param name="time">The clock LIST lines (which leave out the year) are read against.</param>
    /// <param name="cancellationToken">Cancels the attempt.</param>
    /// <exception cref="IntakeException">Transient when the server cannot be reached or answers 4xx; Config for a refused login or TLS.</exception>
    public static async Task<FtpClient> ConnectAsync(FtpClientOptions options, TimeProvider time, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(time);
        options.Validate();
        var validator = new FtpCertificateValidator(options);

        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(options.ConnectTimeout);
            await socket.ConnectAsync(new DnsEndPoint(options.Host, options.Port), timeout.Token);
        }
        catch (OperationCanceledException e) when (!cancellationToken.IsCancellationRequested)
        {
            socket.Dispose();
            throw Network($"{options.Endpoint}: cannot connect: no answer within {Seconds(options.ConnectTimeout)}", e);
        }
        catch (SocketException e)
        {
            socket.Dispose();
            throw Network($"{options.Endpoint}: cannot connect: {Describe(e)}", e);
        }
        catch
        {
            socket.Dispose();
            throw;
        }

        var client = new FtpClient(options, time, validator, socket);
        try
        {
            await client.LogInAsync(cancellationToken);
            return client;
        }
        catch
        {
            client.Dispose();
            throw;
        }
    }

    /// <summary>The current folder (PWD) as an absolute path; what relative paths are resolved against.</summary>
    public async Task<string> GetWorkingDirectoryAsync(CancellationToken cancellationToken)
    {
        var reply = await CommandAsync("PWD", cancellationToken);
        if (reply.Code != 257 || FtpParsing.ParsePwd(reply.Text) is not { Length: > 0 } path)
        {
            throw Unexpected("PWD", reply, ErrorKind.Format);
        }

        return path;
    }

    /// <summary>
    /// Lists one folder: with MLSD when the server offers it (and <see cref="FtpClientOptions.UseMlsd"/>),
    /// otherwise with LIST (unix or DOS style lines). Entries come in the server's order; '.', '..' and
    /// unparseable lines are left out.
    /// </summary>
    /// <param name="directory">The folder; an absolute path is safest. The client changes into it first, so
    /// names with spaces or wildcard characters are never misread as LIST options or patterns.</param>
    /// <param name="cancellationToken">Cancels the listing (and leaves the client unusable).</param>
    /// <exception cref="DirectoryNotFoundException">The server refuses to enter the folder (550).</exception>
    public async Task<IReadOnlyList<FtpListItem>> ListAsync(string directory, CancellationToken cancellationToken)
    {
        CheckArgument(directory, nameof(directory));
        var cwd = await CommandAsync("CWD " + directory, cancellationToken);
        if (cwd.Code == 550)
        {
            throw new DirectoryNotFoundException($"{Endpoint}{Slash(directory)}: no such folder, or no permission to enter it ({Redact(cwd)})");
        }

        if (!cwd.IsSuccess)
        {
            throw Unexpected("CWD " + directory, cwd, ErrorKind.Config);
        }

        var useMlsd = _useMlsd && _features.ContainsKey("MLST");
        var command = useMlsd ? "MLSD" : "LIST";
        var (transfer, reply, _) = await StartTransferAsync(command, 0, cancellationToken);
        if (transfer is null && useMlsd && reply.Code is 500 or 502 or 504)
        {
            // Announced but refused (seen on some proxies): LIST from now on.
            _useMlsd = false;
            command = "LIST";
            (transfer, reply, _) = await StartTransferAsync(command, 0, cancellationToken);
        }

        if (transfer is null)
        {
            throw Unexpected($"{command} in {directory}", reply, ErrorKind.Config);
        }

        var items = new List<FtpListItem>();
        var now = _time.GetUtcNow();
        try
        {
            var what = $"reading the listing of {directory}";
            Func<Memory<byte>, CancellationToken, ValueTask<int>> read = async (buffer, ct) => await IoAsync(what, t => transfer.Stream.ReadAsync(buffer, t), ct);

            // One reader (and its 64 KiB buffer) for all listings of this connection: a recursive listing
            // of many folders would otherwise allocate one per folder. It is empty after each complete listing.
            var lines = _listingLines ??= new FtpLineReader(read);
            lines.SetSource(read);
            while (await lines.ReadLineAsync(cancellationToken) is { } line)
            {
                var parsed = useMlsd ? FtpParsing.TryParseMlsdLine(line, out var item) : FtpParsing.TryParseListLine(line, now, out item);
                if (parsed)
                {
                    items.Add(item);
                }
            }
        }
        catch (InvalidDataException e)
        {
            transfer.Dispose();
            Break();
            throw Network($"{Endpoint}: the listing of {directory} is not a listing: {e.Message}", e);
        }
        catch
        {
            transfer.Dispose();
            Break();
            throw;
        }

        await transfer.CloseAsync();
        await FinishTransferAsync($"{command} in {directory}", cancellationToken);
        return items;
    }

    /// <summary>The size of a file in bytes (SIZE), or null when the server does not support SIZE.</summary>
    /// <exception cref="FileNotFoundException">The server has no such (readable) file (550).</exception>
    public async Task<long?> GetSizeAsync(string path, CancellationToken cancellationToken)
    {
        CheckArgument(path, nameof(path));
        var reply = await CommandAsync("SIZE " + path, cancellationToken);
        return reply.Code switch
        {
            213 when long.TryParse(reply.Text.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var size) => size,
            550 => throw NotFound(path, reply),
            500 or 501 or 502 or 504 or 213 => null,
            _ => throw Unexpected("SIZE " + path, reply, ErrorKind.Format),
        };
    }

    /// <summary>The exact last modification time of a file in UTC (MDTM), or null when the server does not support MDTM.</summary>
    /// <exception cref="FileNotFoundException">The server has no such (readable) file (550).</exception>
    public async Task<DateTimeOffset?> GetModifiedAsync(string path, CancellationToken cancellationToken)
    {
        CheckArgument(path, nameof(path));
        var reply = await CommandAsync("MDTM " + path, cancellationToken);
        return reply.Code switch
        {
            213 when FtpParsing.TryParseTimeVal(reply.Text, out var time) => time,
            550 => throw NotFound(path, reply),
            500 or 501 or 502 or 504 or 213 => null,
            _ => throw Unexpected("MDTM " + path, reply, ErrorKind.Format),
        };
    }

    /// <summary>
    /// Starts downloading a file in binary mode from <paramref name="offset"/> (REST then RETR) and returns
    /// the bytes as a forward-only stream. The stream's end is checked: when the server does not confirm
    /// the transfer (226), or fewer than <paramref name="expectedSize"/> bytes arrived, reading throws a
    /// transient <see cref="IntakeException"/> instead of ending early, so a cut connection never looks
    /// like a complete file.
    /// </summary>
    /// <remarks>
    /// When the server refuses REST, the download starts at byte 0 and the first <paramref name="offset"/>
    /// bytes are read and thrown away: the stream still begins at <paramref name="offset"/>. Until the
    /// stream is read to its end or disposed, the connection belongs to it; disposing it early abandons
    /// the transfer (the client reads the server's reply to that before its next command).
    /// </remarks>
    /// <param name="path">The file; an absolute path is safest.</param>
    /// <param name="offset">Where to start, 0 for the whole file.</param>
    /// <param name="expectedSize">The file's full size when known (from SIZE or a listing); more bytes than
    /// this fail with Integrity (the file changed), fewer with Transient.</param>
    /// <param name="cancellationToken">Cancels starting the transfer.</param>
    /// <exception cref="FileNotFoundException">The server has no such (readable) file (550).</exception>
    public Task<Stream> OpenReadAsync(string path, long offset, long? expectedSize, CancellationToken cancellationToken) =>
        OpenReadCoreAsync(path, offset, expectedSize, ownsClient: false, cancellationToken);

    internal async Task<Stream> OpenReadCoreAsync(string path, long offset, long? expectedSize, bool ownsClient, CancellationToken cancellationToken)
    {
        CheckArgument(path, nameof(path));
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        var (transfer, reply, restAccepted) = await StartTransferAsync("RETR " + path, offset, cancellationToken);
        if (transfer is null)
        {
            throw reply.Code == 550 ? NotFound(path, reply) : Unexpected("RETR " + path, reply, ErrorKind.Format);
        }

        var skip = offset > 0 && !restAccepted ? offset : 0;
        return new FtpDownloadStream(this, transfer, path, offset, expectedSize, skip, ownsClient);
    }

    /// <summary>Says goodbye (QUIT) and closes the connection. Errors on the way out are ignored: the work is done.</summary>
    public async Task QuitAsync(CancellationToken cancellationToken)
    {
        if (!_broken && !_disposed && !_transferOpen)
        {
            try
            {
                await CommandAsync("QUIT", cancellationToken);
                if (_stream is SslStream tls)
                {
                    // close_notify: the server logs a clean TLS end instead of a cut connection.
                    await tls.ShutdownAsync().WaitAsync(_options.ReadTimeout, cancellationToken);
                }
            }
            catch (Exception e) when (e is IntakeException or IOException or SocketException or TimeoutException or ObjectDisposedException)
            {
                // Already gone: nothing to say goodbye to.
            }
        }

        Dispose();
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (!_disposed)
        {
            await QuitAsync(CancellationToken.None);
        }
    }

    /// <summary>Closes the connection without QUIT.</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        _broken = true;
        _stream.Dispose();
        _socket.Dispose();
    }

    // ---- login ----

    private async Task LogInAsync(CancellationToken ct)
    {
        var greeting = await ReadReplyAsync("waiting for the greeting", ct);
        while (greeting.Code == 120)
        {
            greeting = await ReadReplyAsync("waiting for the greeting (the server asked to wait)", ct);
        }

        if (greeting.Code != 220)
        {
            throw greeting.IsTransientFailure
                ? Network($"{Endpoint}: the server turns connections away for now: {Redact(greeting)}")
                : IntakeException.Config($"{Endpoint}: the server does not greet like an FTP server: {Redact(greeting)}");
        }

        if (_options.Tls == FtpTlsMode.Explicit)
        {
            var auth = await CommandAsync("AUTH TLS", ct);
            if (auth.Code is not (234 or 334))
            {
                throw auth.IsTransientFailure
                    ? Unexpected("AUTH TLS", auth, ErrorKind.Config)
                    : IntakeException.Config($"{Endpoint}: the server does not offer explicit TLS (AUTH TLS: {Redact(auth)}); set tls to none only on a trusted network");
            }

            if (_control.HasBufferedData)
            {
                // Plain text after 234 and before the handshake would be an injection attempt.
                throw IntakeException.Security($"{Endpoint}: the server sent data after accepting AUTH TLS and before the TLS handshake");
            }

            var tls = new SslStream(_stream, leaveInnerStreamOpen: false, _validator.Validate);
            await HandshakeAsync(tls, "the control connection", ct);
            _stream = tls;
            _control.SetSource(tls.ReadAsync);
        }

        var user = await CommandAsync("USER " + _options.User, ct);
        if (user.Code == 331)
        {
            user = await CommandAsync("PASS " + _options.Password, ct, shownAs: "PASS ****");
        }

        if (user.Code is not (230 or 202))
        {
            throw user.Code switch
            {
                530 => IntakeException.Config($"{Endpoint}: login as '{_options.User}' refused: {Redact(user)}; check the user name and password"),
                332 => IntakeException.Config($"{Endpoint}: login as '{_options.User}' needs an account (ACCT), which is not supported"),
                _ => Unexpected($"login as '{_options.User}'", user, ErrorKind.Config),
            };
        }

        if (IsEncrypted)
        {
            var pbsz = await CommandAsync("PBSZ 0", ct);
            if (!pbsz.IsSuccess)
            {
                throw Unexpected("PBSZ 0", pbsz, ErrorKind.Config);
            }

            var prot = await CommandAsync("PROT P", ct);
            if (!prot.IsSuccess)
            {
                throw prot.IsTransientFailure
                    ? Unexpected("PROT P", prot, ErrorKind.Config)
                    : IntakeException.Config($"{Endpoint}: the server refuses encrypted data connections (PROT P: {Redact(prot)})");
            }
        }

        var feat = await CommandAsync("FEAT", ct);
        _features = feat.Code == 211 ? FtpParsing.ParseFeatures(feat.Text) : new(StringComparer.OrdinalIgnoreCase);
        if (_features.ContainsKey("UTF8"))
        {
            await CommandAsync("OPTS UTF8 ON", ct); // names are sent and read as UTF-8 either way
        }

        var type = await CommandAsync("TYPE I", ct);
        if (!type.IsSuccess)
        {
            throw Unexpected("TYPE I", type, ErrorKind.Format);
        }
    }

    private async Task HandshakeAsync(SslStream tls, string what, CancellationToken ct)
    {
        var options = new SslClientAuthenticationOptions
        {
            TargetHost = _options.Host,
            RemoteCertificateValidationCallback = _validator.Validate,
            AllowRenegotiation = false,
        };
        try
        {
            await IoAsync($"the TLS handshake on {what}", async t =>
            {
                await tls.AuthenticateAsClientAsync(options, t);
                return true;
            }, ct);
        }
        catch (AuthenticationException e)
        {
            Break();
            throw _validator.LastRefusal is { } refusal
                ? IntakeException.Config($"{Endpoint}: TLS on {what}: the server's {refusal}; trust its CA or certificate file ('trust_certificate') or pin it ('certificate_thumbprint')", e)
                : IntakeException.Config($"{Endpoint}: the TLS handshake on {what} failed: {e.Message}", e);
        }
    }

    // ---- transfers ----

    /// <summary>Opens a passive data connection, sends REST (when offset &gt; 0) and the command. Null transfer when the command is refused.</summary>
    private async Task<(Transfer? Transfer, FtpReply Reply, bool RestAccepted)> StartTransferAsync(string command, long offset, CancellationToken ct)
    {
        var port = await EnterPassiveModeAsync(ct);
        var socket = new Socket(_peer.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            await IoAsync($"opening the data connection (port {port})", async t =>
            {
                await socket.ConnectAsync(new IPEndPoint(_peer, port), t);
                return true;
            }, ct, _options.ConnectTimeout);

            var restAccepted = false;
            if (offset > 0)
            {
                var rest = await CommandAsync("REST " + offset.ToString(CultureInfo.InvariantCulture), ct);
                if (rest.Code == 350)
                {
                    restAccepted = true;
                }
                else if (rest.IsTransientFailure)
                {
                    throw Unexpected("REST", rest, ErrorKind.Format);
                }

                // Any 5xx: no resuming on this server; the caller reads from 0 and skips.
            }

            var reply = await CommandAsync(command, ct);
            if (reply.Code is not (125 or 150))
            {
                socket.Dispose();
                return (null, reply, restAccepted);
            }

            _transferOpen = true;
            Stream stream = new NetworkStream(socket, ownsSocket: true);
            if (IsEncrypted)
            {
                var tls = new SslStream(stream, leaveInnerStreamOpen: false, _validator.Validate);
                stream = tls;
                await HandshakeAsync(tls, "the data connection", ct);
            }

            return (new Transfer(this, socket, stream), reply, restAccepted);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    private async Task<int> EnterPassiveModeAsync(CancellationToken ct)
    {
        if (_useEpsv)
        {
            var epsv = await CommandAsync("EPSV", ct);
            if (epsv.Code == 229 && FtpParsing.TryParseEpsvPort(epsv.Text, out var port))
            {
                return port;
            }

            if (epsv.IsTransientFailure)
            {
                throw Unexpected("EPSV", epsv, ErrorKind.Format);
            }

            _useEpsv = false; // refused or unreadable: PASV for the rest of the session
        }

        var pasv = await CommandAsync("PASV", ct);
        if (pasv.Code == 227 && FtpParsing.TryParsePasv(pasv.Text, out _, out var pasvPort))
        {
            // The announced address is ignored on purpose: see the class remarks.
            return pasvPort;
        }

        throw Unexpected("PASV", pasv, ErrorKind.Format);
    }

    /// <summary>Reads the reply that ends a transfer (226); anything else fails it.</summary>
    internal async Task FinishTransferAsync(string command, CancellationToken ct)
    {
        var reply = await ReadReplyAsync($"waiting for the end of {command}", ct);
        _transferOpen = false;
        if (!reply.IsSuccess)
        {
            throw Unexpected(command, reply, ErrorKind.Format);
        }
    }

    /// <summary>A download stream was disposed before its end: its final reply is read before the next command.</summary>
    internal void AbandonTransfer()
    {
        if (_transferOpen)
        {
            _transferOpen = false;
            _finalReplyPending = true;
        }
    }

    /// <summary>The open data connection of a transfer.</summary>
    internal sealed class Transfer(FtpClient client, Socket socket, Stream stream) : IDisposable
    {
        public FtpClient Client { get; } = client;

        public Stream Stream { get; } = stream;

        /// <summary>Ends the data connection cleanly: a TLS close_notify first, which servers need to tell a complete transfer from a cut one.</summary>
        public async Task CloseAsync()
        {
            if (Stream is SslStream tls)
            {
                try
                {
                    await tls.ShutdownAsync().WaitAsync(Client._options.ReadTimeout);
                }
                catch (Exception e) when (e is IOException or SocketException or TimeoutException or ObjectDisposedException or InvalidOperationException)
                {
                    // The server may already have closed its side; its 226 (or not) decides.
                }
            }

            Dispose();
        }

        /// <summary>Closes the data connection at once.</summary>
        public void Dispose()
        {
            Stream.Dispose();
            socket.Dispose();
        }
    }

    // ---- commands and replies ----

    private async Task<FtpReply> CommandAsync(string command, CancellationToken ct, string? shownAs = null)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_broken)
        {
            throw Network($"{Endpoint}: the connection was lost earlier; connect again");
        }

        if (_transferOpen)
        {
            throw new InvalidOperationException("A download is in progress on this FTP connection; read its stream to the end or dispose it first.");
        }

        if (_finalReplyPending)
        {
            _finalReplyPending = false;
            await ReadReplyAsync("finishing an abandoned transfer", ct); // 426 or 226, whichever; it is over
        }

        var shown = shownAs ?? command;
        var bytes = Encoding.UTF8.GetBytes(command + "\r\n");
        return await IoAsync($"sending {shown}", async t =>
        {
            await _stream.WriteAsync(bytes, t);
            await _stream.FlushAsync(t);
            return await ReadReplyCoreAsync(t);
        }, ct);
    }

    private Task<FtpReply> ReadReplyAsync(string what, CancellationToken ct) =>
        IoAsync(what, async t => await ReadReplyCoreAsync(t), ct);

    private async Task<FtpReply> ReadReplyCoreAsync(CancellationToken ct)
    {
        var first = await _control.ReadLineAsync(ct) ?? throw new IOException("the server closed the connection");
        if (!TryReplyCode(first, out var code))
        {
            throw new InvalidDataException($"'{Printable(first)}' is not an FTP reply");
        }

        if (first.Length > 3 && first[3] == '-')
        {
            // Multi-line: runs until a line starting with the same code and a space (RFC 959 4.2).
            var text = new StringBuilder(first, 4, first.Length - 4, 256);
            while (true)
            {
                var line = await _control.ReadLineAsync(ct) ?? throw new IOException("the server closed the connection in the middle of a reply");
                if (line.Length >= 3 && TryReplyCode(line, out var endCode) && endCode == code && (line.Length == 3 || line[3] == ' '))
                {
                    text.Append('\n').Append(line.AsSpan(Math.Min(4, line.Length)));
                    return new FtpReply(code, text.ToString());
                }

                if (text.Length > FtpLineReader.MaxLineBytes * 16)
                {
                    throw new InvalidDataException("a multi-line reply longer than 1 MiB");
                }

                text.Append('\n').Append(line);
            }
        }

        return new FtpReply(code, first.Length > 3 ? first[4..].TrimEnd() : "");
    }

    /// <summary>Runs network I/O under the read timeout, and turns its failures into transient errors that leave the client unusable.</summary>
    internal async Task<T> IoAsync<T>(string what, Func<CancellationToken, ValueTask<T>> operation, CancellationToken ct, TimeSpan? timeout = null)
    {
        var limit = timeout ?? _options.ReadTimeout;
        using var timer = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timer.CancelAfter(limit);
        try
        {
            return await operation(timer.Token);
        }
        catch (OperationCanceledException e) when (!ct.IsCancellationRequested)
        {
            Break();
            throw Network($"{Endpoint}: no answer within {Seconds(limit)} while {what}", e);
        }
        catch (OperationCanceledException)
        {
            Break();
            throw;
        }
        catch (Exception e) when (e is IOException or SocketException or InvalidDataException or ObjectDisposedException)
        {
            Break();
            var cause = e is InvalidDataException ? $"protocol error: {e.Message}" : Describe(e);
            throw Network($"{Endpoint}: connection lost while {what}: {cause}", e);
        }
    }

    internal void Break()
    {
        _broken = true;
        _transferOpen = false;
        try
        {
            _socket.Dispose();
        }
        catch (ObjectDisposedException)
        {
        }
    }

    // ---- errors ----

    internal static IntakeException Network(string message, Exception? inner = null) =>
        IntakeException.Transient(message, inner);

    private IntakeException Unexpected(string command, FtpReply reply, ErrorKind permanentKind)
    {
        if (reply.IsTransientFailure)
        {
            return Network($"{Endpoint}: {command} failed for now: {Redact(reply)}");
        }

        if (!reply.IsPermanentFailure)
        {
            // A reply that makes no sense here: the conversation is out of step, so start over.
            Break();
            return Network($"{Endpoint}: unexpected reply to {command}: {Redact(reply)}");
        }

        return new IntakeException(permanentKind, $"{Endpoint}: {command} refused: {Redact(reply)}");
    }

    private FileNotFoundException NotFound(string path, FtpReply reply) =>
        new($"{Endpoint}{Slash(path)}: no such file, or not readable ({Redact(reply)})", path);

    /// <summary>The reply as text, with the password masked in case a server echoes it.</summary>
    private string Redact(FtpReply reply)
    {
        var text = reply.ToString();
        return _options.Password.Length >= 3 ? text.Replace(_options.Password, "****", StringComparison.Ordinal) : text;
    }

    private static string Describe(Exception e) => e switch
    {
        SocketException s => s.SocketErrorCode switch
        {
            SocketError.ConnectionRefused => "connection refused",
            SocketError.ConnectionReset => "connection reset",
            SocketError.TimedOut => "timed out",
            SocketError.HostNotFound or SocketError.NoData => "host not found",
            SocketError.HostUnreachable or SocketError.NetworkUnreachable => "unreachable",
            _ => $"{s.SocketErrorCode}: {s.Message}",
        },
        IOException { InnerException: SocketException s } => Describe(s),
        _ => e.Message,
    };

    private static bool TryReplyCode(string line, out int code)
    {
        code = 0;
        if (line.Length < 3 || line[0] is < '1' or > '5' || !char.IsAsciiDigit(line[1]) || !char.IsAsciiDigit(line[2]))
        {
            return false;
        }

        code = ((line[0] - '0') * 100) + ((line[1] - '0') * 10) + (line[2] - '0');
        return true;
    }

    private static void CheckArgument(string path, string name)
    {
        ArgumentException.ThrowIfNullOrEmpty(path, name);
        if (path.AsSpan().IndexOfAny('\r', '\n', '\0') >= 0)
        {
            throw new ArgumentException("An FTP path cannot contain line breaks or NUL.", name);
        }
    }

    private static string Slash(string path) => path.StartsWith('/') ? path : "/" + path;

    private static string Seconds(TimeSpan t) => string.Create(CultureInfo.InvariantCulture, $"{t.TotalSeconds:0.#} s");

    private static string Printable(string s) =>
        new(s.Take(80).Select(c => char.IsControl(c) ? '?' : c).ToArray());
}
