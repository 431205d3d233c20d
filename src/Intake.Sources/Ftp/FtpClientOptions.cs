using System.Globalization;
using System.Net.Security;
using Intake.Core.Errors;

namespace Intake.Sources.Ftp;

/// <summary>Whether the FTP session is encrypted.</summary>
public enum FtpTlsMode
{
    /// <summary>Plain FTP: user, password and files cross the network readable. Only for trusted networks.</summary>
    None,

    /// <summary>
    /// Explicit FTPS (RFC 4217): connect on the normal port, then <c>AUTH TLS</c> before logging in, and
    /// <c>PROT P</c> so that listings and files travel encrypted too. A server that refuses fails the
    /// connection: there is no silent fallback to plain text.
    /// </summary>
    Explicit,
}

/// <summary>
/// How to reach and log in to an FTP server, and how far to trust it. Shared by <see cref="FtpClient"/>
/// and <see cref="FtpSource"/> (whose options add what to take).
/// </summary>
public class FtpClientOptions
{
    /// <summary>Host name or IP address of the server. Required.</summary>
    public string Host { get; set; } = "";

    /// <summary>Control port. Default 21 (explicit FTPS uses the same port).</summary>
    public int Port { get; set; } = 21;

    /// <summary>User name. Default <c>anonymous</c>.</summary>
    public string User { get; set; } = "anonymous";

    /// <summary>Password. Never written to a message or a log.</summary>
    public string Password { get; set; } = "";

    /// <summary>Plain or explicit TLS. Default <see cref="FtpTlsMode.None"/>.</summary>
    public FtpTlsMode Tls { get; set; } = FtpTlsMode.None;

    /// <summary>
    /// How long to wait for a TCP connection (control or data) to open. Default 30 seconds (a pipeline's
    /// <c>timeout</c>, which sets this and <see cref="ReadTimeout"/>): long enough for a slow link, short
    /// enough that a firewall that drops packets fails the attempt instead of hanging it.
    /// </summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// How long a reply or the next bytes of a transfer may take before the connection counts as dead.
    /// An idle limit, not a limit on the whole transfer: a large file downloads for as long as bytes keep
    /// coming. Default 30 seconds (a pipeline's <c>timeout</c>); servers that compute a large listing or
    /// open files on slow storage before they answer may need more.
    /// </summary>
    public TimeSpan ReadTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// A PEM or DER file holding the certificate authority that signed the server's certificate, or the
    /// server's own (self-signed) certificate. When set, a server certificate is accepted when it chains
    /// to a certificate of this file and names the host; the system trust store is not consulted. Default:
    /// none (the system trust store decides).
    /// </summary>
    public string? TrustedCertificateFile { get; set; }

    /// <summary>
    /// The SHA-256 (64 hex digits) or SHA-1 (40) fingerprint of the one server certificate to accept,
    /// whatever its chain, dates or names: pinning, for servers whose certificate cannot be validated
    /// otherwise. ':' and spaces are ignored. The rejection message of an untrusted server prints its
    /// SHA-256 fingerprint to copy here once verified.
    /// </summary>
    public string? CertificateThumbprint { get; set; }

    /// <summary>A custom decision on the server certificate (code only); when set, it alone decides.</summary>
    public RemoteCertificateValidationCallback? CertificateValidation { get; set; }

    /// <summary>
    /// List with MLSD (exact sizes and UTC times) when the server announces it in FEAT. Default true;
    /// false forces LIST, for servers whose MLSD is broken.
    /// </summary>
    public bool UseMlsd { get; set; } = true;

    /// <summary>Try EPSV before PASV. Default true; PASV is used when the server refuses EPSV.</summary>
    public bool UseEpsv { get; set; } = true;

    /// <summary>Where the server is, for messages: <c>ftp://host:port</c>. Never contains the password.</summary>
    public string Endpoint => string.Create(CultureInfo.InvariantCulture, $"{(Tls == FtpTlsMode.Explicit ? "ftpes" : "ftp")}://{Host}:{Port}");

    /// <summary>Reports the first setting that cannot work.</summary>
    /// <exception cref="IntakeException">Config, naming the setting.</exception>
    public virtual void Validate()
    {
        if (string.IsNullOrWhiteSpace(Host))
        {
            throw IntakeException.Config("ftp: 'host' is not set");
        }

        if (Port is < 1 or > 65535)
        {
            throw IntakeException.Config($"ftp {Host}: 'port' {Port} is not a TCP port (1 to 65535)");
        }

        if (ConnectTimeout <= TimeSpan.Zero || ReadTimeout <= TimeSpan.Zero)
        {
            throw IntakeException.Config($"{Endpoint}: timeouts must be positive (connect {ConnectTimeout}, read {ReadTimeout})");
        }

        if (ContainsLineBreak(User) || ContainsLineBreak(Password))
        {
            throw IntakeException.Config($"{Endpoint}: the user name or password contains a line break, which FTP cannot send");
        }

        if (!Enum.IsDefined(Tls))
        {
            throw IntakeException.Config($"{Endpoint}: 'tls' must be none or explicit");
        }

        if (CertificateThumbprint is not null && FtpCertificateValidator.NormalizeThumbprint(CertificateThumbprint) is null)
        {
            throw IntakeException.Config($"{Endpoint}: 'certificate_thumbprint' must be a SHA-256 (64 hex digits) or SHA-1 (40 hex digits) fingerprint");
        }

        if (TrustedCertificateFile is not null && !File.Exists(TrustedCertificateFile))
        {
            throw IntakeException.Config($"{Endpoint}: trusted certificate file {TrustedCertificateFile} does not exist");
        }
    }

    private static bool ContainsLineBreak(string? s) => s is not null && s.AsSpan().IndexOfAny('\r', '\n') >= 0;
}
