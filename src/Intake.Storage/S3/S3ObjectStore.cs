using System.Buffers;
using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using System.Runtime.ExceptionServices;
using System.Security.Cryptography;
using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;
using Intake.Core.Errors;
using Intake.Core.Ports;
using Intake.Shared.S3;

namespace Intake.Storage.S3;

/// <summary>
/// An object store on S3 or any S3-compatible service (MinIO, Ceph, Garage, s3rver...), so several
/// machines can share one store. Layout and options: <see cref="S3StoreOptions"/>.
/// </summary>
/// <remarks>
/// <para>
/// Atomicity: S3 shows an object only once its <c>PutObject</c> or <c>CompleteMultipartUpload</c> has
/// succeeded, so a reader sees the whole object or nothing, and a crash mid-upload leaves no partial object.
/// What a crash can leave is an unfinished multipart upload (invisible, but billed): every failure the
/// store sees aborts its upload, and a bucket lifecycle rule <c>AbortIncompleteMultipartUpload</c> (a day
/// is plenty) removes what a killed process could not.
/// </para>
/// <para>
/// Streaming: a put reads its stream one part at a time into pooled buffers. Smaller than
/// <see cref="S3StoreOptions.PartSize"/> it is one <c>PutObject</c>; otherwise a multipart upload with up to
/// <see cref="S3StoreOptions.MaxConcurrentParts"/> buffers alive (parts in flight plus the one being
/// filled), so memory stays flat whatever the object's size.
/// </para>
/// <para>
/// Checksums: the SHA-256 is computed while the bytes stream through and stored as user metadata
/// (<c>x-amz-meta-sha256</c>), where <see cref="StatAsync"/> reads it with one HEAD. Every request body
/// carries Content-MD5, which the server checks, and the ETag the server returns is compared with the MD5
/// of what was sent: the plain MD5 for a single put, and for a multipart upload either the MD5 of the part
/// MD5s followed by <c>-N</c> (AWS, MinIO, Ceph) or the whole object's MD5 (s3rver and others); the size is
/// then confirmed with a HEAD. A multipart upload's metadata is fixed when it starts, before the SHA-256
/// is known, so it is added afterwards by a server-side copy of the object onto itself. That copy is best
/// effort and impossible over 5 GiB (S3's limit for one copy request): such objects report a null SHA-256
/// until rewritten, and <see cref="CopyAsync"/> copies them by streaming.
/// </para>
/// <para>
/// Failures: classified once here (see <see cref="S3Failures"/>): network errors, timeouts, 5xx and
/// throttling are Transient (on uploads under the legacy name <c>AWSNetworkS3UploadException</c>); wrong
/// keys and denied permissions are Config, never showing a secret; a missing bucket is Config naming it.
/// Retries of single requests are the SDK's (standard mode, <see cref="S3StoreOptions.MaxErrorRetry"/>).
/// </para>
/// <para>
/// Permissions: s3:GetObject, s3:PutObject, s3:DeleteObject, s3:ListBucket and s3:AbortMultipartUpload on
/// the buckets. Without s3:ListBucket, S3 answers 403 instead of 404 for a missing key, which this store
/// must then report as Config.
/// </para>
/// </remarks>
public sealed class S3ObjectStore : IObjectStore, IDisposable
{
    /// <summary>User-metadata name of the SHA-256 (sent as the header <c>x-amz-meta-sha256</c>).</summary>
    public const string Sha256MetadataName = "sha256";

    /// <summary>The name the replaced system gave a failed upload; kept so its operators recognise it.</summary>

    // S3's limits: one CopyObject request copies at most 5 GiB; one multipart upload has at most 10,000 parts.
    private const long MaxSingleCopySize = 5L * 1024 * 1024 * 1024;
    private const int MaxParts = 10_000;

    private const string ContentType = "application/octet-stream";
    private const string CopySourceHeader = "x-amz-copy-source";

    // An abort runs after a failure, possibly after our caller's cancellation: it gets its own short deadline.
    private static readonly TimeSpan AbortTimeout = TimeSpan.FromSeconds(30);

    private readonly AmazonS3Client _client;
    private readonly string _bucket;
    private readonly string _rootPrefix;
    private readonly Dictionary<string, (string Bucket, string Prefix)> _areaLocations;
    private readonly int _partSize;
    private readonly int _maxConcurrentParts;
    private readonly int _listPageSize;
    private readonly bool _verifyETag;
    private readonly bool _unsignedPayload;

    // Buckets seen to exist: a HEAD answers a plain 404 for a missing bucket and a missing key alike.
    private readonly ConcurrentDictionary<string, bool> _existingBuckets = new(StringComparer.Ordinal);

    /// <summary>Validates the options (every problem at once) and builds the client. Makes no request.</summary>
    /// <exception cref="IntakeException">Config, listing every invalid option.</exception>
    public S3ObjectStore(S3StoreOptions options)
        : this(options, null)
    {
    }

    /// <param name="options">The store's settings.</param>
    /// <param name="wrapHandler">Tests only: wraps the HTTP handler to watch or break requests.</param>
    internal S3ObjectStore(S3StoreOptions options, Func<HttpMessageHandler, HttpMessageHandler>? wrapHandler)
    {
        ArgumentNullException.ThrowIfNull(options);
        var endpoint = new S3Endpoint(
            options.ServiceUrl, options.Region, options.AccessKey, options.SecretKey, options.ForcePathStyle,
            options.CaFile, options.MaxErrorRetry, options.RequestTimeout);

        var problems = endpoint.Problems().ToList();
        var name = string.IsNullOrWhiteSpace(options.Name) ? "s3" : options.Name;
        if (string.IsNullOrWhiteSpace(options.Name))
        {
            problems.Add("'name' is not set");
        }

        if (!IsBucketName(options.Bucket))
        {
            problems.Add($"'bucket' must be a bucket name (no '/', no spaces), not '{options.Bucket}'");
        }

        var rootPrefix = NormalizePrefix(options.Prefix, "'prefix'", problems);
        if (options.PartSize is < S3StoreOptions.MinPartSize or > S3StoreOptions.MaxPartSize)
        {
            problems.Add($"'part_size' must be between 5 MiB and 1 GiB, not {options.PartSize} bytes");
        }

        if (options.MaxConcurrentParts is < 1 or > 64)
        {
            problems.Add($"'max_concurrent_parts' must be between 1 and 64, not {options.MaxConcurrentParts}");
        }

        if (options.ListPageSize is < 1 or > 1000)
        {
            problems.Add($"'list_page_size' must be between 1 and 1000, not {options.ListPageSize}");
        }

        var areaLocations = ParseAreaBuckets(options, rootPrefix, problems);
        if (problems.Count > 0)
        {
            throw IntakeException.Config($"S3 store '{name}': {string.Join("; ", problems)}");
        }

        Name = name;
        _bucket = options.Bucket;
        _rootPrefix = rootPrefix;
        _areaLocations = areaLocations;
        _partSize = options.PartSize;
        _maxConcurrentParts = options.MaxConcurrentParts;
        _listPageSize = options.ListPageSize;
        _verifyETag = options.VerifyETag;
        _unsignedPayload = endpoint.IsHttps;
        _client = endpoint.CreateClient(wrapHandler);

        // S3 takes the copy source "bucket/key" with its slashes URL-encoded or not, and the SDK encodes
        // them; some S3-compatible servers (s3rver) only decode the plain form. This event runs after the
        // request is marshalled and before it is signed, so the rewritten header is signed as sent.
        _client.BeforeRequestEvent += static (_, e) =>
        {
            if (e is WebServiceRequestEventArgs { Headers: { } headers } &&
                headers.TryGetValue(CopySourceHeader, out var copySource) &&
                copySource.Contains("%2F", StringComparison.OrdinalIgnoreCase))
            {
                headers[CopySourceHeader] = copySource.Replace("%2F", "/", StringComparison.OrdinalIgnoreCase);
            }
        };
    }

    /// <inheritdoc />
    public string Name { get; }

    /// <inheritdoc />
    /// <remarks>
    /// A failure of the content stream itself comes through unchanged (its source knows what went wrong);
    /// S3 failures become <see cref="IntakeException"/>s. Either way no object is left visible, and a
    /// previous object under the key stays as it was.
    /// </remarks>
    /// <exception cref="IntakeException">
    /// Transient for network and server failures; Integrity when the
    /// server stored something other than what was sent; Config for access, bucket and size-limit problems.
    /// </exception>
    public async Task<ObjectInfo> PutAsync(string area, string key, Stream content, CancellationToken cancellationToken)
    {
        ObjectKeys.ValidateArea(area);
        ObjectKeys.ValidateKey(key);
        ArgumentNullException.ThrowIfNull(content);
        cancellationToken.ThrowIfCancellationRequested();

        var (bucket, objectKey) = Locate(area, key);
        using var reader = new PartReader(content, _partSize);
        var first = ArrayPool<byte>.Shared.Rent(_partSize);
        var length = await reader.ReadPartAsync(first, cancellationToken);
        if (reader.AtEnd)
        {
            return await PutSingleAsync(area, key, bucket, objectKey, first, length, reader, cancellationToken);
        }

        return await PutMultipartAsync(area, key, bucket, objectKey, first, length, reader, cancellationToken);
    }

    /// <inheritdoc />
    /// <remarks>The stream reads the response body as it arrives; a connection lost midway throws an <see cref="IOException"/>.</remarks>
    public async Task<Stream> OpenReadAsync(string area, string key, CancellationToken cancellationToken)
    {
        ObjectKeys.ValidateArea(area);
        ObjectKeys.ValidateKey(key);
        var (bucket, objectKey) = Locate(area, key);
        var location = Location(bucket, objectKey);
        try
        {
            var response = await _client.GetObjectAsync(new GetObjectRequest { BucketName = bucket, Key = objectKey }, cancellationToken);
            return new S3ReadStream(response);
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested && S3Failures.Classify(ex) == S3Failure.NotFound)
        {
            throw new FileNotFoundException($"store '{Name}': {location}: no such object", location, ex);
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested && S3Failures.ToIntake(ex, $"store '{Name}': cannot read {location}", bucket) is { } failure)
        {
            throw failure;
        }
    }

    /// <inheritdoc />
    /// <remarks>
    /// One HEAD request. The SHA-256 is the one stored at upload; null for an object written by another tool,
    /// or a multipart object whose checksum could not be attached (see the class remarks). It is never
    /// computed here: that would download the object.
    /// </remarks>
    public async Task<ObjectInfo?> StatAsync(string area, string key, CancellationToken cancellationToken)
    {
        ObjectKeys.ValidateArea(area);
        ObjectKeys.ValidateKey(key);
        var (bucket, objectKey) = Locate(area, key);
        var head = await HeadAsync(bucket, objectKey, cancellationToken);
        return head is null ? null : new ObjectInfo(area, key, head.Size, head.Sha256, head.LastModified);
    }

    /// <inheritdoc />
    /// <remarks>
    /// In the server's order, which is by key (UTF-8 byte order; it differs from .NET's ordinal order only
    /// between characters above U+FFFF and those in U+E000–U+FFFF). Pages of
    /// <see cref="S3StoreOptions.ListPageSize"/> keys are fetched as the caller advances. Listings carry no
    /// metadata, so every <see cref="ObjectInfo.Sha256"/> is null here: ask <see cref="StatAsync"/>. Keys that
    /// no store could address (folder markers ending in '/', '//' or '..' segments) are skipped.
    /// </remarks>
    public async IAsyncEnumerable<ObjectInfo> ListAsync(string area, string prefix, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        ObjectKeys.ValidateArea(area);
        ObjectKeys.ValidatePrefix(prefix);
        var (bucket, root) = AreaRoot(area);
        var request = new ListObjectsV2Request { BucketName = bucket, Prefix = root + prefix, MaxKeys = _listPageSize };
        var what = $"store '{Name}': cannot list {Location(bucket, root + prefix)}";
        ListObjectsV2Response page;
        do
        {
            page = await S3Failures.CallAsync(token => _client.ListObjectsV2Async(request, token), what, bucket, cancellationToken);
            foreach (var item in page.S3Objects ?? [])
            {
                var key = item.Key[root.Length..];
                if (ObjectKeys.IsValidKey(key))
                {
                    yield return new ObjectInfo(area, key, item.Size ?? 0, null, S3Values.Utc(item.LastModified));
                }
            }

            request.ContinuationToken = page.NextContinuationToken;
        }
        while (page.IsTruncated == true && !string.IsNullOrEmpty(page.NextContinuationToken));
    }

    /// <inheritdoc />
    /// <remarks>
    /// <para>
    /// A server-side copy (no bytes through this process) conditioned on the source's ETag, so a source
    /// replaced meanwhile fails the copy instead of being copied half-described. The copy is then checked:
    /// its size and SHA-256 metadata must equal the source's (and its ETag too, when both are plain MD5s).
    /// </para>
    /// <para>
    /// A source without SHA-256 metadata, or over 5 GiB (one copy request's limit; multipart copy is out of
    /// scope), is copied by streaming it through this process instead, hashing it on the way, with the same
    /// memory bound as <see cref="PutAsync"/>.
    /// </para>
    /// <para>A copy that fails its check is deleted and reported as Integrity. Repeating a copy is safe; moving is a copy then a delete by the caller.</para>
    /// </remarks>
    public async Task<ObjectInfo> CopyAsync(string fromArea, string fromKey, string toArea, string toKey, CancellationToken cancellationToken)
    {
        ObjectKeys.ValidateArea(fromArea, nameof(fromArea));
        ObjectKeys.ValidateKey(fromKey, nameof(fromKey));
        ObjectKeys.ValidateArea(toArea, nameof(toArea));
        ObjectKeys.ValidateKey(toKey, nameof(toKey));

        var (sourceBucket, sourceKey) = Locate(fromArea, fromKey);
        var (targetBucket, targetKey) = Locate(toArea, toKey);
        var source = Location(sourceBucket, sourceKey);
        var target = Location(targetBucket, targetKey);
        var expected = await HeadAsync(sourceBucket, sourceKey, cancellationToken)
            ?? throw new FileNotFoundException($"store '{Name}': cannot copy {source}: no such object", source);

        if (sourceBucket == targetBucket && sourceKey == targetKey)
        {
            return new ObjectInfo(toArea, toKey, expected.Size, expected.Sha256, expected.LastModified);
        }

        if (expected.Sha256 is null || expected.Size > MaxSingleCopySize)
        {
            return await StreamCopyAsync(fromArea, fromKey, toArea, toKey, expected, cancellationToken);
        }

        var copied = await S3Failures.CallAsync(
            token => _client.CopyObjectAsync(
                new CopyObjectRequest
                {
                    SourceBucket = sourceBucket,
                    SourceKey = sourceKey,
                    DestinationBucket = targetBucket,
                    DestinationKey = targetKey,
                    MetadataDirective = S3MetadataDirective.COPY,
                    ETagToMatch = expected.ETag,
                },
                token),
            $"store '{Name}': cannot copy {source} to {target}",
            targetBucket,
            cancellationToken);

        var actual = await HeadAsync(targetBucket, targetKey, cancellationToken);
        var sameETag = !IsPlainMd5(expected.ETag) || !IsPlainMd5(copied.ETag) || expected.Encrypted
            || string.Equals(S3Values.Unquote(expected.ETag), S3Values.Unquote(copied.ETag), StringComparison.OrdinalIgnoreCase);
        if (actual is null || actual.Size != expected.Size || actual.Sha256 != expected.Sha256 || !sameETag)
        {
            await TryDeleteAsync(targetBucket, targetKey);
            throw IntakeException.Integrity(
                $"store '{Name}': copy of {source} to {target} does not match its source: expected {expected.Size} bytes with SHA-256 {expected.Sha256} " +
                $"and ETag {expected.ETag}, found {(actual is null ? "no object" : $"{actual.Size} bytes with SHA-256 {actual.Sha256 ?? "(none)"} and ETag {copied.ETag}")}");
        }

        return new ObjectInfo(toArea, toKey, actual.Size, actual.Sha256, actual.LastModified);
    }

    /// <inheritdoc />
    public async Task DeleteAsync(string area, string key, CancellationToken cancellationToken)
    {
        ObjectKeys.ValidateArea(area);
        ObjectKeys.ValidateKey(key);
        var (bucket, objectKey) = Locate(area, key);

        // S3 answers 204 for an absent key too: absent is not an error, as the port wants.
        await S3Failures.CallAsync(
            token => _client.DeleteObjectAsync(new DeleteObjectRequest { BucketName = bucket, Key = objectKey }, token),
            $"store '{Name}': cannot delete {Location(bucket, objectKey)}",
            bucket,
            cancellationToken);
    }

    /// <inheritdoc />
    /// <remarks>
    /// Lists the prefix a page at a time and deletes each page with one <c>DeleteObjects</c> request
    /// (up to 1000 keys). Same prefix rule as <see cref="ListAsync"/>; an empty prefix is refused, as it would
    /// empty the whole area. Folder markers and other unaddressable keys under the prefix go too.
    /// </remarks>
    public async Task DeletePrefixAsync(string area, string prefix, CancellationToken cancellationToken)
    {
        ObjectKeys.ValidateArea(area);
        ObjectKeys.ValidatePrefix(prefix);
        if (prefix.Length == 0)
        {
            throw new ArgumentException("An empty prefix would delete the whole area; delete the area's objects explicitly.", nameof(prefix));
        }

        var (bucket, root) = AreaRoot(area);
        var location = Location(bucket, root + prefix);
        var request = new ListObjectsV2Request { BucketName = bucket, Prefix = root + prefix, MaxKeys = _listPageSize };
        while (true)
        {
            var page = await S3Failures.CallAsync(token => _client.ListObjectsV2Async(request, token), $"store '{Name}': cannot list {location}", bucket, cancellationToken);
            var keys = (page.S3Objects ?? []).Select(o => new KeyVersion { Key = o.Key }).ToList();
            if (keys.Count == 0)
            {
                return;
            }

            var result = await S3Failures.CallAsync(
                token => _client.DeleteObjectsAsync(new DeleteObjectsRequest { BucketName = bucket, Objects = keys, Quiet = true }, token),
                $"store '{Name}': cannot delete under {location}",
                bucket,
                cancellationToken);
            if (result.DeleteErrors is { Count: > 0 } errors)
            {
                var first = errors[0];
                var message = $"store '{Name}': could not delete {errors.Count} of {keys.Count} objects under {location}; " +
                    $"first {Location(bucket, first.Key)}: {first.Code} {first.Message}";
                throw first.Code == "AccessDenied" ? IntakeException.Config(message) : IntakeException.Transient(message);
            }

            if (page.IsTruncated != true)
            {
                return;
            }

            // Continue after the last key, not with the server's token: the keys before it are gone now,
            // and a key-based position stays right on every server.
            request.ContinuationToken = null;
            request.StartAfter = keys[^1].Key;
        }
    }

    /// <inheritdoc />
    public string Describe(string area, string key)
    {
        ObjectKeys.ValidateArea(area);
        ObjectKeys.ValidateKey(key);
        var (bucket, objectKey) = Locate(area, key);
        return Location(bucket, objectKey);
    }

    /// <inheritdoc />
    public void Dispose() => _client.Dispose();

    /// <summary>The bucket and full object key of an area's key.</summary>
    internal (string Bucket, string ObjectKey) Locate(string area, string key)
    {
        var (bucket, root) = AreaRoot(area);
        return (bucket, root + key);
    }

    private (string Bucket, string Root) AreaRoot(string area) =>
        _areaLocations.TryGetValue(area, out var location) ? location : (_bucket, _rootPrefix + area + "/");

    private static string Location(string bucket, string objectKey) => $"s3://{bucket}/{objectKey}";

    private async Task<ObjectInfo> PutSingleAsync(
        string area, string key, string bucket, string objectKey, byte[] buffer, int length, PartReader reader, CancellationToken cancellationToken)
    {
        var location = Location(bucket, objectKey);
        var sha256 = reader.Sha256Hex();
        var md5 = reader.Md5();
        var request = new PutObjectRequest
        {
            BucketName = bucket,
            Key = objectKey,
            InputStream = new MemoryStream(buffer, 0, length, writable: false),
            ContentType = ContentType,
            MD5Digest = Convert.ToBase64String(md5),
            UseChunkEncoding = false,
            DisablePayloadSigning = _unsignedPayload,
        };
        request.Metadata[Sha256MetadataName] = sha256;

        var response = await S3Failures.CallAsync(
            token => _client.PutObjectAsync(request, token), $"store '{Name}': cannot upload {location}", bucket, cancellationToken);

        // The request is finished with the buffer only once it has answered. On a failure the buffer is
        // dropped for the GC instead: a cancelled send may still be reading it in the background.
        ArrayPool<byte>.Shared.Return(buffer);

        var encrypted = IsEncrypted(response.ServerSideEncryptionMethod, response.ServerSideEncryptionCustomerMethod);
        await CheckUploadETagAsync(bucket, objectKey, response.ETag, encrypted, Convert.ToHexStringLower(md5), null, cancellationToken);
        return await ConfirmUploadAsync(area, key, bucket, objectKey, reader.Total, sha256, cancellationToken);
    }

    private async Task<ObjectInfo> PutMultipartAsync(
        string area, string key, string bucket, string objectKey, byte[] first, int firstLength, PartReader reader, CancellationToken cancellationToken)
    {
        var location = Location(bucket, objectKey);
        var what = $"store '{Name}': cannot upload {location}";
        var started = await S3Failures.CallAsync(
            token => _client.InitiateMultipartUploadAsync(new InitiateMultipartUploadRequest { BucketName = bucket, Key = objectKey, ContentType = ContentType }, token),
            what,
            bucket,
            cancellationToken);
        var uploadId = started.UploadId;

        var parts = new List<Task<UploadedPart>>();
        var running = new List<Task<UploadedPart>>();
        using var failFast = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        CompleteMultipartUploadResponse completed;
        try
        {
            var buffer = first;
            var length = firstLength;
            for (var number = 1; ; number++)
            {
                var part = UploadPartAsync(bucket, objectKey, uploadId, number, buffer, length, what, failFast);
                parts.Add(part);
                running.Add(part);
                if (reader.AtEnd)
                {
                    break;
                }

                if (number == MaxParts)
                {
                    throw IntakeException.Config(
                        $"{what}: the object is larger than S3's 10,000 parts of {_partSize} bytes; raise 'part_size'");
                }

                // The memory bound: parts in flight plus the buffer about to be filled never exceed MaxConcurrentParts.
                await WaitForRoomAsync(running, _maxConcurrentParts - 1);
                buffer = ArrayPool<byte>.Shared.Rent(_partSize);
                length = await reader.ReadPartAsync(buffer, failFast.Token);
            }

            var uploaded = await Task.WhenAll(parts);
            completed = await S3Failures.CallAsync(
                token => _client.CompleteMultipartUploadAsync(
                    new CompleteMultipartUploadRequest
                    {
                        BucketName = bucket,
                        Key = objectKey,
                        UploadId = uploadId,
                        PartETags = uploaded.Select(p => new PartETag(p.Number, p.ETag)).ToList(),
                    },
                    token),
                what,
                bucket,
                cancellationToken);
        }
        catch (Exception ex)
        {
            // Stop the other parts, wait until none still uses its buffer or the upload, then abort it so the
            // server drops the parts. The first failure is what the caller sees.
            await failFast.CancelAsync();
            await Task.WhenAll(parts.Select(p => p.ContinueWith(static _ => { }, TaskScheduler.Default)));
            await AbortQuietlyAsync(bucket, objectKey, uploadId);

            // A failed part cancels the reading and the other parts; report the part's failure, not that cancellation.
            if (ex is OperationCanceledException && !cancellationToken.IsCancellationRequested && parts.FirstOrDefault(p => p.IsFaulted) is { } failed)
            {
                ExceptionDispatchInfo.Throw(failed.Exception!.InnerException!);
            }

            throw;
        }

        var partCount = parts.Count;
        var composite = CompositeETag(parts.Select(p => p.Result.Md5), partCount);
        await CheckUploadETagAsync(
            bucket, objectKey, completed.ETag, IsEncrypted(completed.ServerSideEncryptionMethod, null), reader.Md5Hex(), composite, cancellationToken);

        var sha256 = reader.Sha256Hex();
        if (reader.Total <= MaxSingleCopySize)
        {
            await TryAttachSha256Async(bucket, objectKey, completed.ETag, sha256, cancellationToken);
        }

        return await ConfirmUploadAsync(area, key, bucket, objectKey, reader.Total, sha256, cancellationToken);
    }

    private async Task<UploadedPart> UploadPartAsync(
        string bucket, string objectKey, string uploadId, int number, byte[] buffer, int length, string what, CancellationTokenSource failFast)
    {
        try
        {
            return await UploadPartCoreAsync(bucket, objectKey, uploadId, number, buffer, length, what, failFast.Token);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // Stop reading the source and sending other parts at once: this upload is lost anyway.
            await failFast.CancelAsync();
            throw;
        }
    }

    private async Task<UploadedPart> UploadPartCoreAsync(
        string bucket, string objectKey, string uploadId, int number, byte[] buffer, int length, string what, CancellationToken cancellationToken)
    {
        // Off the reading loop: this part's MD5 is computed while the next part is read.
        await Task.Yield();
#pragma warning disable CA5351 // MD5 is S3's transfer check (Content-MD5, ETags), not a security measure; SHA-256 is the content hash.
        var md5 = MD5.HashData(buffer.AsSpan(0, length));
#pragma warning restore CA5351
        var response = await S3Failures.CallAsync(
            token => _client.UploadPartAsync(
                new UploadPartRequest
                {
                    BucketName = bucket,
                    Key = objectKey,
                    UploadId = uploadId,
                    PartNumber = number,
                    InputStream = new MemoryStream(buffer, 0, length, writable: false),
                    PartSize = length,
                    MD5Digest = Convert.ToBase64String(md5),
                    UseChunkEncoding = false,
                    DisablePayloadSigning = _unsignedPayload,
                },
                token),
            $"{what} (part {number})",
            bucket,
            cancellationToken);

        // Returned only after the request answered; on failure dropped for the GC (see PutSingleAsync).
        ArrayPool<byte>.Shared.Return(buffer);

        var md5Hex = Convert.ToHexStringLower(md5);
        if (_verifyETag && IsPlainMd5(response.ETag) && !IsEncrypted(response.ServerSideEncryptionMethod, null)
            && !string.Equals(S3Values.Unquote(response.ETag), md5Hex, StringComparison.OrdinalIgnoreCase))
        {
            throw IntakeException.Integrity($"{what}: part {number} was stored with ETag {response.ETag}, but the MD5 of the {length} bytes sent is {md5Hex}");
        }

        return new UploadedPart(number, response.ETag, md5);
    }

    private static async Task WaitForRoomAsync(List<Task<UploadedPart>> running, int maxRunning)
    {
        while (true)
        {
            for (var i = running.Count - 1; i >= 0; i--)
            {
                if (running[i].IsCompleted)
                {
                    // A failed part stops the upload now rather than after the rest of the stream was read.
                    await running[i];
                    running.RemoveAt(i);
                }
            }

            if (running.Count <= maxRunning)
            {
                return;
            }

            await Task.WhenAny(running);
        }
    }

    /// <summary>
    /// Multipart metadata is fixed when the upload starts, before the SHA-256 is known: attach it with a copy of
    /// the object onto itself, conditioned on the ETag we just completed so another writer's object is never
    /// stamped with our checksum. Best effort: without it the object is still whole and verified, and only
    /// reports a null SHA-256 (as an object written by another tool does).
    /// </summary>
    private async Task TryAttachSha256Async(string bucket, string objectKey, string completedETag, string sha256, CancellationToken cancellationToken)
    {
        var request = new CopyObjectRequest
        {
            SourceBucket = bucket,
            SourceKey = objectKey,
            DestinationBucket = bucket,
            DestinationKey = objectKey,
            MetadataDirective = S3MetadataDirective.REPLACE,
            ContentType = ContentType,
            ETagToMatch = completedETag,
        };
        request.Metadata[Sha256MetadataName] = sha256;
        try
        {
            await _client.CopyObjectAsync(request, cancellationToken);
        }
        catch (Exception ex) when (S3Failures.Classify(ex) != S3Failure.Unknown)
        {
            // See the summary: a missing checksum costs a rehash by whoever needs it, never a wrong answer.
        }
    }

    private async Task CheckUploadETagAsync(
        string bucket, string objectKey, string? etag, bool encrypted, string md5Hex, string? compositeETag, CancellationToken cancellationToken)
    {
        if (!_verifyETag || encrypted || string.IsNullOrEmpty(etag))
        {
            return;
        }

        var actual = S3Values.Unquote(etag);
        if (string.Equals(actual, md5Hex, StringComparison.OrdinalIgnoreCase) ||
            (compositeETag is not null && string.Equals(actual, compositeETag, StringComparison.OrdinalIgnoreCase)))
        {
            return;
        }

        // The server holds something other than what was sent: never leave it looking like a good object.
        await TryDeleteAsync(bucket, objectKey);
        cancellationToken.ThrowIfCancellationRequested();
        throw IntakeException.Integrity(
            $"store '{Name}': {Location(bucket, objectKey)} was stored with ETag {etag}, but what was sent has MD5 {md5Hex}" +
            (compositeETag is null ? "" : $" (multipart ETag {compositeETag})") +
            "; if this server's ETags are not MD5s, set 'verify_etag: false'");
    }

    private async Task<ObjectInfo> ConfirmUploadAsync(string area, string key, string bucket, string objectKey, long size, string sha256, CancellationToken cancellationToken)
    {
        var head = await HeadAsync(bucket, objectKey, cancellationToken);
        if (head is null || head.Size != size)
        {
            throw IntakeException.Integrity(
                $"store '{Name}': {Location(bucket, objectKey)} holds {(head is null ? "no object" : $"{head.Size} bytes")} right after {size} bytes were uploaded; " +
                "another writer may have replaced or removed it");
        }

        return new ObjectInfo(area, key, size, sha256, head.LastModified);
    }

    private async Task<ObjectInfo> StreamCopyAsync(string fromArea, string fromKey, string toArea, string toKey, Head expected, CancellationToken cancellationToken)
    {
        var (sourceBucket, sourceKey) = Locate(fromArea, fromKey);
        var source = Location(sourceBucket, sourceKey);
        GetObjectResponse response;
        try
        {
            // Conditioned on the ETag just seen, so the bytes copied are those of the object described by `expected`.
            response = await _client.GetObjectAsync(new GetObjectRequest { BucketName = sourceBucket, Key = sourceKey, EtagToMatch = expected.ETag }, cancellationToken);
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested && S3Failures.Classify(ex) == S3Failure.NotFound)
        {
            throw new FileNotFoundException($"store '{Name}': cannot copy {source}: no such object", source, ex);
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested && S3Failures.ToIntake(ex, $"store '{Name}': cannot copy {source}", sourceBucket) is { } failure)
        {
            throw failure;
        }

        ObjectInfo written;
        await using (var stream = new S3ReadStream(response))
        {
            written = await PutAsync(toArea, toKey, stream, cancellationToken);
        }

        if (written.Size != expected.Size || (expected.Sha256 is not null && written.Sha256 != expected.Sha256))
        {
            var (targetBucket, targetKey) = Locate(toArea, toKey);
            await TryDeleteAsync(targetBucket, targetKey);
            throw IntakeException.Integrity(
                $"store '{Name}': copy of {source} to {Location(targetBucket, targetKey)} does not match its source: expected {expected.Size} bytes" +
                $"{(expected.Sha256 is null ? "" : $" with SHA-256 {expected.Sha256}")}, copied {written.Size} bytes with SHA-256 {written.Sha256}");
        }

        return written;
    }

    private async Task<Head?> HeadAsync(string bucket, string objectKey, CancellationToken cancellationToken)
    {
        var location = Location(bucket, objectKey);
        try
        {
            var response = await _client.GetObjectMetadataAsync(new GetObjectMetadataRequest { BucketName = bucket, Key = objectKey }, cancellationToken);
            var sha256 = response.Metadata[Sha256MetadataName];
            return new Head(
                response.ContentLength,
                response.ETag,
                sha256 is { Length: 64 } && sha256.All(char.IsAsciiHexDigitLower) ? sha256 : null,
                S3Values.Utc(response.LastModified),
                IsEncrypted(response.ServerSideEncryptionMethod, response.ServerSideEncryptionCustomerMethod));
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested && S3Failures.Classify(ex) == S3Failure.NotFound)
        {
            // A HEAD has no body to say which is missing, the key or the bucket: ask once per bucket.
            await EnsureBucketExistsAsync(bucket, cancellationToken);
            return null;
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested && S3Failures.ToIntake(ex, $"store '{Name}': cannot read {location}", bucket) is { } failure)
        {
            throw failure;
        }
    }

    private async Task EnsureBucketExistsAsync(string bucket, CancellationToken cancellationToken)
    {
        if (_existingBuckets.ContainsKey(bucket))
        {
            return;
        }

        await S3Failures.CallAsync(
            token => _client.ListObjectsV2Async(new ListObjectsV2Request { BucketName = bucket, MaxKeys = 1 }, token),
            $"store '{Name}': cannot list s3://{bucket}",
            bucket,
            cancellationToken);
        _existingBuckets[bucket] = true;
    }

    private async Task TryDeleteAsync(string bucket, string objectKey)
    {
        using var timeout = new CancellationTokenSource(AbortTimeout);
        try
        {
            await _client.DeleteObjectAsync(new DeleteObjectRequest { BucketName = bucket, Key = objectKey }, timeout.Token);
        }
        catch (Exception)
        {
            // Best effort after a failure that is already being reported; it must not replace that report.
        }
    }

    private async Task AbortQuietlyAsync(string bucket, string objectKey, string uploadId)
    {
        using var timeout = new CancellationTokenSource(AbortTimeout);
        try
        {
            await _client.AbortMultipartUploadAsync(new AbortMultipartUploadRequest { BucketName = bucket, Key = objectKey, UploadId = uploadId }, timeout.Token);
        }
        catch (Exception)
        {
            // Best effort (the server may be the thing that failed): the upload was never completed, so no
            // object is visible either way, and a lifecycle rule removes parts an abort could not.
        }
    }

    private static string CompositeETag(IEnumerable<byte[]> partMd5s, int count)
    {
        using var md5 = IncrementalHash.CreateHash(HashAlgorithmName.MD5);
        foreach (var part in partMd5s)
        {
            md5.AppendData(part);
        }

        return $"{Convert.ToHexStringLower(md5.GetHashAndReset())}-{count}";
    }

    private static bool IsEncrypted(ServerSideEncryptionMethod? method, ServerSideEncryptionCustomerMethod? customerMethod) =>
        // With SSE-KMS and SSE-C the ETag is not the MD5 of the content; SSE-S3 (AES256) keeps it.
        method == ServerSideEncryptionMethod.AWSKMS || method == ServerSideEncryptionMethod.AWSKMSDSSE ||
        (customerMethod is not null && customerMethod != ServerSideEncryptionCustomerMethod.None);

    private static bool IsPlainMd5(string? etag) => etag is not null && S3Values.Unquote(etag) is { Length: 32 } hex && hex.All(char.IsAsciiHexDigit);

    private static bool IsBucketName(string? bucket) =>
        bucket is { Length: > 0 and <= 255 } && !bucket.Any(c => c == '/' || char.IsWhiteSpace(c) || char.IsControl(c));

    private static string NormalizePrefix(string? prefix, string setting, List<string> problems)
    {
        var trimmed = (prefix ?? "").Trim('/');
        if (trimmed.Length == 0)
        {
            return "";
        }

        if (!ObjectKeys.IsValidKey(trimmed))
        {
            problems.Add($"{setting} '{prefix}' is not a folder path ('a/b': no '//', '.' or '..' segments, no backslash)");
            return "";
        }

        return trimmed + "/";
    }

    private Dictionary<string, (string Bucket, string Prefix)> ParseAreaBuckets(S3StoreOptions options, string rootPrefix, List<string> problems)
    {
        var result = new Dictionary<string, (string Bucket, string Prefix)>(StringComparer.Ordinal);
        foreach (var (area, value) in options.AreaBuckets ?? new Dictionary<string, string>())
        {
            try
            {
                ObjectKeys.ValidateArea(area);
            }
            catch (ArgumentException ex)
            {
                problems.Add($"'area_buckets': {ex.Message}");
                continue;
            }

            var slash = (value ?? "").IndexOf('/', StringComparison.Ordinal);
            var bucket = slash < 0 ? value ?? "" : value![..slash];
            var prefix = slash < 0 ? "" : NormalizePrefix(value![(slash + 1)..], $"'area_buckets' {area}: prefix", problems);
            if (!IsBucketName(bucket))
            {
                problems.Add($"'area_buckets' {area}: '{value}' is not 'bucket' or 'bucket/prefix'");
                continue;
            }

            result[area] = (bucket, prefix);
        }

        // Two areas whose keys could meet would overwrite each other's objects. Unmapped areas all live under
        // the root prefix of the main bucket, so that place counts as one more location.
        var places = result.Select(p => (Name: $"area '{p.Key}'", p.Value.Bucket, p.Value.Prefix))
            .Append((Name: "the other areas", Bucket: options.Bucket, Prefix: rootPrefix))
            .ToList();
        for (var i = 0; i < places.Count; i++)
        {
            for (var j = i + 1; j < places.Count; j++)
            {
                var (a, b) = (places[i], places[j]);
                if (a.Bucket == b.Bucket && (a.Prefix.StartsWith(b.Prefix, StringComparison.Ordinal) || b.Prefix.StartsWith(a.Prefix, StringComparison.Ordinal)))
                {
                    problems.Add($"'area_buckets': {a.Name} (s3://{a.Bucket}/{a.Prefix}) and {b.Name} (s3://{b.Bucket}/{b.Prefix}) overlap; give each its own bucket or prefix");
                }
            }
        }

        return result;
    }

    private sealed record Head(long Size, string ETag, string? Sha256, DateTimeOffset LastModified, bool Encrypted);

    private sealed record UploadedPart(int Number, string ETag, byte[] Md5);

    /// <summary>
    /// Reads the content one part at a time, hashing everything in order (SHA-256 for the catalog, MD5 for the
    /// ETag check). After a full part it reads one byte ahead, so the end of the stream is known before the
    /// choice between one PutObject and a multipart upload, without holding a second buffer.
    /// </summary>
    private sealed class PartReader(Stream content, int partSize) : IDisposable
    {
        private readonly IncrementalHash _sha256 = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        private readonly IncrementalHash _md5 = IncrementalHash.CreateHash(HashAlgorithmName.MD5);
        private readonly byte[] _lookahead = new byte[1];
        private bool _hasLookahead;
        private byte[]? _sha256Hash;
        private byte[]? _md5Hash;

        public long Total { get; private set; }

        public bool AtEnd { get; private set; }

        /// <summary>Fills <paramref name="buffer"/> with up to one part; the content's own exceptions come through unchanged.</summary>
        public async Task<int> ReadPartAsync(byte[] buffer, CancellationToken cancellationToken)
        {
            var length = 0;
            if (_hasLookahead)
            {
                buffer[0] = _lookahead[0];
                length = 1;
                _hasLookahead = false;
            }

            length += await content.ReadAtLeastAsync(buffer.AsMemory(length, partSize - length), partSize - length, throwOnEndOfStream: false, cancellationToken);
            _sha256.AppendData(buffer, 0, length);
            _md5.AppendData(buffer, 0, length);
            Total += length;
            if (length < partSize)
            {
                AtEnd = true;
            }
            else
            {
                _hasLookahead = await content.ReadAsync(_lookahead, cancellationToken) == 1;
                AtEnd = !_hasLookahead;
            }

            return length;
        }

        public string Sha256Hex() => Convert.ToHexStringLower(_sha256Hash ??= _sha256.GetHashAndReset());

        public byte[] Md5() => _md5Hash ??= _md5.GetHashAndReset();

        public string Md5Hex() => Convert.ToHexStringLower(Md5());

        public void Dispose()
        {
            _sha256.Dispose();
            _md5.Dispose();
        }
    }
}
