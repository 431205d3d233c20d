using Amazon.S3;
using Amazon.S3.Model;
using Intake.Shared.S3;
using Intake.Storage.S3;
using Intake.Tests.Shared;

namespace Intake.Storage.Tests.S3;

/// <summary>
/// The S3-compatible server the tests run against, from <c>INTAKE_TEST_S3</c> (plain http) and
/// <c>INTAKE_TEST_S3_TLS</c> (https with a self-signed certificate), as printed by
/// <c>scripts/servers/s3rver.sh start</c>: <c>url=...;access_key=...;secret_key=...;region=...;ca_file=...</c>.
/// </summary>
internal sealed record TestS3(string Url, string AccessKey, string SecretKey, string Region, string? CaFile)
{
    public const string HttpVariable = "INTAKE_TEST_S3";
    public const string TlsVariable = "INTAKE_TEST_S3_TLS";

    private static readonly Lazy<TestS3?> HttpServer = new(() => Parse(HttpVariable));
    private static readonly Lazy<TestS3?> TlsServer = new(() => Parse(TlsVariable));

    public static TestS3 Http => HttpServer.Value ?? throw new InvalidOperationException($"{HttpVariable} is not set or not reachable");

    public static TestS3 Tls => TlsServer.Value ?? throw new InvalidOperationException($"{TlsVariable} is not set or not reachable");

    public static bool IsAvailable(bool tls) => (tls ? TlsServer : HttpServer).Value is not null;

    public S3StoreOptions StoreOptions(string bucket, Action<S3StoreOptions>? configure = null)
    {
        var options = new S3StoreOptions
        {
            Name = "s3-test",
            ServiceUrl = Url,
            Region = Region,
            AccessKey = AccessKey,
            SecretKey = SecretKey,
            CaFile = CaFile,
            Bucket = bucket,
            // Quick failures: the tests that break the server should not sit in backoff.
            MaxErrorRetry = 1,
        };
        configure?.Invoke(options);
        return options;
    }

    /// <summary>A client for arranging and inspecting buckets behind the store's back.</summary>
    public AmazonS3Client Client() => new S3Endpoint(Url, Region, AccessKey, SecretKey, true, CaFile, 1, TimeSpan.FromMinutes(1)).CreateClient();

    /// <summary>Creates a bucket with a random name no other test uses.</summary>
    public async Task<string> CreateBucketAsync()
    {
        var name = "t-" + Guid.NewGuid().ToString("N")[..24];
        using var client = Client();
        await client.PutBucketAsync(new PutBucketRequest { BucketName = name });
        return name;
    }

    /// <summary>Every key in a bucket, as the server lists them.</summary>
    public async Task<List<string>> RawKeysAsync(string bucket)
    {
        using var client = Client();
        var keys = new List<string>();
        var request = new ListObjectsV2Request { BucketName = bucket };
        ListObjectsV2Response page;
        do
        {
            page = await client.ListObjectsV2Async(request);
            keys.AddRange((page.S3Objects ?? []).Select(o => o.Key));
            request.ContinuationToken = page.NextContinuationToken;
        }
        while (page.IsTruncated == true);

        return keys;
    }

    private static TestS3? Parse(string variable)
    {
        var parts = TestServers.Settings(variable);
        if (!parts.TryGetValue("url", out var url))
        {
            return null;
        }

        var server = new TestS3(
            url,
            parts.GetValueOrDefault("access_key", "S3RVER"),
            parts.GetValueOrDefault("secret_key", "S3RVER"),
            parts.GetValueOrDefault("region", "us-east-1"),
            parts.GetValueOrDefault("ca_file"));
        var uri = new Uri(url);
        return TestServers.Answers(uri.Host, uri.Port) ? server : null;
    }
}

/// <summary>
/// A fact that needs the S3 test server: skipped on a developer machine without one, but never in CI
/// (<c>CI=true</c>), where an unreachable server must fail the run instead of hiding it.
/// </summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class S3FactAttribute : FactAttribute
{
    /// <summary>Parameterless as well, for <see cref="Intake.Tests.Shared.RequiresServerAttribute"/>, which creates the attribute to read its skip reason.</summary>
    public S3FactAttribute()
        : this(tls: false)
    {
    }

    public S3FactAttribute(bool tls) =>
        Skip = TestServers.SkipUnless(TestS3.IsAvailable(tls), $"no S3 test server ({(tls ? TestS3.TlsVariable : TestS3.HttpVariable)} unset or unreachable; start one with scripts/servers/s3rver.sh start)");
}
