namespace Intake.Tests.Shared;

/// <summary>
/// The OpenSSH server the SFTP tests run against, described by <c>INTAKE_TEST_SFTP</c> as
/// <c>scripts/servers/sshd.sh start</c> prints it:
/// <c>host=…;port=…;user=…;key=&lt;private key&gt;;home=&lt;folder the server serves&gt;;hostkey=&lt;host public key&gt;</c>,
/// then the other logins it offers: <c>rsa_key</c>, <c>ecdsa_key</c>, <c>passphrase_key</c> with <c>passphrase</c>, and
/// (sshd started as root) the user's <c>password</c> and <c>kbd_port</c>, a port that accepts only keyboard-interactive.
/// </summary>
public static class TestSftp
{
    private static readonly Lazy<Settings?> Parsed = new(() =>
    {
        var values = TestServers.Settings("INTAKE_TEST_SFTP");
        return values.TryGetValue("host", out var host)
            ? new Settings(host, int.Parse(values["port"], System.Globalization.CultureInfo.InvariantCulture), values["user"], values["key"], values["home"], values["hostkey"])
            {
                RsaHostPublicKey = values.GetValueOrDefault("rsa_hostkey"),
                RsaKey = values.GetValueOrDefault("rsa_key"),
                EcdsaKey = values.GetValueOrDefault("ecdsa_key"),
                PassphraseKey = values.GetValueOrDefault("passphrase_key"),
                Passphrase = values.GetValueOrDefault("passphrase"),
                Password = values.GetValueOrDefault("password"),
                KeyboardInteractivePort = values.TryGetValue("kbd_port", out var kbd) ? int.Parse(kbd, System.Globalization.CultureInfo.InvariantCulture) : null,
            }
            : null;
    });

    private static readonly Lazy<bool> Reachable = new(() => Parsed.Value is { } server && TestServers.Answers(server.Host, server.Port));

    public static bool IsReachable => Reachable.Value;

    public static Settings Server => Parsed.Value ?? throw new InvalidOperationException(
        "INTAKE_TEST_SFTP is not set: start the test server with 'eval \"$(scripts/servers/sshd.sh start)\"' (as root after 'scripts/servers/sshd.sh install')");

    /// <param name="Home">A local folder the server serves (tests create their files in it directly).</param>
    /// <param name="HostPublicKey">The server's host public key file (<c>type base64 comment</c>).</param>
    public sealed record Settings(string Host, int Port, string User, string PrivateKey, string Home, string HostPublicKey)
    {
        /// <summary>The server's second host key (RSA), offered after the ed25519 one.</summary>
        public string? RsaHostPublicKey { get; init; }

        public string? RsaKey { get; init; }

        public string? EcdsaKey { get; init; }

        /// <summary>An ed25519 key protected by <see cref="Passphrase"/>.</summary>
        public string? PassphraseKey { get; init; }

        public string? Passphrase { get; init; }

        /// <summary>The user's password, accepted on <see cref="Port"/> by the "password" method.</summary>
        public string? Password { get; init; }

        /// <summary>A port of the same server that accepts only keyboard-interactive (a PAM password prompt).</summary>
        public int? KeyboardInteractivePort { get; init; }

        /// <summary>The server's host key fingerprint, as <c>ssh-keygen -lf</c> prints it.</summary>
        public string HostKeyFingerprint(string? publicKeyFile = null) =>
            "SHA256:" + Convert.ToBase64String(System.Security.Cryptography.SHA256.HashData(Convert.FromBase64String(File.ReadAllText(publicKeyFile ?? HostPublicKey).Split(' ')[1]))).TrimEnd('=');

        /// <summary>A known_hosts line trusting the server's real host key.</summary>
        public string KnownHostsLine()
        {
            var parts = File.ReadAllText(HostPublicKey).Split(' ', StringSplitOptions.RemoveEmptyEntries);
            return $"{(Port == 22 ? Host : $"[{Host}]:{Port}")} {parts[0]} {parts[1]}";
        }
    }
}

/// <summary>A fact that needs the SFTP test server (see <see cref="TestServers.SkipUnless"/>).</summary>
public sealed class SftpFactAttribute : FactAttribute
{
    public SftpFactAttribute() =>
        Skip = TestServers.SkipUnless(TestSftp.IsReachable, "the SFTP test server is not reachable (eval \"$(scripts/servers/sshd.sh start)\" to set INTAKE_TEST_SFTP)");
}

/// <summary>
/// A fact that needs the SFTP test server started as root, which also offers passwords, keyboard-interactive and every
/// key type (<c>scripts/servers/sshd.sh start</c> as root); skipped locally without it, failing in CI.
/// </summary>
public sealed class SftpPasswordFactAttribute : FactAttribute
{
    public SftpPasswordFactAttribute() =>
        Skip = TestServers.SkipUnless(
            TestSftp.IsReachable && TestSftp.Server is { Password: not null, KeyboardInteractivePort: not null, PassphraseKey: not null, RsaKey: not null, EcdsaKey: not null, RsaHostPublicKey: not null },
            "the SFTP test server does not offer password, keyboard-interactive and every key type (start scripts/servers/sshd.sh as root to set INTAKE_TEST_SFTP with them)");
}
