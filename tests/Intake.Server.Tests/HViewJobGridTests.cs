using Intake.Core.Model;
using Intake.Server.Api;

namespace Intake.Server.Tests;

/// <summary>
/// The grid <c>GET /api/1.0/jobs</c> gives a job: the group of HView's layout wherever the load's data lies, an upload's
/// path (the spec's short <c>&lt;customer&gt;/&lt;grid&gt;/</c> or the full <c>&lt;customer&gt;/&lt;category&gt;/&lt;type&gt;/&lt;group&gt;/&lt;datetime&gt;/</c>)
/// or a routed mail's inbox folder, never a category or the pipeline's placeholder group.
/// </summary>
public sealed class HViewJobGridTests
{
    [Theory]
    [InlineData("bobs_burgers/icecream_machine/big_ol_dump.tar.gz", null, "icecream_machine")]
    [InlineData("bobs_burgers/hydrastor/veritas2hview/icecream_machine/20230113_120000/dump.tar.gz", null, "icecream_machine")]
    [InlineData("system-report-1@hydrastor.example", "bobs_burgers/hydrastor/system_report/icecream_machine/20230113_120000_3f9a0c1e/message.eml", "icecream_machine")]
    [InlineData("dump.tar.gz", null, "default")]
    public void GridOf_TakesTheGroupOfHViewsLayout_FromTheUploadPathOrTheMailsInboxFolder(string sourceKey, string? inboxKey, string grid) =>
        HViewEndpoints.GridOf(Load("bobs_burgers", sourceKey, inboxKey), "hydrastor", "veritas2hview", "default").ShouldBe(grid);

    [Fact]
    public void GridOf_AnUnroutedMail_HasThePipelinesGroup_NotItsPipelineName() =>
        HViewEndpoints.GridOf(Load("hview", "newsletter@hydrastor.example", "hview/hydrastor/unrouted/system_report/20230113_120000_3f9a0c1e/message.eml"), "hydrastor", "system_report", "default")
            .ShouldBe("default");

    private static Load Load(string customer, string sourceKey, string? inboxKey) =>
        new() { Pipeline = "p", Customer = customer, SourceKey = sourceKey, Fingerprint = "f", InboxKey = inboxKey };
}
