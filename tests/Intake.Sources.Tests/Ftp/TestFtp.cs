using Intake.Sources.Ftp;
using Intake.Tests.Shared;

namespace Intake.Sources.Tests.Ftp;

/// <summary>
/// The vsftpd the tests run against, from <c>INTAKE_TEST_FTP</c> as printed by
/// <c>scripts/servers/vsftpd.sh start</c>: <c>host=..;port=..;user=..;password=..;home=..;cert=..</c>.
/// <c>home</c> is the FTP root on this machine: tests drop files there for the server to serve.
/// </summary>
public static class TestFtp
{
    private static readonly Dictionary<string, string> Settings = TestServers.Settings("INTAKE_TEST_FTP");

    private static readonly Lazy<bool> Reachable = new(() =>
        Settings.ContainsKey("host") && Settings.ContainsKey("home") && TestServers.Answers(Host, Port) && Directory.Exists(Home));

    public static bool IsReachable => Reachable.Value;

    public static string Host => Settings["host"];

    public static int Port => int.Parse(Settings.GetValueOrDefault("port", "21"), System.Globalization.CultureInfo.InvariantCulture);

    public static string User => Settings["user"];

    public static string Password => Settings["password"];

    public static string Home => Settings["home"];

    public static string CertificateFile => Settings["cert"];

    /// <summary>Options for a source on <paramref name="remoteDirectory"/> with test-friendly timeouts and no waiting.</summary>
    public static FtpSourceOptions Options(string remoteDirectory, FtpTlsMode tls = FtpTlsMode.None) => new()
    {
        Host = Host,
        Port = Port,
        User = User,
        Password = Password,
        Tls = tls,
        TrustedCertificateFile = tls == FtpTlsMode.Explicit ? CertificateFile : null,
        RemoteDirectory = remoteDirectory,
        StableFor = TimeSpan.Zero,
        ConnectTimeout = TimeSpan.FromSeconds(5),
        ReadTimeout = TimeSpan.FromSeconds(10),
        Resume = new FtpResumePolicy { MaxRetries = 3, BaseDelay = TimeSpan.Zero, MaxDelay = TimeSpan.Zero },
    };

    /// <summary>A fresh folder in the FTP root, deleted on dispose.</summary>
    public static TestFolder NewFolder() => new();

    public static byte[] RandomBytes(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }
}

/// <summary>A folder under the FTP root: <see cref="LocalPath"/> to write, <see cref="RemotePath"/> to list.</summary>
public sealed class TestFolder : IDisposable
{
    public TestFolder()
    {
        var name = "t-" + Guid.NewGuid().ToString("N")[..12];
        LocalPath = Path.Combine(TestFtp.Home, name);
        RemotePath = "/" + name;
        Directory.CreateDirectory(LocalPath);
    }

    public string LocalPath { get; }

    public string RemotePath { get; }

    /// <summary>Writes a file (creating folders) and returns its full local path.</summary>
    public string Write(string relativePath, byte[] content, DateTimeOffset? modified = null)
    {
        var path = Path.Combine(LocalPath, relativePath);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllBytes(path, content);
        if (modified is { } m)
        {
            File.SetLastWriteTimeUtc(path, m.UtcDateTime);
        }

        return path;
    }

    public string Write(string relativePath, string content, DateTimeOffset? modified = null) =>
        Write(relativePath, System.Text.Encoding.UTF8.GetBytes(content), modified);

    public void Dispose()
    {
        try
        {
            Directory.Delete(LocalPath, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

/// <summary>
/// A fact that needs the test vsftpd: skipped on a developer machine without one, but never in CI
/// (<c>CI=true</c>), where an unreachable server must fail the run instead of hiding it.
/// </summary>
public sealed class FtpFactAttribute : FactAttribute
{
    public FtpFactAttribute() =>
        Skip = TestServers.SkipUnless(TestFtp.IsReachable, "vsftpd is not reachable (scripts/servers/vsftpd.sh start, then export INTAKE_TEST_FTP)");
}
