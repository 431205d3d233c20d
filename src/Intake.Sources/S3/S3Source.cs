using System.Globalization;
using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using Amazon.S3;
using Amazon.S3.Model;
using Intake.Core.Errors;
using Intake.Core.Ports;
using Intake.Shared.S3;

namespace Intake.Sources.S3;

/// <summary>
/// Offers the objects under a prefix of a bucket (AWS S3 or any S3-compatible service) to discovery,
/// filtered by include and exclude patterns.
/// </summary>
/// <remarks>
/// <para>
/// Completeness needs no heuristic here: S3 shows an object only once its upload has finished, so every
/// listed object is whole. The fingerprint is <c>size:&lt;bytes&gt;;etag:&lt;etag&gt;</c>: an object rewritten
/// under the same key gets a new ETag (even at the same size), so discovery loads it again. An upload that some
/// compatible servers list before it is whole (without an ETag, or empty under another content's ETag) is not
/// offered until it is.
/// </para>
/// <para>
/// Keys are relative to <see cref="S3SourceOptions.Prefix"/>, listed in the server's order (by key on S3,
/// MinIO and Ceph). Folder markers (keys ending in '/') and keys that cannot be relative paths (empty,
/// '.' or '..' segments, backslashes, NUL) are never offered.
/// </para>
/// <para>
/// Failures: network errors, timeouts, 5xx and throttling are Transient; wrong keys and denied permissions
/// are Config, never showing the secret; a missing bucket is Config naming it.
/// </para>
/// <para>
/// Written files (<see cref="IFileDrop"/>, a stream's batches): one PutObject with its Content-MD5, which S3 shows
/// only once whole. A key already there with the same size is left alone: it is the same batch written by an
/// earlier attempt (a crash after the upload, before the spool forgot it), and a second upload could get a new
/// ETag (with SSE-KMS the ETag is not the content's MD5), which discovery would take for a changed file.
/// </para>
/// </remarks>
public sealed class S3Source : IRemovableFileSource, IFileDrop, IDisposable
{
    /// <summary>The ETag of an object of no bytes (the MD5 of nothing).</summary>
    private const string EmptyObjectEtag = "d41d8cd98f00b204e9800998ecf8427e";

    private readonly AmazonS3Client _client;
    private readonly string _bucket;
    private readonly string _prefix;
    private readonly Glob[] _include;
    private readonly Glob[] _exclude;
    private readonly int _listPageSize;
    private readonly bool _unsignedPayload;

    /// <summary>Validates the options (every problem at once), compiles the patterns and builds the client. Makes no request.</summary>
    /// <exception cref="IntakeException">Config, listing every invalid option or pattern.</exception>
    public S3Source(S3SourceOptions options)
        : this(options, null)
    {
    }

    /// <param name="options">The source's settings.</param>
    /// <param name="wrapHandler">Tests only: wraps the HTTP handler to watch or break requests.</param>
    internal S3Source(S3SourceOptions options, Func<HttpMessageHandler, HttpMessageHandler>? wrapHandler)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var prefix = (options.Prefix ?? "").Trim('/');
        _bucket = options.Bucket;
        _prefix = prefix.Length == 0 ? "" : prefix + "/";
        _include = options.Include.Select(p => Glob.Parse(p, options.IgnoreCase)).ToArray();
        _exclude = (options.Exclude ?? []).Select(p => Glob.Parse(p, options.IgnoreCase)).ToArray();
        _listPageSize = options.ListPageSize;
        var endpoint = options.Endpoint();
        _unsignedPayload = endpoint.IsHttps;
        _client = endpoint.CreateClient(wrapHandler);
    }

    /// <inheritdoc />
    /// <exception cref="IntakeException">Config for a missing bucket or denied access; Transient for network and server failures.</exception>
    public async IAsyncEnumerable<SourceFile> ListAsync([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var request = new ListObjectsV2Request { BucketName = _bucket, Prefix = _prefix, MaxKeys = _listPageSize };
        var what = $"S3 source: cannot list s3://{_bucket}/{_prefix}";
        ListObjectsV2Response page;
        do
        {
            page = await S3Failures.CallAsync(token => _client.ListObjectsV2Async(request, token), what, _bucket, S3SourceOptions.CaFileSetting, cancellationToken);
            foreach (var item in page.S3Objects ?? [])
            {
                var key = item.Key[_prefix.Length..];
                if (!IsRelativePath(key) || !_include.Any(g => g.IsMatch(key)) || _exclude.Any(g => g.IsMatch(key)))
                {
                    continue;
                }

                var etag = S3Values.Unquote(item.ETag);
                var size = item.Size ?? 0;
                if (etag.Length == 0 || (size == 0 && etag != EmptyObjectEtag))
                {
                    // S3 lists an object only whole, with its ETag. Some compatible servers (s3rver) list an upload still
                    // being written: a new object without an ETag, a rewrite empty under the old ETag. Either is offered
                    // once it is whole. (A zero-byte object has the ETag of no bytes.)
                    continue;
                }

                yield return new SourceFile(key, size, S3Values.Utc(item.LastModified), string.Create(CultureInfo.InvariantCulture, $"size:{size};etag:{etag}"));
            }

            request.ContinuationToken = page.NextContinuationToken;
        }
        while (page.IsTruncated == true && !string.IsNullOrEmpty(page.NextContinuationToken));
    }

    /// <inheritdoc />
    /// <remarks>The stream reads the body as it arrives; a connection lost midway throws an <see cref="IOException"/>.</remarks>
    /// <exception cref="ArgumentException">The key is not a relative path.</exception>
    /// <exception cref="IntakeException">Config for a missing bucket or denied access; Transient for network and server failures.</exception>
    public async Task<Stream> OpenReadAsync(string key, CancellationToken cancellationToken)
    {
        var location = Describe(key);
        try
        {
            var response = await _client.GetObjectAsync(new GetObjectRequest { BucketName = _bucket, Key = _prefix + key }, cancellationToken);
            return new S3ReadStream(response);
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested && S3Failures.Classify(ex) == S3Failure.NotFound)
        {
            throw new FileNotFoundException($"S3 source: {location} no longer exists", location, ex);
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested && S3Failures.ToIntake(ex, $"S3 source: cannot read {location}", _bucket, S3SourceOptions.CaFileSetting) is { } failure)
        {
            throw failure;
        }
    }

    /// <inheritdoc />
    /// <remarks>
    /// The object's ETag is the version: the request asks for the listed one (If-Match, which S3 answers with 412 for
    /// another), and the answer's ETag is compared as well, for S3-compatible servers that ignore the condition.
    /// </remarks>
    /// <exception cref="IntakeException">Integrity when the object was rewritten since it was listed; else as <see cref="OpenReadAsync"/>.</exception>
    public async Task<Stream> OpenListedAsync(string key, string fingerprint, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(fingerprint);
        var location = Describe(key);
        var etag = EtagOf(fingerprint);
        GetObjectResponse response;
        try
        {
            response = await _client.GetObjectAsync(new GetObjectRequest { BucketName = _bucket, Key = _prefix + key, EtagToMatch = etag is null ? null : $"\"{etag}\"" }, cancellationToken);
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested && S3Failures.Classify(ex) == S3Failure.NotFound)
        {
            throw new FileNotFoundException($"S3 source: {location} no longer exists", location, ex);
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested && S3Failures.Classify(ex) == S3Failure.PreconditionFailed)
        {
            throw Changed(location, etag, null, ex);
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested && S3Failures.ToIntake(ex, $"S3 source: cannot read {location}", _bucket, S3SourceOptions.CaFileSetting) is { } failure)
        {
            throw failure;
        }

        var actual = S3Values.Unquote(response.ETag);
        if (etag is not null && !string.Equals(actual, etag, StringComparison.Ordinal))
        {
            response.Dispose();
            throw Changed(location, etag, actual, null);
        }

        return new S3ReadStream(response);
    }

    /// <inheritdoc />
    /// <remarks>
    /// The object's ETag and size are compared first (a HEAD request), then the delete asks for the same ETag (If-Match,
    /// which S3 answers with 412 for another version); an S3-compatible server that ignores the condition leaves the
    /// window between the two requests open, as short as one request.
    /// </remarks>
    /// <exception cref="IntakeException">Config for a missing bucket or denied access; Transient for network and server failures.</exception>
    public async Task<SourceRemoval> DeleteAsync(string key, string expectedFingerprint, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(expectedFingerprint);
        var location = Describe(key);
        var etag = EtagOf(expectedFingerprint);
        GetObjectMetadataResponse head;
        try
        {
            head = await _client.GetObjectMetadataAsync(new GetObjectMetadataRequest { BucketName = _bucket, Key = _prefix + key }, cancellationToken);
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested && S3Failures.Classify(ex) == S3Failure.NotFound)
        {
            return SourceRemoval.AlreadyGone;
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested && S3Failures.ToIntake(ex, $"S3 source: cannot look at {location} before deleting it", _bucket, S3SourceOptions.CaFileSetting) is { } failure)
        {
            throw failure;
        }

        var now = string.Create(CultureInfo.InvariantCulture, $"size:{head.ContentLength};etag:{S3Values.Unquote(head.ETag)}");
        if (etag is null || !string.Equals(now, expectedFingerprint, StringComparison.Ordinal))
        {
            return SourceRemoval.Changed; // another version, or a fingerprint this source did not make: never delete blindly
        }

        try
        {
            await _client.DeleteObjectAsync(new DeleteObjectRequest { BucketName = _bucket, Key = _prefix + key, IfMatch = $"\"{etag}\"" }, cancellationToken);
            return SourceRemoval.Deleted;
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested && S3Failures.Classify(ex) == S3Failure.PreconditionFailed)
        {
            return SourceRemoval.Changed;
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested && S3Failures.Classify(ex) == S3Failure.NotFound)
        {
            return SourceRemoval.AlreadyGone;
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested && S3Failures.ToIntake(ex, $"S3 source: cannot delete {location}", _bucket, S3SourceOptions.CaFileSetting) is { } failure)
        {
            throw failure;
        }
    }

    /// <summary>The ETag in a fingerprint this source made (<c>size:…;etag:…</c>); null for any other.</summary>
    private static string? EtagOf(string fingerprint)
    {
        const string Marker = ";etag:";
        var at = fingerprint.IndexOf(Marker, StringComparison.Ordinal);
        return at < 0 || !fingerprint.StartsWith("size:", StringComparison.Ordinal) ? null : fingerprint[(at + Marker.Length)..];
    }

    private static IntakeException Changed(string location, string? listed, string? now, Exception? cause) => IntakeException.Integrity(
        $"S3 source: {location} was rewritten after it was listed (ETag {listed} then, {now ?? "another"} now); this load's version is gone, " +
        "and the new content is a load of its own once discovery lists it", cause);

    /// <inheritdoc />
    public string Describe(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        if (!IsRelativePath(key))
        {
            // Keys come from our own listing; anything else may be an attempt to read outside the prefix.
            throw new ArgumentException($"'{key.Replace('\0', '?')}' is not a relative path inside the source folder.", nameof(key));
        }

        return $"s3://{_bucket}/{_prefix}{key}";
    }

    /// <inheritdoc />
    public bool Offers(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        return IsRelativePath(key) && _include.Any(g => g.IsMatch(key)) && !_exclude.Any(g => g.IsMatch(key));
    }

    /// <inheritdoc />
    /// <remarks><paramref name="written"/> is not used: S3 sets the time, and the fingerprint holds the ETag instead.</remarks>
    /// <exception cref="ArgumentException">The key is not a relative path.</exception>
    /// <exception cref="IntakeException">Config for a missing bucket or denied access; Transient for network and server failures.</exception>
    public async Task WriteAsync(string key, Stream content, DateTimeOffset written, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(content);
        var location = Describe(key);
        var objectKey = _prefix + key;

        // The body is sent with its length and MD5 (no chunked signing: S3-compatible servers differ on it), so it is
        // read twice: a seekable stream (the spool's file) in place, anything else from memory. One PUT takes up to 5 GiB.
        MemoryStream? copy = null;
        var body = content;
        if (!content.CanSeek)
        {
            copy = new MemoryStream();
            await content.CopyToAsync(copy, cancellationToken);
            body = copy;
        }

        try
        {
            var start = body.Position;
            var length = body.Length - start;
#pragma warning disable CA5351 // MD5 is S3's transfer check (Content-MD5), not a security measure.
            var md5 = await MD5.HashDataAsync(body, cancellationToken);
#pragma warning restore CA5351
            body.Position = start;
            try
            {
                var head = await _client.GetObjectMetadataAsync(new GetObjectMetadataRequest { BucketName = _bucket, Key = objectKey }, cancellationToken);
                if (head.ContentLength == length)
                {
                    return;
                }
            }
            catch (Exception ex) when (!cancellationToken.IsCancellationRequested && S3Failures.Classify(ex) == S3Failure.NotFound)
            {
                // Not written yet: the usual case.
            }
            catch (Exception ex) when (!cancellationToken.IsCancellationRequested && S3Failures.ToIntake(ex, $"S3 source: cannot look up {location}", _bucket, S3SourceOptions.CaFileSetting) is { } failure)
            {
                throw failure;
            }

            var request = new PutObjectRequest
            {
                BucketName = _bucket,
                Key = objectKey,
                InputStream = body,
                AutoCloseStream = false,
                MD5Digest = Convert.ToBase64String(md5),
                UseChunkEncoding = false,
                DisablePayloadSigning = _unsignedPayload,
            };
            await S3Failures.CallAsync(token => _client.PutObjectAsync(request, token), $"S3 source: cannot write {location}", _bucket, S3SourceOptions.CaFileSetting, cancellationToken);
        }
        finally
        {
            copy?.Dispose();
        }
    }

    /// <inheritdoc />
    public void Dispose() => _client.Dispose();

    internal static bool IsRelativePath(string key) =>
        key.Length > 0 && !key.Contains('\\', StringComparison.Ordinal) && !key.Contains('\0', StringComparison.Ordinal) &&
        !key.Split('/').Any(s => s is "" or "." or "..");
}
