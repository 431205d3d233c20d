using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Intake.Core.Errors;

namespace Intake.Sources.Ftp;

/// <summary>
/// Decides whether to trust the server certificate of a control or data connection, following
/// <see cref="FtpClientOptions"/>: a custom callback, a pinned fingerprint, a trusted CA or certificate
/// file, or else the system trust store. Remembers the last certificate it refused so that the failure
/// message can show the operator what to trust.
/// </summary>
internal sealed class FtpCertificateValidator
{
    private readonly RemoteCertificateValidationCallback? _custom;
    private readonly string? _thumbprint;
    private readonly X509Certificate2Collection? _trusted;

    public FtpCertificateValidator(FtpClientOptions options)
    {
        _custom = options.CertificateValidation;
        _thumbprint = options.CertificateThumbprint is null ? null : NormalizeThumbprint(options.CertificateThumbprint);
        if (options.TrustedCertificateFile is { } file)
        {
            _trusted = LoadTrusted(file, options.Endpoint);
        }
    }

    /// <summary>"subject, SHA-256 fingerprint, what was wrong" of the last refused certificate, for the message.</summary>
    public string? LastRefusal { get; private set; }

    public bool Validate(object sender, X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors)
    {
        if (_custom is not null)
        {
            return Remember(_custom(sender, certificate, chain, errors), certificate, errors, "refused by the custom validation");
        }

        if (certificate is null)
        {
            LastRefusal = "the server sent no certificate";
            return false;
        }

        if (_thumbprint is not null)
        {
            var actual = _thumbprint.Length == 64
                ? certificate.GetCertHashString(HashAlgorithmName.SHA256)
                : certificate.GetCertHashString(HashAlgorithmName.SHA1);
            return Remember(string.Equals(actual, _thumbprint, StringComparison.OrdinalIgnoreCase), certificate, errors, "its fingerprint is not the configured one");
        }

        if (_trusted is not null)
        {
            // The name must still match and a certificate must be present; only the chain is judged
            // against the configured file instead of the system store.
            if ((errors & ~SslPolicyErrors.RemoteCertificateChainErrors) != SslPolicyErrors.None)
            {
                return Remember(false, certificate, errors, "it does not name this host");
            }

            using var custom = new X509Chain();
            custom.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
            custom.ChainPolicy.CustomTrustStore.AddRange(_trusted);
            custom.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
            if (chain is not null)
            {
                // Intermediates the server sent along.
                foreach (var element in chain.ChainElements)
                {
                    custom.ChainPolicy.ExtraStore.Add(element.Certificate);
                }
            }

            using var leaf = new X509Certificate2(certificate);
            return Remember(custom.Build(leaf), certificate, errors, "it does not chain to the trusted certificate file");
        }

        return Remember(errors == SslPolicyErrors.None, certificate, errors, "the system does not trust it");
    }

    /// <summary>Upper-case hex without separators, or null when it is not 40 or 64 hex digits.</summary>
    public static string? NormalizeThumbprint(string text)
    {
        var hex = new string(text.Where(c => c is not (':' or ' ' or '-')).ToArray()).ToUpperInvariant();
        return hex.Length is 40 or 64 && hex.All(char.IsAsciiHexDigit) ? hex : null;
    }

    private bool Remember(bool ok, X509Certificate? certificate, SslPolicyErrors errors, string reason)
    {
        if (!ok)
        {
            LastRefusal = certificate is null
                ? $"no certificate ({reason})"
                : $"certificate '{certificate.Subject}' with SHA-256 fingerprint {certificate.GetCertHashString(HashAlgorithmName.SHA256)} is not trusted: {reason} ({errors})";
        }

        return ok;
    }

    private static X509Certificate2Collection LoadTrusted(string file, string endpoint)
    {
        try
        {
            var collection = new X509Certificate2Collection();
            var text = File.ReadAllText(file);
            if (text.Contains("-----BEGIN CERTIFICATE-----", StringComparison.Ordinal))
            {
                collection.ImportFromPem(text); // a bundle may hold several CAs
            }
            else
            {
                collection.Add(X509CertificateLoader.LoadCertificateFromFile(file));
            }

            return collection.Count > 0
                ? collection
                : throw IntakeException.Config($"{endpoint}: trusted certificate file {file} holds no certificate");
        }
        catch (Exception e) when (e is CryptographicException or IOException or UnauthorizedAccessException)
        {
            throw IntakeException.Config($"{endpoint}: cannot read trusted certificate file {file}: {e.Message}", e);
        }
    }
}
