using System.Net.Sockets;
using Intake.Core.Errors;
using Renci.SshNet;
using Renci.SshNet.Common;
using Renci.SshNet.Messages.Transport;

namespace Intake.Sources.Sftp;

/// <summary>
/// Opens SSH connections with an SFTP channel (SSH.NET's <see cref="SftpClient"/>): logs in with the key, the
/// password or both, verifies the server's host key before anything else is sent, and turns every failure into
/// an <see cref="IntakeException"/> of the right kind, named by the configuration key to fix.
/// </summary>
/// <remarks>
/// The host key is checked during the key exchange, before authentication: a server that is not the trusted one
/// never sees a password or a signature. With a pinned fingerprint and a server holding several host keys (say
/// ed25519 and RSA), the first key presented may not be the pinned one; the connection is then retried without
/// that key type until the pinned key is presented or none is left, and the matching type is kept for later
/// connections (what <c>ssh-keyscan</c> did before).
/// </remarks>
internal sealed class SftpConnector : IDisposable
{
    /// <summary>SFTP requests that get no answer for this long fail (or for the connect timeout, when longer).</summary>
    private static readonly TimeSpan MinimumOperationTimeout = TimeSpan.FromMinutes(1);

    private static readonly Lock AppendLock = new();

    /// <summary>Every host key type SSH.NET can verify, in its order of preference.</summary>
    private static readonly Lazy<string[]> AllKeyTypes = new(() =>
        new ConnectionInfo("localhost", "probe", new NoneAuthenticationMethod("probe")).HostKeyAlgorithms.Keys
            .Select(KeyTypeOf).OfType<string>().Distinct(StringComparer.Ordinal).ToArray());

    private readonly Settings _settings;
    private readonly Lock _keyLock = new();
    private PrivateKeyFile? _key;

    // With a pinned fingerprint: the key type that matched it, so later connections ask for that type first.
    private volatile string? _pinnedType;

    public SftpConnector(Settings settings) => _settings = settings;

    /// <summary>What a connection needs. Secrets (<see cref="Passphrase"/>, <see cref="Password"/>) never reach a message.</summary>
    public sealed record Settings(
        string Host,
        int Port,
        string User,
        string Target,
        string? KeyFile,
        string? Passphrase,
        string? Password,
        string? KnownHostsFile,
        string? Fingerprint,
        bool AcceptNewHostKey,
        TimeSpan ConnectTimeout);

    /// <summary>Connects, verifies the server and logs in.</summary>
    /// <exception cref="IntakeException">Config (login refused, key unusable, files missing), Security (host key),
    /// Transient (network, timeouts).</exception>
    public async Task<SftpConnection> ConnectAsync(CancellationToken cancellationToken)
    {
        var key = LoadKey();
        var s = _settings;
        if (s.KnownHostsFile is { } knownHosts && !s.AcceptNewHostKey && !File.Exists(knownHosts))
        {
            throw IntakeException.Config(
                $"sftp {s.Target}: the known_hosts file {knownHosts} does not exist (create it with ssh-keyscan and check the key, or set host_key_fingerprint)");
        }

        var refusedTypes = new HashSet<string>(StringComparer.Ordinal);
        var presented = new List<string>();
        while (true)
        {
            var check = new HostKeyCheck();
            var connection = Build(key, refusedTypes, check);
            try
            {
                await connection.Client.ConnectAsync(cancellationToken);
                if (s.Fingerprint is not null)
                {
                    _pinnedType = check.PresentedType;
                }

                return connection;
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                connection.Dispose();
                if (check.Error is { } error)
                {
                    throw IntakeException.Config($"sftp {s.Target}: cannot read the known_hosts file {s.KnownHostsFile}: {error.Message}", error);
                }

                if (check.Verdict is not { } verdict || verdict == KnownHostVerdict.Trusted)
                {
                    if (presented.Count > 0 && check.Verdict is null)
                    {
                        // Asked for the key types not refused yet, the server has none of them: the pinned key is not its.
                        throw PinMismatch(presented);
                    }

                    throw Classify(ex);
                }

                if (s.Fingerprint is not null)
                {
                    presented.Add($"{check.PresentedType} {check.PresentedFingerprint}");
                    refusedTypes.Add(check.PresentedType!);
                    if (HostKeyAlgorithmsLeft(refusedTypes))
                    {
                        continue; // the server may hold the pinned key under another type: ask for that
                    }

                    throw PinMismatch(presented);
                }

                throw verdict switch
                {
                    KnownHostVerdict.Unknown => IntakeException.Security(
                        $"sftp {s.Target}: the server is not in the known_hosts file {s.KnownHostsFile} (it presented {check.PresentedType} {check.PresentedFingerprint}); " +
                        "add its key after checking it with the server's operator (ssh-keyscan), or set accept_new_host_key on a file dedicated to Intake"),
                    KnownHostVerdict.Revoked => IntakeException.Security(
                        $"sftp {s.Target}: the server presented a host key marked @revoked in {s.KnownHostsFile} (line {check.Line}): {check.PresentedType} {check.PresentedFingerprint}"),
                    _ => IntakeException.Security(
                        $"sftp {s.Target}: the server's host key {check.PresentedType} {check.PresentedFingerprint} is not the one trusted for it in {s.KnownHostsFile} (line {check.Line}). " +
                        "A different server may be answering; nothing was downloaded. If its key was legitimately replaced, update the known_hosts file"),
                };
            }
        }
    }

    public void Dispose()
    {
        lock (_keyLock)
        {
            _key?.Dispose();
            _key = null;
        }
    }

    private IntakeException PinMismatch(List<string> presented) => IntakeException.Security(
        $"sftp {_settings.Target}: the server's host key does not match host_key_fingerprint: expected {_settings.Fingerprint}, the server presented " +
        $"{string.Join(", ", presented)}. A different server may be answering; nothing was sent to it and nothing was downloaded. If its key was " +
        "legitimately replaced, update host_key_fingerprint");

    /// <summary>Maps an algorithm SSH.NET offers for host keys to the key type it verifies (RSA signs with SHA-2 under the same key).</summary>
    private static string? KeyTypeOf(string algorithm) =>
        algorithm.Contains("-cert-", StringComparison.Ordinal) ? null // host certificates are not supported: plain keys only
        : algorithm is "rsa-sha2-256" or "rsa-sha2-512" ? "ssh-rsa"
        : algorithm;

    private static bool HostKeyAlgorithmsLeft(HashSet<string> refusedTypes) => AllKeyTypes.Value.Any(t => !refusedTypes.Contains(t));

    private SftpConnection Build(PrivateKeyFile? key, HashSet<string> refusedTypes, HostKeyCheck check)
    {
        var s = _settings;
        var methods = new List<AuthenticationMethod>();
        if (key is not null)
        {
            methods.Add(new PrivateKeyAuthenticationMethod(s.User, key));
        }

        if (s.Password is { } password)
        {
            methods.Add(new PasswordAuthenticationMethod(s.User, password));
            var interactive = new KeyboardInteractiveAuthenticationMethod(s.User);
            interactive.AuthenticationPrompt += (_, e) =>
            {
                // PAM asks "Password:" without echo; a prompt that echoes asks for something else, which we do not know.
                foreach (var prompt in e.Prompts)
                {
                    prompt.Response = prompt.IsEchoed ? "" : password;
                }
            };
            methods.Add(interactive);
        }

        var info = new ConnectionInfo(s.Host, s.Port, s.User, [.. methods]) { Timeout = s.ConnectTimeout };
        var wanted = WantedKeyTypes(refusedTypes);
        foreach (var algorithm in info.HostKeyAlgorithms.Keys.ToList())
        {
            if (KeyTypeOf(algorithm) is not { } type || (wanted is not null && !wanted.Contains(type)))
            {
                info.HostKeyAlgorithms.Remove(algorithm);
            }
        }

        var client = new SftpClient(info)
        {
            KeepAliveInterval = TimeSpan.FromSeconds(15),
            OperationTimeout = s.ConnectTimeout > MinimumOperationTimeout ? s.ConnectTimeout : MinimumOperationTimeout,
        };
        client.HostKeyReceived += (_, e) => e.CanTrust = Verify(e.HostKey, check);
        return new SftpConnection(client, info, s.Target, s.User);
    }

    /// <summary>
    /// The host key types to ask the server for, or null for all: with known_hosts, the types it holds for the
    /// host (as ssh asks for a known type first, so a server with several keys presents the one on file); with a
    /// pin, the type that matched before, else every type not yet refused.
    /// </summary>
    private HashSet<string>? WantedKeyTypes(HashSet<string> refusedTypes)
    {
        var s = _settings;
        if (s.Fingerprint is not null)
        {
            if (_pinnedType is { } pinned && !refusedTypes.Contains(pinned))
            {
                return [pinned];
            }

            if (refusedTypes.Count == 0)
            {
                return null;
            }

            return AllKeyTypes.Value.Where(t => !refusedTypes.Contains(t)).ToHashSet(StringComparer.Ordinal);
        }

        if (s.KnownHostsFile is { } file && File.Exists(file))
        {
            try
            {
                var types = KnownHosts.KeyTypesFor(file, KnownHosts.HostName(s.Host, s.Port));
                return types.Count > 0 ? types : null;
            }
            catch (IOException)
            {
                return null; // reported by the check itself, which reads the file again
            }
        }

        return null;
    }

    private bool Verify(byte[] blob, HostKeyCheck check)
    {
        var s = _settings;
        check.PresentedType = KnownHosts.KeyType(blob);
        check.PresentedFingerprint = KnownHosts.Fingerprint(blob);
        if (s.Fingerprint is { } expected)
        {
            var match = string.Equals(check.PresentedFingerprint, expected, StringComparison.Ordinal);
            check.Verdict = match ? KnownHostVerdict.Trusted : KnownHostVerdict.Changed;
            return match;
        }

        try
        {
            var file = s.KnownHostsFile!;
            var host = KnownHosts.HostName(s.Host, s.Port);
            var (verdict, line) = File.Exists(file) ? KnownHosts.Check(file, host, blob) : (KnownHostVerdict.Unknown, 0);
            if (verdict == KnownHostVerdict.Unknown && s.AcceptNewHostKey)
            {
                // Trust on first use. Two first connections at once: the second finds the first's entry.
                lock (AppendLock)
                {
                    (verdict, line) = File.Exists(file) ? KnownHosts.Check(file, host, blob) : (KnownHostVerdict.Unknown, 0);
                    if (verdict == KnownHostVerdict.Unknown)
                    {
                        KnownHosts.Add(file, host, blob);
                        verdict = KnownHostVerdict.Trusted;
                    }
                }
            }

            (check.Verdict, check.Line) = (verdict, line);
            return verdict == KnownHostVerdict.Trusted;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            check.Error = ex;
            return false;
        }
    }

    /// <summary>The private key, read once per source (a passphrase-protected key costs a key derivation each time).</summary>
    private PrivateKeyFile? LoadKey()
    {
        var s = _settings;
        if (s.KeyFile is not { } path)
        {
            return null;
        }

        lock (_keyLock)
        {
            if (_key is not null)
            {
                return _key;
            }

            if (!File.Exists(path))
            {
                throw IntakeException.Config($"sftp {s.Target}: key_file {path} does not exist");
            }

            try
            {
                return _key = new PrivateKeyFile(path, s.Passphrase);
            }
            catch (SshPassPhraseNullOrEmptyException ex)
            {
                throw IntakeException.Config($"sftp {s.Target}: key_file {path} is protected by a passphrase; set 'passphrase' (e.g. passphrase: ${{SFTP_KEY_PASSPHRASE}})", ex);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                throw IntakeException.Config($"sftp {s.Target}: cannot read key_file {path}: {ex.Message}", ex);
            }
            catch (Exception ex) when (ex is SshException or InvalidOperationException or ArgumentException or FormatException or NotSupportedException or System.Security.Cryptography.CryptographicException)
            {
                throw IntakeException.Config(
                    s.Passphrase is null
                        ? $"sftp {s.Target}: key_file {path} is not a private key Intake can use (ed25519, RSA or ECDSA; OpenSSH, PEM or PuTTY format): {ex.Message}"
                        : $"sftp {s.Target}: key_file {path} cannot be opened with the configured 'passphrase' (a wrong passphrase, or not a private key): {ex.Message}",
                    ex);
            }
        }
    }

    /// <summary>A failure to connect or log in, classified.</summary>
    private IntakeException Classify(Exception ex)
    {
        var s = _settings;
        var how = (s.KeyFile, s.Password) switch
        {
            ({ } key, null) => $"with key_file {key}",
            (null, _) => "with the password (methods password and keyboard-interactive)",
            ({ } key, _) => $"with key_file {key} and with the password",
        };
        var hint = s.Password is null
            ? "check that the key's public half is in the user's authorized_keys"
            : s.KeyFile is null ? "check 'password'" : "check 'password', and that the key's public half is in the user's authorized_keys";
        return ex switch
        {
            SshAuthenticationException => IntakeException.Config($"sftp {s.Target}: the server refused user '{s.User}' {how}: {ex.Message} ({hint})", ex),
            SshConnectionException { DisconnectReason: DisconnectReason.NoMoreAuthenticationMethodsAvailable or DisconnectReason.IllegalUserName } =>
                IntakeException.Config($"sftp {s.Target}: the server refused user '{s.User}' {how}: {ex.Message} ({hint})", ex),
            SocketException => IntakeException.Transient($"sftp {s.Target}: cannot connect: {ex.Message}", ex),
            SshOperationTimeoutException => IntakeException.Transient(
                $"sftp {s.Target}: no answer within {s.ConnectTimeout.TotalSeconds:0.#} s while connecting and logging in ('timeout'): {ex.Message}", ex),
            SshException when ex.Message.Contains("subsystem", StringComparison.OrdinalIgnoreCase) => IntakeException.Config(
                $"sftp {s.Target}: the server does not offer the sftp subsystem (check 'Subsystem sftp' in its sshd_config): {ex.Message}", ex),
            SshConnectionException { DisconnectReason: DisconnectReason.KeyExchangeFailed } => IntakeException.Config(
                $"sftp {s.Target}: client and server share no key exchange, cipher or host key algorithm: {ex.Message}", ex),

            // Anything else is most likely the network or an overloaded server (MaxStartups drops connections
            // silently): worth a retry, which a configuration error would not be.
            SshException or IOException or ObjectDisposedException => IntakeException.Transient($"sftp {s.Target}: cannot connect: {ex.Message}", ex),
            _ => IntakeException.Transient($"sftp {s.Target}: cannot connect: {ex.Message}", ex),
        };
    }

    /// <summary>What the host key check saw, for the message after SSH.NET closed the connection.</summary>
    private sealed class HostKeyCheck
    {
        public string? PresentedType { get; set; }

        public string? PresentedFingerprint { get; set; }

        public KnownHostVerdict? Verdict { get; set; }

        public int Line { get; set; }

        public Exception? Error { get; set; }
    }
}

/// <summary>One SSH connection with its SFTP channel; disposing it closes both.</summary>
internal sealed class SftpConnection : IDisposable
{
    private readonly ConnectionInfo _info;
    private readonly string _target;
    private readonly string _user;

    public SftpConnection(SftpClient client, ConnectionInfo info, string target, string user)
    {
        Client = client;
        _info = info;
        _target = target;
        _user = user;
    }

    public SftpClient Client { get; }

    /// <summary>Whether a failure means the connection is gone (as opposed to the server refusing one request).</summary>
    public static bool IsConnectionLoss(Exception ex) =>
        ex is SshConnectionException or SocketException or IOException or ObjectDisposedException or SshOperationTimeoutException ||
        (ex is SshException && ex is not SftpException);

    /// <summary>
    /// The exception to throw for a failed request, or null for one that is not the server's or the network's
    /// (ours, already classified, or a cancellation).
    /// </summary>
    public Exception? Failure(Exception ex, string operation, string location) => ex switch
    {
        SftpPathNotFoundException => new FileNotFoundException($"{location}: no such file ({operation})", location, ex),
        SftpPermissionDeniedException => IntakeException.Config($"{location}: permission denied ({operation}); the server does not let user '{_user}' do that", ex),
        SftpException => IntakeException.Transient($"{location}: {operation} failed: {ex.Message}", ex),
        _ when IsConnectionLoss(ex) => IntakeException.Transient($"sftp {_target}: connection lost ({operation} of {location}): {ex.Message}", ex),
        _ => null,
    };

    public void Dispose()
    {
        try
        {
            Client.Dispose();
        }
        catch (Exception ex) when (IsConnectionLoss(ex))
        {
            // closing a connection that is already broken
        }

        foreach (var method in _info.AuthenticationMethods)
        {
            (method as IDisposable)?.Dispose();
        }
    }
}
