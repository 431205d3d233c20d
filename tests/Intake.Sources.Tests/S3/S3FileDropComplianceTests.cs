using Intake.Sources.S3;
using Intake.Sources.Tests.Support;
using Intake.Tests.Shared;

namespace Intake.Sources.Tests.S3;

/// <summary>The file-drop compliance suite on the S3 test server, under a prefix of a bucket of its own.</summary>
[RequiresServer(typeof(S3FactAttribute))]
public sealed class S3FileDropComplianceTests : FileDropComplianceTests
{
    private string _bucket = null!;

    protected override async Task SetUpAsync() => _bucket = await TestS3.Http.CreateBucketAsync();

    protected override IFileSource Create(IList<string>? include = null, IList<string>? exclude = null) =>
        new S3Source(TestS3.Http.SourceOptions(_bucket, o =>
        {
            o.Prefix = "incoming";
            o.Include = include ?? o.Include;
            o.Exclude = exclude ?? o.Exclude;
        }));
}
