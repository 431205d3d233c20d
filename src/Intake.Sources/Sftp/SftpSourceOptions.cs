namespace Intake.Sources.Sftp;

/// <summary>
/// Where an <see cref="SftpSource"/> connects, how it proves who it is and who the server is, what it
/// takes, and when a file counts as complete.
/// </summary>
/// <remarks>
/// Authentication is by private key only, never a password: the key file stays on disk where its
/// permissions protect it, and nothing secret ever appears in a configuration value or a command line.
/// The server is always verified: by a <see cref="KnownHostsFile"/> (strict by default) or by a pinned
/// <see cref="HostKeyFingerprint"/>. Exactly one of the two must be set.
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
    /// Private key file (OpenSSH format, no passphrase: the source runs unattended, so nothing could type
    /// one). Required. OpenSSH refuses a key that others can read: keep it mode 600.
    /// </summary>
    public string PrivateKeyFile { get; set; } = "";

    /// <summary>
    /// A known_hosts file that must already hold the server's key (OpenSSH format, e.g. from
    /// <c>ssh-keyscan -p PORT HOST</c> checked against what the server's operator published). A missing
    /// or different key stops the connection as a security failure.
    /// </summary>
    public string? KnownHostsFile { get; set; }

    /// <summary>
    /// The server's host key fingerprint as OpenSSH prints it, <c>SHA256:</c> followed by unpadded base64
    /// (<c>ssh-keygen -lf host_key.pub</c>). An alternative to <see cref="KnownHostsFile"/> that fits in a
    /// configuration file; the key is fetched with <c>ssh-keyscan</c>, compared, and only a matching key is
    /// trusted for the connection.
    /// </summary>
    public string? HostKeyFingerprint { get; set; }

    /// <summary>
    /// Trust on first use: when the server is not yet in <see cref="KnownHostsFile"/>, add its key to that
    /// file and connect (OpenSSH's <c>StrictHostKeyChecking=accept-new</c>). A key that later differs from
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
    /// <c>timeout</c>). A server that stops answering afterwards is detected by SSH keep-alives (about a minute).
    /// </summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// How many times one download reconnects and continues where it stopped after the connection
    /// dropped, before the failure is reported (as transient, so the whole fetch is retried). Default 3.
    /// </summary>
    public int MaxResumeAttempts { get; set; } = 3;

    /// <summary>
    /// The OpenSSH client, a name looked up on PATH or a full path. Default <c>ssh</c>. With
    /// <see cref="HostKeyFingerprint"/>, <c>ssh-keyscan</c> is taken from the same folder.
    /// </summary>
    public string SshExecutable { get; set; } = "ssh";
}
