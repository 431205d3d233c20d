using System.Security.Cryptography;
using Intake.Core.Errors;
using Intake.Sources.S3;

namespace Intake.Sources.Tests.S3;

public sealed class S3SourceTests
{
    private static byte[] Bytes(int length, int seed = 1)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    private static async Task<List<SourceFile>> ListAsync(IFileSource source)
    {
        var files = new List<SourceFile>();
        await foreach (var file in source.ListAsync(CancellationToken.None))
        {
            files.Add(file);
        }

        return files;
    }

    [S3Fact]
    public async Task List_OffersTheObjectsUnderThePrefixThatMatchTheGlobs_WithKeysRelativeToIt()
    {
        var bucket = await TestS3.Http.CreateBucketAsync(
            ("outgoing/daily/a.csv", [1]),
            ("outgoing/daily/2026/01/b.csv", [2]),
            ("outgoing/daily/2026/01/b.txt", [3]),
            ("outgoing/daily/archive/old.csv", [4]),
            ("outgoing/daily/folder/", []),
            ("outgoing/dailyx/c.csv", [5]),
            ("elsewhere/d.csv", [6]));
        using var source = new S3Source(TestS3.Http.SourceOptions(bucket, o =>
        {
            o.Prefix = "/outgoing/daily/";
            o.Include = ["**/*.csv"];
            o.Exclude = ["archive/**"];
        }));

        var keys = (await ListAsync(source)).Select(f => f.Key).Order(StringComparer.Ordinal).ToList();

        // Not "outgoing/dailyx" (the prefix is a folder), not the folder marker, not the excluded or unmatched ones.
        keys.ShouldBe(["2026/01/b.csv", "a.csv"]);
        source.Describe("2026/01/b.csv").ShouldBe($"s3://{bucket}/outgoing/daily/2026/01/b.csv");
    }

    [S3Fact]
    public async Task List_FingerprintIsSizeAndETag_AndChangesWhenTheObjectIsRewrittenAtTheSameSize()
    {
        var first = Bytes(1000, seed: 1);
        var bucket = await TestS3.Http.CreateBucketAsync(("in/data.csv", first));
        using var source = new S3Source(TestS3.Http.SourceOptions(bucket, o => o.Prefix = "in"));

        var before = (await ListAsync(source)).Single();
        string etag;
        using (var client = TestS3.Http.Client())
        {
            etag = (await client.GetObjectMetadataAsync(bucket, "in/data.csv")).ETag.Trim('"');
        }

        await TestS3.Http.PutAsync(bucket, "in/data.csv", Bytes(1000, seed: 2));
        var after = (await ListAsync(source)).Single();

        before.Key.ShouldBe("data.csv");
        before.Size.ShouldBe(1000);
        etag.ShouldNotBeNullOrWhiteSpace();
        before.Fingerprint.ShouldBe($"size:1000;etag:{etag}");
        before.Modified.ShouldBeGreaterThan(DateTimeOffset.UtcNow.AddMinutes(-10));
        after.Size.ShouldBe(before.Size);
        after.Fingerprint.ShouldNotBe(before.Fingerprint);
    }

    [S3Fact]
    public async Task OpenListed_TheListedVersion_StreamsIt_AnObjectRewrittenSince_IsRefusedAsIntegrity()
    {
        var bucket = await TestS3.Http.CreateBucketAsync(("in/data.csv", Bytes(100, seed: 1)));
        using var s3 = new S3Source(TestS3.Http.SourceOptions(bucket, o => o.Prefix = "in"));
        IFileSource source = s3; // what the fetch step sees
        var listed = (await ListAsync(source)).Single();
        await using (var stream = await source.OpenListedAsync("data.csv", listed.Fingerprint, CancellationToken.None))
        {
            var copy = new MemoryStream();
            await stream.CopyToAsync(copy);
            copy.ToArray().ShouldBe(Bytes(100, seed: 1));
        }

        await TestS3.Http.PutAsync(bucket, "in/data.csv", Bytes(100, seed: 2)); // rewritten after the listing, before the fetch

        var e = await Should.ThrowAsync<IntakeException>(() => source.OpenListedAsync("data.csv", listed.Fingerprint, CancellationToken.None));
        e.Kind.ShouldBe(ErrorKind.Integrity);
        e.Message.ShouldContain($"s3://{bucket}/in/data.csv was rewritten after it was listed");
    }

    [S3Fact]
    public async Task List_PagesThroughAllObjects()
    {
        var objects = Enumerable.Range(0, 7).Select(i => ($"f{i:D2}.csv", new byte[] { (byte)i })).ToArray();
        var bucket = await TestS3.Http.CreateBucketAsync(objects);
        using var source = new S3Source(TestS3.Http.SourceOptions(bucket, o => o.ListPageSize = 3));

        var keys = (await ListAsync(source)).Select(f => f.Key).ToList();

        keys.ShouldBe(objects.Select(o => o.Item1));
    }

    [S3Fact]
    public async Task OpenRead_StreamsTheExactBytes()
    {
        var content = Bytes(3 * 1024 * 1024 + 11);
        var bucket = await TestS3.Http.CreateBucketAsync(("in/big.bin", content));
        using var source = new S3Source(TestS3.Http.SourceOptions(bucket, o => o.Prefix = "in"));
        var listed = (await ListAsync(source)).Single();

        byte[] read;
        await using (var stream = await source.OpenReadAsync(listed.Key, CancellationToken.None))
        {
            stream.Length.ShouldBe(content.Length);
            using var copy = new MemoryStream();
            await stream.CopyToAsync(copy);
            read = copy.ToArray();
        }

        read.Length.ShouldBe(content.Length);
        SHA256.HashData(read).ShouldBe(SHA256.HashData(content));
    }

    [S3Fact]
    public async Task OpenRead_OfAnObjectGoneSinceListing_ThrowsFileNotFound()
    {
        var bucket = await TestS3.Http.CreateBucketAsync();
        using var source = new S3Source(TestS3.Http.SourceOptions(bucket));

        var thrown = await Should.ThrowAsync<FileNotFoundException>(() => source.OpenReadAsync("gone.csv", CancellationToken.None));

        thrown.Message.ShouldContain($"s3://{bucket}/gone.csv");
    }

    [S3Fact]
    public async Task MissingBucket_AndUnknownKeys_AreConfigFailures()
    {
        var missing = "missing-" + Guid.NewGuid().ToString("N")[..12];
        using var noBucket = new S3Source(TestS3.Http.SourceOptions(missing));
        using var noAccess = new S3Source(TestS3.Http.SourceOptions(await TestS3.Http.CreateBucketAsync(), o =>
        {
            o.AccessKey = "NOBODY";
            o.SecretKey = "secret-7f3e";
        }));

        var bucketFailure = await Should.ThrowAsync<IntakeException>(() => ListAsync(noBucket));
        var accessFailure = await Should.ThrowAsync<IntakeException>(() => ListAsync(noAccess));

        bucketFailure.Kind.ShouldBe(ErrorKind.Config);
        bucketFailure.Message.ShouldContain($"bucket '{missing}' does not exist");
        accessFailure.Kind.ShouldBe(ErrorKind.Config);
        accessFailure.ToString().ShouldNotContain("secret-7f3e");
    }

    [S3Fact]
    public async Task ServerNotListening_IsTransient()
    {
        int port;
        using (var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0))
        {
            listener.Start();
            port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        }

        using var source = new S3Source(TestS3.Http.SourceOptions("any", o =>
        {
            o.ServiceUrl = $"http://127.0.0.1:{port}";
            o.MaxErrorRetry = 0;
        }));

        (await Should.ThrowAsync<IntakeException>(() => ListAsync(source))).Kind.ShouldBe(ErrorKind.Transient);
        (await Should.ThrowAsync<IntakeException>(() => source.OpenReadAsync("k", CancellationToken.None))).Kind.ShouldBe(ErrorKind.Transient);
    }

    [Fact]
    public void Options_ThatCannotWork_AreConfigFailuresListingEveryProblem()
    {
        var thrown = Should.Throw<IntakeException>(() => new S3Source(new S3SourceOptions
        {
            Bucket = "",
            Prefix = "a/../b",
            ServiceUrl = "not a url",
            Include = ["[a-"],
            AccessKey = "key-only",
        }));

        thrown.Kind.ShouldBe(ErrorKind.Config);
        foreach (var part in new[] { "'bucket'", "'prefix'", "'url'", "[a-", "'secret_key'" })
        {
            thrown.Message.ShouldContain(part);
        }
    }

    [Theory]
    [InlineData("../outside")]
    [InlineData("/abs")]
    [InlineData("a//b")]
    [InlineData("a\\b")]
    [InlineData("")]
    public async Task KeysThatAreNotRelativePaths_AreRejectedBeforeAnyRequest(string key)
    {
        using var source = new S3Source(new S3SourceOptions { Bucket = "b", ServiceUrl = "http://127.0.0.1:1", AccessKey = "a", SecretKey = "s" });

        await Should.ThrowAsync<ArgumentException>(() => source.OpenReadAsync(key, CancellationToken.None));
        Should.Throw<ArgumentException>(() => source.Describe(key));
    }
}
