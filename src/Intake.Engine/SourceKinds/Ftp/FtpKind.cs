using Intake.Core.Ports;
using Intake.Sources.Ftp;

namespace Intake.Engine.SourceKinds.Ftp;

/// <summary><c>source.kind: ftp</c>: a folder on an FTP or explicit-FTPS server (<see cref="FtpSource"/>).</summary>
internal sealed class FtpKind : FileSourceKind<FtpSourceOptions>
{
    public override string Name => "ftp";

    public override string Reads => "an FTP folder";

    public override IFileSource CreateSource(FtpSourceOptions options, TimeProvider time) => new FtpSource(options, time);

    /// <remarks>Secrets (password) are best given as <c>${VAR}</c>, from the environment or <c>.env</c>.</remarks>
    protected override FtpSourceOptions Read(SourceReading reading)
    {
        var src = reading.Source;
        var o = new FtpSourceOptions();
        o.Host = src.String("host", required: true) ?? o.Host;
        o.Port = src.Int("port", o.Port, 1, 65535);

        // Required: a pipeline names its account; the adapter's "anonymous" default is for code that means it.
        o.User = src.String("user", required: true) ?? o.User;
        o.Password = src.String("password", fallback: o.Password)!;
        switch (src.String("tls"))
        {
            case null: break;
            case "none": o.Tls = FtpTlsMode.None; break;
            case "explicit": o.Tls = FtpTlsMode.Explicit; break;
            case var tls: src.Report("tls", $"'{tls}' is not a TLS mode for FTP (none, explicit)"); break;
        }

        o.TrustedCertificateFile = src.String("trust_certificate") is { } certificate ? reading.ResolvePath(certificate) : o.TrustedCertificateFile;
        o.CertificateThumbprint = src.String("certificate_thumbprint") ?? o.CertificateThumbprint;

        // Not from YAML: CertificateValidation is a callback, for code that embeds the adapter.
        o.UseMlsd = src.Bool("use_mlsd", o.UseMlsd);
        o.UseEpsv = src.Bool("use_epsv", o.UseEpsv);

        // One key for both: how long to wait for a connection, and for the next reply or bytes of a transfer.
        if (src.Node("timeout") is not null)
        {
            o.ConnectTimeout = o.ReadTimeout = src.Duration("timeout", o.ReadTimeout);
        }

        o.RemoteDirectory = src.String("path", fallback: o.RemoteDirectory)!;
        o.Include = src.StringList("include")?.ToList() ?? o.Include;
        o.Exclude = src.StringList("exclude")?.ToList() ?? o.Exclude;
        o.IgnoreCase = src.Bool("ignore_case", o.IgnoreCase);
        o.StableFor = src.Duration("stable_for", o.StableFor);

        // Not from YAML: resuming a cut download follows the pipeline's retry settings (the fetch step's own
        // retries come on top), so one retry block governs the pipeline.
        o.Resume = new FtpResumePolicy
        {
            MaxRetries = Math.Max(1, reading.Retry.MaxAttempts - 1),
            BaseDelay = reading.Retry.BaseDelay,
            MaxDelay = reading.Retry.MaxDelay,
        };
        return o;
    }

    protected override string Location(FtpSourceOptions options) => options.RemoteDirectory;
}
