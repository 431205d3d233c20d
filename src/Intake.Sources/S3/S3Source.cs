using System.Globalization;
using System.Runtime.CompilerServices;
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
/// under the same key gets a new ETag (even at the same size), so discovery loads it again.
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
/// </remarks>
public sealed class S3Source : IFileSource, IDisposable
{
    private readonly AmazonS3Client _client;
    private readonly string _bucket;
    private readonly string _prefix;
    private readonly Glob[] _include;
    private readonly Glob[] _exclude;
    private readonly int _listPageSize;

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
        _client = options.Endpoint().CreateClient(wrapHandler);
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

                var size = item.Size ?? 0;
                var etag = S3Values.Unquote(item.ETag);
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
    public void Dispose() => _client.Dispose();

    internal static bool IsRelativePath(string key) =>
        key.Length > 0 && !key.Contains('\\', StringComparison.Ordinal) && !key.Contains('\0', StringComparison.Ordinal) &&
        !key.Split('/').Any(s => s is "" or "." or "..");
}
