namespace Intake.Storage.S3;

/// <summary>Where an <see cref="S3ObjectStore"/> keeps its objects and how it talks to the service.</summary>
/// <remarks>
/// <para>
/// Layout: one bucket, objects at <c>&lt;Prefix&gt;/&lt;area&gt;/&lt;key&gt;</c>. One bucket per store keeps setup to a
/// single bucket and a single policy, lets several stores (or environments) share a bucket under
/// different prefixes, and makes a copy between areas a same-bucket server-side copy. Areas that must live
/// elsewhere, such as raw copies kept in a bucket per data type, are listed in <see cref="AreaBuckets"/>.
/// </para>
/// <para>
/// Memory: one upload holds at most <see cref="MaxConcurrentParts"/> buffers of <see cref="PartSize"/> bytes
/// (64 MiB with the defaults), whatever the object's size. Buffers come from the shared array pool, which
/// rounds a size up to a power of two (a 5 MiB part takes an 8 MiB array) and reuses them across uploads.
/// </para>
/// </remarks>
public sealed class S3StoreOptions
{
    /// <summary>S3's smallest part (every part but the last).</summary>
    public const int MinPartSize = 5 * 1024 * 1024;

    /// <summary>Our largest part: a part is one pooled array, and 1 GiB already buys the 10,000-part limit ~9.8 TiB objects.</summary>
    public const int MaxPartSize = 1024 * 1024 * 1024;

    /// <summary>The store's name in configuration.</summary>
    public string Name { get; set; } = "";

    /// <summary>Endpoint of an S3-compatible service, e.g. <c>https://minio.internal:9000</c>; empty for AWS S3 itself.</summary>
    public string? ServiceUrl { get; set; }

    /// <summary>Signing region. Default <c>us-east-1</c>, which S3-compatible servers expect.</summary>
    public string Region { get; set; } = "us-east-1";

    /// <summary>The bucket of every area not in <see cref="AreaBuckets"/>. Required; the store never creates it.</summary>
    public string Bucket { get; set; } = "";

    /// <summary>Optional folder inside <see cref="Bucket"/> above the areas, e.g. <c>intake/prod</c>.</summary>
    public string? Prefix { get; set; }

    /// <summary>
    /// Areas kept in a bucket of their own, as <c>area → "bucket"</c> or <c>area → "bucket/prefix"</c>. Keys of
    /// such an area sit directly under that bucket and prefix, without the area's name (the bucket is the
    /// area's alone). Example: <c>raw → "cold-raw-system-reports"</c>. Two areas may not overlap.
    /// </summary>
    public IDictionary<string, string> AreaBuckets { get; set; } = new Dictionary<string, string>(StringComparer.Ordinal);

    /// <summary>Both keys, or neither to use the SDK's default credentials (environment, profile, instance role).</summary>
    public string? AccessKey { get; set; }

    /// <summary>Never logged or put in a message.</summary>
    public string? SecretKey { get; set; }

    /// <summary>Path-style addressing (<c>host/bucket/key</c>). Default true: S3-compatible servers rarely have wildcard DNS for virtual-host buckets.</summary>
    public bool ForcePathStyle { get; set; } = true;

    /// <summary>
    /// Bytes per uploaded part, and the size from which a put becomes a multipart upload. Default 16 MiB:
    /// few requests per gigabyte while a failed part costs little to resend. At least 5 MiB (S3's rule); the
    /// 10,000-part limit caps an object at 10,000 × this (156 GiB with the default).
    /// </summary>
    public int PartSize { get; set; } = 16 * 1024 * 1024;

    /// <summary>Part buffers one upload may hold at once, the one being filled included; also the parts in flight. Default 4.</summary>
    public int MaxConcurrentParts { get; set; } = 4;

    /// <summary>PEM file of certificates to trust besides the system's, for an https endpoint with a private or self-signed certificate.</summary>
    public string? CaFile { get; set; }

    /// <summary>Retries of one request inside the SDK (throttling, 5xx, network errors), with jittered backoff. Default 3.</summary>
    public int MaxErrorRetry { get; set; } = 3;

    /// <summary>Longest wait for one request's response headers (uploads include sending the part). Default 5 minutes.</summary>
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>Keys per listing request (1–1000). Default 1000, S3's maximum; smaller only to test paging.</summary>
    public int ListPageSize { get; set; } = 1000;

    /// <summary>
    /// Compare the ETag the server returns with the MD5 of what was sent. Default true. Turn off only for a
    /// server whose ETags are opaque (some gateways, or buckets encrypted with SSE-C); objects encrypted with
    /// SSE-KMS are recognised and skipped automatically.
    /// </summary>
    public bool VerifyETag { get; set; } = true;
}
