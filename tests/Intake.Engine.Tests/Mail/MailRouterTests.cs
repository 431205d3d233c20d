using Intake.Engine.Mail;

namespace Intake.Engine.Tests.Mail;

/// <summary>Routing: recipient captures, the token, the senders, subject and body patterns, and the reason when no route takes a message.</summary>
public sealed class MailRouterTests : IAsyncLifetime
{
    private MailProject _project = null!;

    public Task InitializeAsync()
    {
        _project = new MailProject(routes: MailProject.SystemReportRoute + "\n" + """
              - name: alert
                recipient: "alerts+{customer}@hview.example"
                senders: ["*@hydrastor.example", "ops@bobs.example"]
                subject: "^ALERT"
                body: "(?m)^Node: (?<node>\\S+)$"
                customer: "{customer}"
                category: hydrastor
                group: "{node}"
            """);
        return Task.CompletedTask;
    }

    public async Task DisposeAsync() => await _project.DisposeAsync();

    private MailDecision? Route(string recipient, string subject, string sender = "nas1@hydrastor.example", string? from = null, string body = "")
    {
        var facts = new MailFacts(sender, [recipient], [from ?? sender], subject, () => body);
        return MailRouter.Route(_project.Config().Pipelines, facts);
    }

    [Fact]
    public void Route_SystemReport_TakesTheGridFromTheSubject()
    {
        var decision = Route("reports+bobs_burgers.s3cret-token@hview.example", "System report of icecream_machine").ShouldNotBeNull();

        var targets = decision.Targets.ShouldNotBeNull();
        targets.ToString().ShouldBe("route system_report: acme/hydrastor/system_report/icecream_machine");
        targets.Captures.ShouldBe(new Dictionary<string, string> { ["customer"] = "bobs_burgers", ["grid"] = "icecream_machine" }); // never the token
    }

    [Fact]
    public void Route_CapturesFromRecipientAndBody_FillTheTemplates()
    {
        var decision = Route("Alerts+Bobs_Burgers@HVIEW.example", "ALERT disk full", from: "ops@bobs.example", sender: "ops@bobs.example", body: "Disk full\nNode: node-7\n").ShouldNotBeNull();

        var targets = decision.Targets.ShouldNotBeNull();
        targets.ToString().ShouldBe("route alert: Bobs_Burgers/hydrastor/alert/node-7");
        targets.Captures.ShouldBe(new Dictionary<string, string> { ["customer"] = "Bobs_Burgers", ["node"] = "node-7" });
    }

    [Fact]
    public void Route_HostileCapture_BecomesOneSafeFolderName()
    {
        var decision = Route("alerts+x@hview.example", "ALERT", body: "Node: ../../etc\n").ShouldNotBeNull();

        decision.Targets!.Group.ShouldBe("_.._etc");
    }

    [Theory]
    [InlineData("reports+bobs_burgers.wrong-token@hview.example")]
    [InlineData("reports+bobs_burgers@hview.example")]
    [InlineData("someone@hview.example")]
    [InlineData("reports+bobs_burgers.s3cret-token@other.example")]
    public void Route_RecipientWithoutItsToken_IsUnknown(string recipient)
    {
        Route(recipient, "System report of icecream_machine").ShouldBeNull();
        MailRouter.AcceptsRecipient(_project.Config().Pipelines, recipient).ShouldBeFalse();
    }

    [Fact]
    public void AcceptsRecipient_WithTheToken_IsTrue() =>
        MailRouter.AcceptsRecipient(_project.Config().Pipelines, "reports+bobs_burgers.s3cret-token@hview.example").ShouldBeTrue();

    [Fact]
    public void Route_SenderNotAllowed_KeepsTheMessageWithTheReason()
    {
        var decision = Route("reports+bobs_burgers.s3cret-token@hview.example", "System report of icecream_machine", sender: "mallory@evil.example").ShouldNotBeNull();

        decision.Routed.ShouldBeFalse();
        decision.Pipeline.Name.ShouldBe("mail");
        decision.Problem.ShouldBe("no route takes this message; the closest, route 'system_report', does not take mail from mallory@evil.example (senders: *@hydrastor.example)");
    }

    [Fact]
    public void Route_ForgedFromWithAnAllowedEnvelopeSender_IsNotTaken()
    {
        var decision = Route("reports+bobs_burgers.s3cret-token@hview.example", "System report of icecream_machine", from: "ceo@bobs.example").ShouldNotBeNull();

        decision.Problem!.ShouldContain("does not take mail from ceo@bobs.example");
    }

    [Fact]
    public void Route_SubjectUnmatched_SaysWhichPatternItMissed()
    {
        var decision = Route("reports+bobs_burgers.s3cret-token@hview.example", "Weekly summary").ShouldNotBeNull();

        decision.Problem!.ShouldContain("route 'system_report', takes the sender, but the subject 'Weekly summary' does not match '^System report of (?<grid>[A-Za-z0-9_]+)$'");
    }

    [Fact]
    public void Route_BodyUnmatched_IsTheClosestReason()
    {
        var decision = Route("alerts+bobs@hview.example", "ALERT disk", body: "no node line").ShouldNotBeNull();

        decision.Problem!.ShouldContain("route 'alert', takes the sender and the subject, but the body does not match");
    }
}
