namespace Intake.Sources.Sftp;

/// <summary>
/// Where an <see cref="SftpSource"/> connects, how it proves who it is and who the server is, what it
/// takes, and when a file counts as complete.
/// </summary>
/// <remarks>
/// The login is a private key (<see cref="PrivateKeyFile"/>, with a <see cref="Passphrase"/> when the key has one),
/// a <see cref="Password"/> (offered as SSH's "password" method and as the answer to a keyboard-interactive
/// password prompt), or both: at least one must be set. Secrets are best given as <c>${VAR}</c> in a pipeline
/// file; they never appear in a message. The server is always verified: by a <see cref="KnownHostsFile"/>
/// (strict by default) or by a pinned <see cref="HostKeyFingerprint"/>. Exactly one of the two must be set.
/// </remarks>
public sealed class SftpSourceOptions
{
    /// <summary>Server name or address. Required.</summary>
    public string Host { get; set; } = "";

    /// <summary>SSH port. Default 22.</summary>
    public int Port { get; set; } = 22;

    /// <summary>Login name. Required.</summary>
    public string User { get; set; } = "";

    /// <summary>
    /// Private key file: ed25519, RSA or ECDSA, in OpenSSH, PEM (PKCS#1/PKCS#8) or PuTTY format. Keep it
    /// readable only by the account Intake runs as (mode 600). Empty when the login is by <see cref="Password"/>.
    /// </summary>
    public string PrivateKeyFile { get; set; } = "";

    /// <summary>The passphrase that unlocks <see cref="PrivateKeyFile"/>, when it has one. Null for a key without.</summary>
    public string? Passphrase { get; set; }

    /// <summary>
    /// The account's password, for servers that log users in by password: sent with SSH's "password" method,
    /// and as the answer to the password prompt of the "keyboard-interactive" method (what PAM-based servers
    /// offer). Null when the login is by key only.
    /// </summary>
    public string? Password { get; set; }

    /// <summary>
    /// A known_hosts file that must already hold the server's key (OpenSSH format, e.g. from
    /// <c>ssh-keyscan -p PORT HOST</c> checked against what the server's operator published). A missing
    /// or different key stops the connection as a security failure.
    /// </summary>
    public string? KnownHostsFile { get; set; }

    /// <summary>
    /// The server's host key fingerprint as OpenSSH prints it, <c>SHA256:</c> followed by unpadded base64
    /// (<c>ssh-keygen -lf host_key.pub</c>). An alternative to <see cref="KnownHostsFile"/> that fits in a
    /// configuration file: the key the server presents during the key exchange must hash to it, or the
    /// connection is closed before anything else is sent.
    /// </summary>
    public string? HostKeyFingerprint { get; set; }

    /// <summary>
    /// Trust on first use: when the server is not yet in <see cref="KnownHostsFile"/>, add its key to that
    /// file and connect (what OpenSSH's <c>StrictHostKeyChecking=accept-new</c> does). A key that later differs from
    /// the recorded one is still refused. Off by default, because the first connection is then not
    /// verified at all; the file must be dedicated to Intake, never a user's own <c>~/.ssh/known_hosts</c>.
    /// </summary>
    public bool AcceptNewHostKey { get; set; }

    /// <summary>
    /// The folder to list, absolute or relative to the login folder (the home or chroot folder the server
    /// puts the user in). Default <c>.</c>: the login folder itself.
    /// </summary>
    public string RemoteDirectory { get; set; } = ".";

    /// <summary>Patterns (see <see cref="Glob"/>) a file's relative path must match one of. Default <c>**/*</c>.</summary>
    public IList<string> Include { get; set; } = ["**/*"];

    /// <summary>Patterns that take a file out again, e.g. <c>archive/**</c>. Default: none.</summary>
    public IList<string> Exclude { get; set; } = [];

    /// <summary>
    /// How long a file must have gone unmodified before it is offered. Default 10 seconds, what pipelines
    /// have always used. SFTP uploads write the file in place, and a slow or stalled upload must not be
    /// taken half-written: raise it for producers on slow links.
    /// </summary>
    public TimeSpan StableFor { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Match patterns ignoring case (for servers on Windows). Default false.</summary>
    public bool IgnoreCase { get; set; }

    /// <summary>
    /// Time allowed to reach the server, exchange keys and authenticate. Default 30 seconds (a pipeline's
    /// <c>timeout</c>). A request the server does not answer afterwards fails after a minute, or after this
    /// timeout when it is longer.
    /// </summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// How many times one download reconnects and continues where it stopped after the connection
    /// dropped, before the failure is reported (as transient, so the whole fetch is retried). Default 3.
    /// </summary>
    public int MaxResumeAttempts { get; set; } = 3;
}
