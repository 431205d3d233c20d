using Intake.Core.Errors;
using Intake.Shared.S3;

namespace Intake.Sources.S3;

/// <summary>Which bucket and folder an <see cref="S3Source"/> watches, what it takes, and how it reaches the service.</summary>
public sealed class S3SourceOptions
{
    /// <summary>Endpoint of an S3-compatible service, e.g. <c>https://minio.partner.example:9000</c>; empty for AWS S3 itself.</summary>
    public string? ServiceUrl { get; set; }

    /// <summary>Signing region. Default <c>us-east-1</c>, which S3-compatible servers expect.</summary>
    public string Region { get; set; } = "us-east-1";

    /// <summary>The bucket to list. Required.</summary>
    public string Bucket { get; set; } = "";

    /// <summary>Folder inside the bucket whose files are offered, e.g. <c>outgoing/daily</c>; empty for the whole bucket. Keys are relative to it.</summary>
    public string? Prefix { get; set; }

    /// <summary>Both keys, or neither to use the SDK's default credentials (environment, profile, instance role).</summary>
    public string? AccessKey { get; set; }

    /// <summary>Never logged or put in a message.</summary>
    public string? SecretKey { get; set; }

    /// <summary>Path-style addressing (<c>host/bucket/key</c>). Default true: S3-compatible servers rarely have wildcard DNS for virtual-host buckets.</summary>
    public bool ForcePathStyle { get; set; } = true;

    /// <summary>PEM file of certificates to trust besides the system's, for an https endpoint with a private or self-signed certificate.</summary>
    public string? CaFile { get; set; }

    /// <summary>Patterns (see <see cref="Glob"/>) a key, relative to <see cref="Prefix"/>, must match at least one of. Default <c>**/*</c>.</summary>
    public IList<string> Include { get; set; } = ["**/*"];

    /// <summary>Patterns that take a key out again, e.g. <c>archive/**</c>. Default: none.</summary>
    public IList<string> Exclude { get; set; } = [];

    /// <summary>Match patterns ignoring case. Default false (S3 keys are case-sensitive).</summary>
    public bool IgnoreCase { get; set; }

    /// <summary>Retries of one request inside the SDK (throttling, 5xx, network errors), with jittered backoff. Default 3.</summary>
    public int MaxErrorRetry { get; set; } = 3;

    /// <summary>Longest wait for one request's response headers. Default 5 minutes.</summary>
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>Keys per listing request (1–1000). Default 1000, S3's maximum.</summary>
    public int ListPageSize { get; set; } = 1000;

    /// <summary>What a pipeline's configuration calls <see cref="CaFile"/>, as messages name it.</summary>
    internal const string CaFileSetting = "trust_certificate";

    /// <summary>Every setting that cannot work, each naming its key (never a secret's value); empty when all can.</summary>
    public IReadOnlyList<string> Problems()
    {
        var problems = Endpoint().Problems().ToList();
        if (string.IsNullOrWhiteSpace(Bucket) || Bucket.Any(c => c == '/' || char.IsWhiteSpace(c) || char.IsControl(c)))
        {
            problems.Add($"'bucket' must be a bucket name (no '/', no spaces), not '{Bucket}'");
        }

        var prefix = (Prefix ?? "").Trim('/');
        if (prefix.Length > 0 && !S3Source.IsRelativePath(prefix))
        {
            problems.Add($"'prefix' '{Prefix}' is not a folder path ('a/b': no '//', '.' or '..' segments, no backslash)");
        }

        if (Include is null || Include.Count == 0)
        {
            problems.Add("'include' is empty, so no file could ever be taken (the default is **/*)");
        }

        if (ListPageSize is < 1 or > 1000)
        {
            problems.Add($"'list_page_size' must be between 1 and 1000, not {ListPageSize}");
        }

        foreach (var pattern in (Include ?? []).Concat(Exclude ?? []))
        {
            try
            {
                _ = Glob.Parse(pattern, IgnoreCase);
            }
            catch (IntakeException ex)
            {
                problems.Add(ex.Message);
            }
        }

        return problems;
    }

    /// <summary>Checks every setting at once; makes no request.</summary>
    /// <exception cref="IntakeException">Config, listing every setting that cannot work.</exception>
    public void Validate()
    {
        var problems = Problems();
        if (problems.Count > 0)
        {
            throw IntakeException.Config($"S3 source s3://{Bucket}/{(Prefix ?? "").Trim('/')}: {string.Join("; ", problems)}");
        }
    }

    internal S3Endpoint Endpoint() =>
        new(ServiceUrl, Region, AccessKey, SecretKey, ForcePathStyle, CaFile, MaxErrorRetry, RequestTimeout) { CaFileSetting = CaFileSetting };
}
