using System.Net;
using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Amazon;
using Amazon.Runtime;
using Amazon.S3;

namespace Intake.Shared.S3;

/// <summary>
/// How to reach an S3-compatible service. One source file compiled into both <c>Intake.Storage</c> and
/// <c>Intake.Sources</c> (adapters never reference each other), so the store and the source build their
/// clients, and classify failures, the same way.
/// </summary>
/// <param name="ServiceUrl">Endpoint of a non-AWS service (<c>http(s)://host:port</c>); empty for AWS itself, chosen by <paramref name="Region"/>.</param>
/// <param name="Region">Signing region; <c>us-east-1</c> for most S3-compatible servers.</param>
/// <param name="AccessKey">Both keys, or neither for the SDK's default credential chain (environment, profile, instance role).</param>
/// <param name="SecretKey">Never put in a message.</param>
/// <param name="ForcePathStyle">Path-style addressing (<c>host/bucket/key</c>): what servers without wildcard DNS need.</param>
/// <param name="CaFile">PEM file of extra trusted certificates, for an https endpoint with a private or self-signed certificate.</param>
/// <param name="MaxErrorRetry">Retries of one request by the SDK (throttling, 5xx, I/O errors).</param>
/// <param name="RequestTimeout">One request, until its response headers arrive (uploads include sending the body).</param>
internal sealed record S3Endpoint(
    string? ServiceUrl,
    string Region,
    string? AccessKey,
    string? SecretKey,
    bool ForcePathStyle,
    string? CaFile,
    int MaxErrorRetry,
    TimeSpan RequestTimeout)
{
    /// <summary>
    /// What the configuration calls <see cref="CaFile"/>, for messages: <c>ca_file</c> by default,
    /// <c>trust_certificate</c> for a pipeline's S3 source, so a message names a key its reader accepts.
    /// </summary>
    public string CaFileSetting { get; init; } = "ca_file";

    /// <summary>Payload signing costs a second hash of every byte; TLS already protects the body, and Content-MD5 is checked by the server.</summary>
    public bool IsHttps => ServiceUrl is null || ServiceUrl.Length == 0 || ServiceUrl.StartsWith("https://", StringComparison.OrdinalIgnoreCase);

    /// <summary>Every problem of the settings, each naming its key (never a secret's value).</summary>
    public IEnumerable<string> Problems()
    {
        if (!string.IsNullOrEmpty(ServiceUrl) &&
            (!Uri.TryCreate(ServiceUrl, UriKind.Absolute, out var url) || (url.Scheme != Uri.UriSchemeHttp && url.Scheme != Uri.UriSchemeHttps)))
        {
            yield return $"'url' must be an absolute http:// or https:// address, not '{ServiceUrl}'";
        }

        if (string.IsNullOrWhiteSpace(Region))
        {
            yield return "'region' is not set (us-east-1 suits most S3-compatible servers)";
        }

        if (string.IsNullOrEmpty(AccessKey) != string.IsNullOrEmpty(SecretKey))
        {
            yield return "set both 'access_key' and 'secret_key', or neither to use the default AWS credentials";
        }

        if (MaxErrorRetry is < 0 or > 20)
        {
            yield return $"'max_error_retry' must be between 0 and 20, not {MaxErrorRetry}";
        }

        if (RequestTimeout <= TimeSpan.Zero)
        {
            yield return $"'request_timeout' must be positive, not {RequestTimeout}";
        }

        if (!string.IsNullOrEmpty(CaFile) && LoadCertificates(CaFile, CaFileSetting, out var error) is null)
        {
            yield return error!;
        }
    }

    /// <summary>Builds a client. Call <see cref="Problems"/> first: this assumes valid settings.</summary>
    /// <param name="wrapHandler">Tests only: wraps the HTTP handler to observe or break requests.</param>
    public AmazonS3Client CreateClient(Func<HttpMessageHandler, HttpMessageHandler>? wrapHandler = null)
    {
        var config = new AmazonS3Config
        {
            ForcePathStyle = ForcePathStyle,
            // The SDK's standard retry mode already classifies throttling, 5xx and I/O failures, backs off with
            // jitter, rewinds request bodies and corrects clock skew; a second retry layer around it would
            // multiply attempts. The worker's per-step retry sits above this one for longer outages.
            RetryMode = RequestRetryMode.Standard,
            MaxErrorRetry = MaxErrorRetry,
            Timeout = RequestTimeout,
            // SDK v4 adds CRC32 checksums (in an aws-chunked body, with a trailer) to every upload by default.
            // Many S3-compatible servers (s3rver among them) store that framing as object bytes. Integrity comes
            // from Content-MD5 and the ETag checks instead, which every S3 implementation supports.
            RequestChecksumCalculation = RequestChecksumCalculation.WHEN_REQUIRED,
            ResponseChecksumValidation = ResponseChecksumValidation.WHEN_REQUIRED,
            HttpClientFactory = new ClientFactory(
                string.IsNullOrEmpty(CaFile) ? null : LoadCertificates(CaFile, CaFileSetting, out _),
                wrapHandler),
        };

        if (string.IsNullOrEmpty(ServiceUrl))
        {
            config.RegionEndpoint = RegionEndpoint.GetBySystemName(Region);
        }
        else
        {
            config.ServiceURL = ServiceUrl;
            // Non-AWS servers sign with a fixed region; without it the SDK guesses one from the host name.
            config.AuthenticationRegion = Region;
        }

        return string.IsNullOrEmpty(AccessKey)
            ? new AmazonS3Client(config)
            : new AmazonS3Client(new BasicAWSCredentials(AccessKey, SecretKey), config);
    }

    private static X509Certificate2Collection? LoadCertificates(string path, string setting, out string? error)
    {
        try
        {
            var certificates = new X509Certificate2Collection();
            certificates.ImportFromPemFile(path);
            error = certificates.Count == 0 ? $"'{setting}' {path} holds no PEM certificate" : null;
            return error is null ? certificates : null;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or CryptographicException)
        {
            error = $"'{setting}' {path} cannot be read as PEM certificates: {ex.Message}";
            return null;
        }
    }

    /// <summary>
    /// The SDK's HTTP clients, with one addition: certificates from <see cref="CaFile"/> are trusted as roots
    /// besides the system's. Host name checks stay on, so a certificate for another host is still refused.
    /// </summary>
    private sealed class ClientFactory(X509Certificate2Collection? extraRoots, Func<HttpMessageHandler, HttpMessageHandler>? wrapHandler) : HttpClientFactory
    {
        public override HttpClient CreateHttpClient(IClientConfig clientConfig)
        {
            var handler = new SocketsHttpHandler
            {
                // As the SDK's own factory: S3 answers some requests with redirects the SDK handles itself,
                // and bodies are bytes, never to be decompressed on the way.
                AllowAutoRedirect = clientConfig.AllowAutoRedirect,
                AutomaticDecompression = DecompressionMethods.None,
                // A server that is down refuses at once; one that is unreachable should not hold a worker for minutes.
                ConnectTimeout = TimeSpan.FromSeconds(15),
                // Re-resolve DNS now and then (endpoints behind load balancers move).
                PooledConnectionLifetime = TimeSpan.FromMinutes(5),
            };
            if (clientConfig.MaxConnectionsPerServer is { } max)
            {
                handler.MaxConnectionsPerServer = max;
            }

            if (extraRoots is not null)
            {
                handler.SslOptions.RemoteCertificateValidationCallback = (_, certificate, chain, errors) => Trusted(certificate, chain, errors);
            }

            return new HttpClient(wrapHandler?.Invoke(handler) ?? handler)
            {
                Timeout = clientConfig.Timeout ?? TimeSpan.FromSeconds(100),
            };
        }

        private bool Trusted(X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors)
        {
            if (errors == SslPolicyErrors.None)
            {
                return true;
            }

            // Only an unknown issuer can be fixed by extra roots; a wrong host name or a missing certificate never.
            if (errors != SslPolicyErrors.RemoteCertificateChainErrors || certificate is not X509Certificate2 leaf)
            {
                return false;
            }

            using var custom = new X509Chain();
            custom.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
            custom.ChainPolicy.CustomTrustStore.AddRange(extraRoots!);
            // Private CAs rarely publish revocation lists; a check would fail every handshake.
            custom.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
            if (chain is not null)
            {
                foreach (var element in chain.ChainElements)
                {
                    custom.ChainPolicy.ExtraStore.Add(element.Certificate);
                }
            }

            return custom.Build(leaf);
        }
    }
}
