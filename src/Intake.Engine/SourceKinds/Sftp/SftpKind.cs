using Intake.Core.Ports;
using Intake.Sources.Sftp;

namespace Intake.Engine.SourceKinds.Sftp;

/// <summary><c>source.kind: sftp</c>: a folder on an SFTP server, reached with a key, a password or both (<see cref="SftpSource"/>).</summary>
internal sealed class SftpKind : FileSourceKind<SftpSourceOptions>
{
    public override string Name => "sftp";

    public override string Reads => "an SFTP folder";

    public override IFileSource CreateSource(SftpSourceOptions options, TimeProvider time) => new SftpSource(options, time);

    /// <remarks>Secrets (password, passphrase) are best given as <c>${VAR}</c>, from the environment or <c>.env</c>.</remarks>
    protected override SftpSourceOptions Read(SourceReading reading)
    {
        var src = reading.Source;
        var o = new SftpSourceOptions();
        o.Host = src.String("host", required: true) ?? o.Host;
        o.Port = src.Int("port", o.Port, 1, 65535);
        o.User = src.String("user", required: true) ?? o.User;
        o.PrivateKeyFile = src.String("key_file") is { } key ? reading.ResolvePath(key) : o.PrivateKeyFile;
        o.Passphrase = src.String("passphrase") ?? o.Passphrase;
        o.Password = src.String("password") ?? o.Password;
        o.KnownHostsFile = src.String("known_hosts") is { } knownHosts ? reading.ResolvePath(knownHosts) : o.KnownHostsFile;
        o.HostKeyFingerprint = src.String("host_key_fingerprint") ?? o.HostKeyFingerprint;
        o.AcceptNewHostKey = src.Bool("accept_new_host_key", o.AcceptNewHostKey);
        o.RemoteDirectory = src.String("path", fallback: o.RemoteDirectory)!;
        o.Include = src.StringList("include")?.ToList() ?? o.Include;
        o.Exclude = src.StringList("exclude")?.ToList() ?? o.Exclude;
        o.IgnoreCase = src.Bool("ignore_case", o.IgnoreCase);
        o.StableFor = src.Duration("stable_for", o.StableFor);
        o.ConnectTimeout = src.Duration("timeout", o.ConnectTimeout);
        o.MaxResumeAttempts = src.Int("max_resume_attempts", o.MaxResumeAttempts, 0, 100);
        return o;
    }

    protected override string Location(SftpSourceOptions options) => options.RemoteDirectory;
}
