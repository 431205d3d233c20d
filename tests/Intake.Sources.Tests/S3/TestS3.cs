using Amazon.S3;
using Amazon.S3.Model;
using Intake.Shared.S3;
using Intake.Sources.S3;
using Intake.Tests.Shared;

namespace Intake.Sources.Tests.S3;

/// <summary>
/// The S3-compatible server the tests run against, from <c>INTAKE_TEST_S3</c> as printed by
/// <c>scripts/servers/s3rver.sh start</c>: <c>url=...;access_key=...;secret_key=...;region=...</c>.
/// </summary>
internal sealed record TestS3(string Url, string AccessKey, string SecretKey, string Region)
{
    public const string Variable = "INTAKE_TEST_S3";

    private static readonly Lazy<TestS3?> Server = new(Parse);

    public static TestS3 Http => Server.Value ?? throw new InvalidOperationException($"{Variable} is not set or not reachable");

    public static bool IsAvailable => Server.Value is not null;

    public S3SourceOptions SourceOptions(string bucket, Action<S3SourceOptions>? configure = null)
    {
        var options = new S3SourceOptions
        {
            ServiceUrl = Url,
            Region = Region,
            AccessKey = AccessKey,
            SecretKey = SecretKey,
            Bucket = bucket,
            MaxErrorRetry = 1,
        };
        configure?.Invoke(options);
        return options;
    }

    public AmazonS3Client Client() => new S3Endpoint(Url, Region, AccessKey, SecretKey, true, null, 1, TimeSpan.FromMinutes(1)).CreateClient();

    /// <summary>Creates a bucket with a random name holding the given objects, written as a producer would.</summary>
    public async Task<string> CreateBucketAsync(params (string Key, byte[] Content)[] objects)
    {
        var name = "s-" + Guid.NewGuid().ToString("N")[..24];
        using var client = Client();
        await client.PutBucketAsync(new PutBucketRequest { BucketName = name });
        foreach (var (key, content) in objects)
        {
            await PutAsync(client, name, key, content);
        }

        return name;
    }

    public async Task PutAsync(string bucket, string key, byte[] content)
    {
        using var client = Client();
        await PutAsync(client, bucket, key, content);
    }

    private static Task PutAsync(AmazonS3Client client, string bucket, string key, byte[] content) =>
        client.PutObjectAsync(new PutObjectRequest { BucketName = bucket, Key = key, InputStream = new MemoryStream(content), UseChunkEncoding = false });

    private static TestS3? Parse()
    {
        var parts = TestServers.Settings(Variable);
        if (!parts.TryGetValue("url", out var url))
        {
            return null;
        }

        var server = new TestS3(
            url,
            parts.GetValueOrDefault("access_key", "S3RVER"),
            parts.GetValueOrDefault("secret_key", "S3RVER"),
            parts.GetValueOrDefault("region", "us-east-1"));
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
    public S3FactAttribute() =>
        Skip = TestServers.SkipUnless(TestS3.IsAvailable, $"no S3 test server ({TestS3.Variable} unset or unreachable; start one with scripts/servers/s3rver.sh start)");
}
