using Intake.Core.Ports;
using Intake.Sources.S3;

namespace Intake.Engine.SourceKinds.S3;

/// <summary><c>source.kind: s3</c>: the objects under a prefix of a bucket on S3 or an S3-compatible service (<see cref="S3Source"/>).</summary>
internal sealed class S3Kind : FileSourceKind<S3SourceOptions>
{
    public override string Name => "s3";

    public override string Reads => "an S3 bucket";

    public override IFileSource CreateSource(S3SourceOptions options, TimeProvider time) => new S3Source(options);

    /// <summary>The adapter's checks, one problem each, without building a client.</summary>
    protected override IEnumerable<string> Check(S3SourceOptions options) => options.Problems();

    /// <remarks>Secrets (secret_key) are best given as <c>${VAR}</c>, from the environment or <c>.env</c>.</remarks>
    protected override S3SourceOptions Read(SourceReading reading)
    {
        var src = reading.Source;
        var o = new S3SourceOptions();
        o.ServiceUrl = src.String("url", required: true) ?? o.ServiceUrl;
        o.Bucket = src.String("bucket", required: true) ?? o.Bucket;
        o.Prefix = src.String("prefix") ?? o.Prefix;
        o.Region = src.String("region", fallback: o.Region)!;

        // Required here, although the adapter could fall back to the SDK's default credentials (environment,
        // profile, instance role): a pipeline says which account it reads with.
        o.AccessKey = src.String("access_key", required: true) ?? o.AccessKey;
        o.SecretKey = src.String("secret_key", required: true) ?? o.SecretKey;
        o.CaFile = src.String("trust_certificate") is { } certificate ? reading.ResolvePath(certificate) : o.CaFile;
        o.ForcePathStyle = src.Bool("force_path_style", o.ForcePathStyle);
        o.Include = src.StringList("include")?.ToList() ?? o.Include;
        o.Exclude = src.StringList("exclude")?.ToList() ?? o.Exclude;
        o.IgnoreCase = src.Bool("ignore_case", o.IgnoreCase);
        o.MaxErrorRetry = src.Int("max_error_retry", o.MaxErrorRetry);
        o.RequestTimeout = src.Duration("request_timeout", o.RequestTimeout);
        o.ListPageSize = src.Int("list_page_size", o.ListPageSize);

        // S3 shows an object only once its upload is complete, so there is no stable-file rule to wait for; the
        // requests' limit is request_timeout.
        reading.AcceptUnused("stable_for", "timeout");
        return o;
    }

    protected override string Location(S3SourceOptions options) => $"s3://{options.Bucket}/{(options.Prefix ?? "").Trim('/')}";
}
