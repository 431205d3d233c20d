namespace Intake.Tests.Shared;

/// <summary>
/// The OpenSSH server the SFTP tests run against, described by <c>INTAKE_TEST_SFTP</c> as
/// <c>scripts/servers/sshd.sh start</c> prints it:
/// <c>host=…;port=…;user=…;key=&lt;private key&gt;;home=&lt;folder the server serves&gt;;hostkey=&lt;host public key&gt;</c>.
/// </summary>
public static class TestSftp
{
    private static readonly Lazy<Settings?> Parsed = new(() =>
    {
        var values = TestServers.Settings("INTAKE_TEST_SFTP");
        return values.TryGetValue("host", out var host)
            ? new Settings(host, int.Parse(values["port"], System.Globalization.CultureInfo.InvariantCulture), values["user"], values["key"], values["home"], values["hostkey"])
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
