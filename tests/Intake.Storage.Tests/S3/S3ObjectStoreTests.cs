using System.Net.Sockets;
using Amazon.S3.Model;
using Intake.Core.Errors;
using Intake.Core.Ports;
using Intake.Storage.S3;

using Intake.Tests.Shared;

namespace Intake.Storage.Tests.S3;

/// <summary>What only the S3 store does: multipart uploads, bounded memory, ETag checks, failures of the server.</summary>
public sealed class S3ObjectStoreTests
{
    private const int PartSize = S3StoreOptions.MinPartSize;

    private static async Task<(S3ObjectStore Store, RecordingHandler Http, string Bucket)> StoreAsync(Action<S3StoreOptions>? configure = null)
    {
        var bucket = await TestS3.Http.CreateBucketAsync();
        var http = new RecordingHandler();
        var store = new S3ObjectStore(TestS3.Http.StoreOptions(bucket, configure), http.Wrap);
        return (store, http, bucket);
    }

    private static async Task<byte[]> ReadAsync(IObjectStore store, string area, string key) =>
        await TestStreams.ReadAllAsync(await store.OpenReadAsync(area, key, CancellationToken.None));

    [S3Fact]
    public async Task Put_OfManyParts_UploadsInPartsWithBoundedMemoryAndReadsBackByteExact()
    {
        var (store, http, _) = await StoreAsync(o =>
        {
            o.PartSize = PartSize;
            o.MaxConcurrentParts = 2;
        });
        using var _ = store;
        var content = TestStreams.Bytes(8 * PartSize + 12345);
        var source = new ReadAheadStream(content, () => http.AcknowledgedPartBytes);

        var put = await store.PutAsync(Areas.Inbox, "big/file.bin", source, CancellationToken.None);

        put.Size.ShouldBe(content.Length);
        put.Sha256.ShouldBe(TestStreams.Sha256(content));
        http.Count("PUT", "partNumber=").ShouldBe(9);
        http.Count("POST", "uploadId=").ShouldBe(1); // one CompleteMultipartUpload
        http.MaxPartsInFlight.ShouldBeLessThanOrEqualTo(2);
        // Never more than MaxConcurrentParts parts (and the one byte of look-ahead) read beyond what the server
        // acknowledged: memory is bounded by the options, not by the object.
        source.MaxReadAhead.ShouldBeLessThanOrEqualTo(2L * PartSize + 1);
        (await ReadAsync(store, Areas.Inbox, "big/file.bin")).ShouldBeSameBytes(content);
        // The checksum is attached after the upload completed, and survives in the object's metadata.
        (await store.StatAsync(Areas.Inbox, "big/file.bin", CancellationToken.None))!.Sha256.ShouldBe(put.Sha256);
    }

    [S3Fact]
    public async Task Put_OfExactlyOnePart_IsASinglePutObject_AndOneByteMoreIsTwoParts()
    {
        var (store, http, _) = await StoreAsync(o => o.PartSize = PartSize);
        using var _ = store;
        var exact = TestStreams.Bytes(PartSize, seed: 3);
        var oneMore = TestStreams.Bytes(PartSize + 1, seed: 4);

        await store.PutAsync(Areas.Inbox, "exact", new MemoryStream(exact), CancellationToken.None);
        var single = http.Requests.ToList();
        await store.PutAsync(Areas.Inbox, "one-more", new MemoryStream(oneMore), CancellationToken.None);

        single.Count(r => r.Contains("uploads", StringComparison.Ordinal)).ShouldBe(0);
        http.Count("PUT", "one-more?partNumber=").ShouldBe(2);
        (await ReadAsync(store, Areas.Inbox, "exact")).ShouldBeSameBytes(exact);
        (await ReadAsync(store, Areas.Inbox, "one-more")).ShouldBeSameBytes(oneMore);
        (await store.StatAsync(Areas.Inbox, "one-more", CancellationToken.None))!.Sha256.ShouldBe(TestStreams.Sha256(oneMore));
    }

    [S3Fact]
    public async Task Put_WhenTheSourceFailsDuringAMultipartUpload_AbortsItAndLeavesNoObject()
    {
        var (store, http, bucket) = await StoreAsync(o => o.PartSize = PartSize);
        using var _ = store;

        var thrown = await Should.ThrowAsync<IOException>(() => store.PutAsync(
            Areas.Inbox, "broken.bin", new FailingStream(TestStreams.Bytes(4 * PartSize), 2 * PartSize + 100), CancellationToken.None));

        thrown.Message.ShouldBe("connection reset by peer");
        http.Count("PUT", "partNumber=").ShouldBeGreaterThanOrEqualTo(1);
        http.Count("POST", "uploadId=").ShouldBe(0); // never completed, so never visible
        http.Count("DELETE", "broken.bin?uploadId=").ShouldBe(1); // the abort
        (await store.StatAsync(Areas.Inbox, "broken.bin", CancellationToken.None)).ShouldBeNull();
        (await TestS3.Http.RawKeysAsync(bucket)).ShouldBeEmpty();
    }

    [S3Fact]
    public async Task Put_WhenAPartFails_ReportsThatFailureAsTransientAndAbortsTheUpload()
    {
        var (store, http, bucket) = await StoreAsync(o =>
        {
            o.PartSize = PartSize;
            o.MaxErrorRetry = 0;
        });
        using var _ = store;
        http.Fail = line => line.Contains("partNumber=2", StringComparison.Ordinal) ? new HttpRequestException("connection reset", new SocketException(104)) : null;

        var thrown = await Should.ThrowAsync<IntakeException>(() => store.PutAsync(
            Areas.Inbox, "part-fails.bin", new MemoryStream(TestStreams.Bytes(4 * PartSize)), CancellationToken.None));

        thrown.Kind.ShouldBe(ErrorKind.Transient);
        thrown.Message.ShouldContain("part 2");
        thrown.Message.ShouldContain($"s3://{bucket}/inbox/part-fails.bin");
        http.Count("DELETE", "part-fails.bin?uploadId=").ShouldBe(1);
        (await TestS3.Http.RawKeysAsync(bucket)).ShouldBeEmpty();
    }

    [S3Fact]
    public async Task Put_WhenTheServerDiesMidUpload_FailsAsTransientAndNothingBecomesVisible()
    {
        var bucket = await TestS3.Http.CreateBucketAsync();
        await using var proxy = new CuttingProxy(new Uri(TestS3.Http.Url), cutAfter: 2 * PartSize + PartSize / 2);
        using var store = new S3ObjectStore(TestS3.Http.StoreOptions(bucket, o =>
        {
            o.ServiceUrl = proxy.Url;
            o.PartSize = PartSize;
        }));

        var thrown = await Should.ThrowAsync<IntakeException>(() => store.PutAsync(
            Areas.Inbox, "cut.bin", new MemoryStream(TestStreams.Bytes(6 * PartSize)), CancellationToken.None));

        proxy.HasCut.ShouldBeTrue();
        thrown.Kind.ShouldBe(ErrorKind.Transient);
        thrown.Message.ShouldStartWith("store 's3-test': cannot upload");
        (await TestS3.Http.RawKeysAsync(bucket)).ShouldBeEmpty();
    }

    [S3Fact]
    public async Task AnyCall_WhenNothingListens_IsTransient()
    {
        int closedPort;
        using (var listener = new TcpListener(System.Net.IPAddress.Loopback, 0))
        {
            listener.Start();
            closedPort = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        }

        using var store = new S3ObjectStore(TestS3.Http.StoreOptions("any-bucket", o =>
        {
            o.ServiceUrl = $"http://127.0.0.1:{closedPort}";
            o.MaxErrorRetry = 0;
        }));

        var put = await Should.ThrowAsync<IntakeException>(() => store.PutAsync(Areas.Inbox, "k", new MemoryStream([1]), CancellationToken.None));
        var stat = await Should.ThrowAsync<IntakeException>(() => store.StatAsync(Areas.Inbox, "k", CancellationToken.None));

        put.Kind.ShouldBe(ErrorKind.Transient);
        stat.Kind.ShouldBe(ErrorKind.Transient);
    }

    [S3Fact]
    public async Task UnknownAccessKey_IsAConfigFailureThatNeverShowsTheSecret()
    {
        // s3rver checks the access key but not SigV4 signatures, so a wrong secret alone is not refused there;
        // the mapping of SignatureDoesNotMatch is covered by S3FailuresTests.
        var bucket = await TestS3.Http.CreateBucketAsync();
        const string secret = "not-the-secret-5b1d";
        using var store = new S3ObjectStore(TestS3.Http.StoreOptions(bucket, o =>
        {
            o.AccessKey = "NOBODY";
            o.SecretKey = secret;
        }));

        var failures = new[]
        {
            await Should.ThrowAsync<IntakeException>(() => store.PutAsync(Areas.Inbox, "k", new MemoryStream([1]), CancellationToken.None)),
            await Should.ThrowAsync<IntakeException>(() => store.PutAsync(Areas.Inbox, "k", new MemoryStream(TestStreams.Bytes(PartSize + 1)), CancellationToken.None)),
            await Should.ThrowAsync<IntakeException>(() => store.StatAsync(Areas.Inbox, "k", CancellationToken.None)),
            await Should.ThrowAsync<IntakeException>(() => store.OpenReadAsync(Areas.Inbox, "k", CancellationToken.None)),
        };

        foreach (var failure in failures)
        {
            failure.Kind.ShouldBe(ErrorKind.Config);
            failure.Message.ShouldContain("access denied");
            failure.ToString().ShouldNotContain(secret);
        }
    }

    [S3Fact]
    public async Task MissingBucket_IsAConfigFailureNamingTheBucket()
    {
        var bucket = "missing-" + Guid.NewGuid().ToString("N")[..12];
        using var store = new S3ObjectStore(TestS3.Http.StoreOptions(bucket));

        var failures = new[]
        {
            await Should.ThrowAsync<IntakeException>(() => store.PutAsync(Areas.Inbox, "k", new MemoryStream([1]), CancellationToken.None)),
            // A HEAD cannot tell a missing bucket from a missing key; the store asks.
            await Should.ThrowAsync<IntakeException>(() => store.StatAsync(Areas.Inbox, "k", CancellationToken.None)),
            await Should.ThrowAsync<IntakeException>(() => store.ListAsync(Areas.Inbox, "", CancellationToken.None).GetAsyncEnumerator().MoveNextAsync().AsTask()),
        };

        foreach (var failure in failures)
        {
            failure.Kind.ShouldBe(ErrorKind.Config);
            failure.Message.ShouldContain($"bucket '{bucket}' does not exist");
        }
    }

    [S3Fact]
    public async Task List_AndDeletePrefix_PageThroughManyKeys()
    {
        var (store, http, _) = await StoreAsync(o => o.ListPageSize = 2);
        using var _ = store;
        var keys = Enumerable.Range(0, 7).Select(i => $"load/{i:D2}.csv").ToList();
        foreach (var key in keys)
        {
            await store.PutAsync(Areas.Work, key, new MemoryStream([1]), CancellationToken.None);
        }

        await store.PutAsync(Areas.Work, "loaded.csv", new MemoryStream([2]), CancellationToken.None);

        var listed = new List<string>();
        await foreach (var info in store.ListAsync(Areas.Work, "load/", CancellationToken.None))
        {
            listed.Add(info.Key);
        }

        var listRequests = http.Count("GET", "list-type=2");
        await store.DeletePrefixAsync(Areas.Work, "load/", CancellationToken.None);

        listed.ShouldBe(keys);
        listRequests.ShouldBe(4);
        http.Count("POST", "?delete").ShouldBe(4);
        var left = new List<string>();
        await foreach (var info in store.ListAsync(Areas.Work, "", CancellationToken.None))
        {
            left.Add(info.Key);
        }

        left.ShouldBe(["loaded.csv"]);
    }

    [S3Fact]
    public async Task Layout_PutsAreasUnderThePrefix_AndMappedAreasInTheirOwnBucket()
    {
        var main = await TestS3.Http.CreateBucketAsync();
        var raw = await TestS3.Http.CreateBucketAsync();
        using var store = new S3ObjectStore(TestS3.Http.StoreOptions(main, o =>
        {
            o.Prefix = "/intake/prod/";
            o.AreaBuckets["raw"] = raw + "/system_report";
        }));

        await store.PutAsync(Areas.Inbox, "c/file.csv", new MemoryStream([1, 2]), CancellationToken.None);
        await store.CopyAsync(Areas.Inbox, "c/file.csv", "raw", "c/file.csv", CancellationToken.None);

        (await TestS3.Http.RawKeysAsync(main)).ShouldBe(["intake/prod/inbox/c/file.csv"]);
        (await TestS3.Http.RawKeysAsync(raw)).ShouldBe(["system_report/c/file.csv"]);
        store.Describe(Areas.Inbox, "c/file.csv").ShouldBe($"s3://{main}/intake/prod/inbox/c/file.csv");
        store.Describe("raw", "c/file.csv").ShouldBe($"s3://{raw}/system_report/c/file.csv");
    }

    [S3Fact]
    public async Task Stat_OfAnObjectWrittenByAnotherTool_HasNoChecksum_AndCopyComputesIt()
    {
        var (store, _, bucket) = await StoreAsync();
        using var _ = store;
        var content = TestStreams.Bytes(70_000);
        using (var client = TestS3.Http.Client())
        {
            await client.PutObjectAsync(new PutObjectRequest
            {
                BucketName = bucket,
                Key = "inbox/dropped.bin",
                InputStream = new MemoryStream(content),
                UseChunkEncoding = false,
            });
        }

        var stat = await store.StatAsync(Areas.Inbox, "dropped.bin", CancellationToken.None);
        var copy = await store.CopyAsync(Areas.Inbox, "dropped.bin", Areas.Archive, "dropped.bin", CancellationToken.None);

        stat!.Size.ShouldBe(content.Length);
        stat.Sha256.ShouldBeNull();
        copy.Sha256.ShouldBe(TestStreams.Sha256(content));
        (await store.StatAsync(Areas.Archive, "dropped.bin", CancellationToken.None))!.Sha256.ShouldBe(copy.Sha256);
        (await ReadAsync(store, Areas.Archive, "dropped.bin")).ShouldBeSameBytes(content);
    }

    [S3Fact]
    public async Task Copy_WhoseResultDoesNotMatchTheSource_IsIntegrityAndLeavesNoCopy()
    {
        var (store, http, _) = await StoreAsync();
        using var _ = store;
        await store.PutAsync(Areas.Inbox, "f.csv", new MemoryStream(TestStreams.Bytes(1000)), CancellationToken.None);
        // The server reports a different checksum for the copy, as a corrupted copy would have.
        http.Rewrite = (line, response) =>
        {
            if (line.StartsWith("HEAD ", StringComparison.Ordinal) && line.Contains("/archive/f.csv", StringComparison.Ordinal))
            {
                response.Headers.Remove("x-amz-meta-sha256");
                response.Headers.Add("x-amz-meta-sha256", new string('0', 64));
            }
        };

        var thrown = await Should.ThrowAsync<IntakeException>(
            () => store.CopyAsync(Areas.Inbox, "f.csv", Areas.Archive, "f.csv", CancellationToken.None));

        thrown.Kind.ShouldBe(ErrorKind.Integrity);
        thrown.Message.ShouldContain("does not match its source");
        http.Rewrite = null;
        (await store.StatAsync(Areas.Archive, "f.csv", CancellationToken.None)).ShouldBeNull();
    }

    [S3Fact]
    public async Task Put_WhenTheServerStoresOtherBytesThanSent_IsIntegrityAndLeavesNoObject()
    {
        var (store, http, _) = await StoreAsync();
        using var _ = store;
        http.Rewrite = (line, response) =>
        {
            if (line.StartsWith("PUT ", StringComparison.Ordinal) && response.Headers.Contains("ETag"))
            {
                response.Headers.Remove("ETag");
                response.Headers.TryAddWithoutValidation("ETag", "\"0123456789abcdef0123456789abcdef\"");
            }
        };

        var thrown = await Should.ThrowAsync<IntakeException>(
            () => store.PutAsync(Areas.Inbox, "bad.csv", new MemoryStream(TestStreams.Bytes(1000)), CancellationToken.None));

        thrown.Kind.ShouldBe(ErrorKind.Integrity);
        thrown.Message.ShouldContain("0123456789abcdef0123456789abcdef");
        http.Rewrite = null;
        (await store.StatAsync(Areas.Inbox, "bad.csv", CancellationToken.None)).ShouldBeNull();
    }

    [S3Fact(tls: true)]
    public async Task Https_WithTheCertificateInCaFile_UploadsSingleAndMultipart()
    {
        var bucket = await TestS3.Tls.CreateBucketAsync();
        using var store = new S3ObjectStore(TestS3.Tls.StoreOptions(bucket, o => o.PartSize = PartSize));
        var small = TestStreams.Bytes(1000);
        var large = TestStreams.Bytes(2 * PartSize + 7);

        var putSmall = await store.PutAsync(Areas.Inbox, "small", new MemoryStream(small), CancellationToken.None);
        var putLarge = await store.PutAsync(Areas.Inbox, "large", new MemoryStream(large), CancellationToken.None);

        putSmall.Sha256.ShouldBe(TestStreams.Sha256(small));
        putLarge.Sha256.ShouldBe(TestStreams.Sha256(large));
        (await ReadAsync(store, Areas.Inbox, "small")).ShouldBeSameBytes(small);
        (await ReadAsync(store, Areas.Inbox, "large")).ShouldBeSameBytes(large);
    }

    [S3Fact(tls: true)]
    public async Task Https_WithAnUntrustedCertificate_IsAConfigFailureSayingWhatToSet()
    {
        using var store = new S3ObjectStore(TestS3.Tls.StoreOptions("any-bucket", o =>
        {
            o.CaFile = null;
            o.MaxErrorRetry = 0;
        }));

        var thrown = await Should.ThrowAsync<IntakeException>(() => store.StatAsync(Areas.Inbox, "k", CancellationToken.None));

        thrown.Kind.ShouldBe(ErrorKind.Config);
        thrown.Message.ShouldContain("ca_file");
    }

    [Fact]
    public void Options_ThatCannotWork_AreConfigFailuresListingEveryProblem()
    {
        var options = new S3StoreOptions
        {
            Name = "cold",
            ServiceUrl = "ftp://example",
            Bucket = "a/b",
            Prefix = "x/../y",
            AccessKey = "only-the-access-key",
            PartSize = 1024,
            MaxConcurrentParts = 0,
            CaFile = "/nonexistent/ca.pem",
        };
        options.AreaBuckets["raw"] = "cold-bucket";
        options.AreaBuckets["exports"] = "cold-bucket/exports";

        var thrown = Should.Throw<IntakeException>(() => new S3ObjectStore(options));

        thrown.Kind.ShouldBe(ErrorKind.Config);
        foreach (var part in new[] { "'url'", "'bucket'", "'prefix'", "'secret_key'", "'part_size'", "'max_concurrent_parts'", "'ca_file'", "overlap" })
        {
            thrown.Message.ShouldContain(part);
        }

    }

    [Fact]
    public void Describe_GivesTheS3Address()
    {
        using var store = new S3ObjectStore(new S3StoreOptions { Name = "s", Bucket = "b", Prefix = "p", ServiceUrl = "http://127.0.0.1:1", AccessKey = "a", SecretKey = "s" });

        store.Describe(Areas.Archive, "c/t/file.csv").ShouldBe("s3://b/p/archive/c/t/file.csv");
    }

    /// <summary>Serves fixed content and records how far its reader ever got ahead of what the server acknowledged.</summary>
    private sealed class ReadAheadStream(byte[] content, Func<long> acknowledged) : Stream
    {
        private int _position;

        public long MaxReadAhead { get; private set; }

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => _position; set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count)
        {
            var n = Math.Min(count, content.Length - _position);
            Array.Copy(content, _position, buffer, offset, n);
            _position += n;
            MaxReadAhead = Math.Max(MaxReadAhead, _position - acknowledged());
            return n;
        }

        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
