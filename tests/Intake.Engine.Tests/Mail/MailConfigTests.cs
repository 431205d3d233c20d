using Intake.Engine.Mail;

namespace Intake.Engine.Tests.Mail;

/// <summary>A mail pipeline's source keys and routes: read into routes, every problem reported with its line and key.</summary>
public sealed class MailConfigTests : IAsyncLifetime
{
    private MailProject _project = null!;

    public Task InitializeAsync()
    {
        _project = new MailProject();
        return Task.CompletedTask;
    }

    public async Task DisposeAsync() => await _project.DisposeAsync();

    [Fact]
    public void Load_SystemReportRoute_IsReadWithItsCapturesAndDefaults()
    {
        var pipeline = _project.Config().Pipelines.ShouldHaveSingleItem();

        var options = pipeline.Source.Options.ShouldBeOfType<MailSourceOptions>();
        options.MaxMessageBytes.ShouldBe(25L * 1024 * 1024);
        var route = options.Routes.ShouldHaveSingleItem();
        route.Name.ShouldBe("system_report");
        route.Recipient.Captures.ShouldBe(["customer", "token"]);
        route.Customer.Text.ShouldBe("acme"); // not set: the pipeline's customer
        route.Type.Text.ShouldBe("system_report"); // not set: the route's name
        route.Group.Text.ShouldBe("{grid}");
        route.Modules.ShouldBeEmpty(); // not set: every module of the pipeline
        pipeline.Steps.ShouldBe(["receive", "route", "archive"]);
    }

    [Fact]
    public void Load_MaxMessageSize_IsReadAsASize()
    {
        _project.WritePipeline(MailProject.SystemReportRoute, "{ kind: mail, max_message_size: 10MiB }");

        ((MailSourceOptions)_project.Config().Pipelines[0].Source.Options).MaxMessageBytes.ShouldBe(10L * 1024 * 1024);
    }

    [Fact]
    public void Load_RouteProblems_AreEachReportedWithLineAndKey()
    {
        _project.WritePipeline("""
              - name: a
                recipient: "reports+{customer}@hview.example"
                token: s3cret-token
                subject: "^Report (?<grid>["
                group: "{node}"
              - name: a
                recipient: "not-an-address"
                senders: ["*"]
            """);

        var e = Should.Throw<ConfigException>(() => _project.Config());

        var problems = e.Errors.Select(x => (x.Line, x.Key, x.Reason)).ToList();
        problems.ShouldContain(p => p.Line == 8 && p.Key == "routes[0].token" && p.Reason.Contains("has no {token}", StringComparison.Ordinal));
        problems.ShouldContain(p => p.Line == 6 && p.Key == "routes[0].senders" && p.Reason.Contains("write [\"*\"] to take anyone", StringComparison.Ordinal));
        problems.ShouldContain(p => p.Line == 9 && p.Key == "routes[0].subject" && p.Reason.Contains("is not a valid regular expression", StringComparison.Ordinal));
        problems.ShouldContain(p => p.Line == 10 && p.Key == "routes[0].group" && p.Reason.Contains("names {node}, which the route does not capture (captures: customer)", StringComparison.Ordinal));
        problems.ShouldContain(p => p.Line == 11 && p.Key == "routes[1].name" && p.Reason.Contains("names another route", StringComparison.Ordinal));
        problems.ShouldContain(p => p.Line == 12 && p.Key == "routes[1].recipient" && p.Reason.Contains("is not an address pattern", StringComparison.Ordinal));
        e.Message.ShouldContain("mail.yaml:8: routes[0].token");
    }

    [Fact]
    public void Load_RouteNamingAModuleThePipelineDoesNotDeclare_IsRefused_NamingRouteModuleAndModules()
    {
        _project.WritePipeline(MailProject.SystemReportRoute + "\n    module: [summary, nodes]", rest: """
            modules:
              - { name: summary, kind: text, from: body, pairs: whole, table: reports }
              - { name: alerts, kind: text, from: subject, pattern: "^(?<line>.+)$", table: alerts }
            """);

        var e = Should.Throw<ConfigException>(() => _project.Config());

        var error = e.Errors.ShouldHaveSingleItem();
        error.Key.ShouldBe("routes[0].module");
        error.Line.ShouldBe(13);
        error.Reason.ShouldBe("route 'system_report' names the module 'nodes', which this pipeline does not declare (its modules: summary, alerts); correct the name, or add the module under modules:");
    }

    [Fact]
    public void Load_RouteNamingAModule_InAPipelineWithoutModules_IsRefused()
    {
        _project.WritePipeline(MailProject.SystemReportRoute + "\n    module: hydrastor_system_report");

        var e = Should.Throw<ConfigException>(() => _project.Config());

        e.Errors.ShouldHaveSingleItem().Reason.ShouldBe(
            "route 'system_report' names the module 'hydrastor_system_report', but this pipeline declares no modules: add a modules: list with a module named 'hydrastor_system_report' (see docs/modules.md), or leave the key out");
    }

    [Fact]
    public void Load_RouteNamingModules_KeepsThemInOrder()
    {
        _project.WritePipeline(MailProject.SystemReportRoute + "\n    module: [alerts, summary]", rest: """
            modules:
              - { name: summary, kind: text, from: body, pairs: whole, table: reports }
              - { name: alerts, kind: text, from: subject, pattern: "^(?<line>.+)$", table: alerts }
            """);

        ((MailSourceOptions)_project.Config().Pipelines[0].Source.Options).Routes[0].Modules.ShouldBe(["alerts", "summary"]);
    }

    [Fact]
    public void Load_TokenInRecipientWithoutToken_IsRefused()
    {
        _project.WritePipeline("""
              - name: a
                recipient: "reports+{customer}.{token}@hview.example"
                senders: ["*"]
            """);

        var e = Should.Throw<ConfigException>(() => _project.Config());

        e.Errors.ShouldHaveSingleItem().Reason.ShouldContain("has a {token} but the route sets no token");
    }

    [Fact]
    public void Load_TokenInATemplate_IsRefused()
    {
        _project.WritePipeline("""
              - name: a
                recipient: "reports+{customer}.{token}@hview.example"
                token: s3cret-token
                senders: ["*"]
                group: "{token}"
            """);

        Should.Throw<ConfigException>(() => _project.Config()).Errors.ShouldHaveSingleItem().Reason.ShouldContain("it never goes into a folder name");
    }

    [Fact]
    public void Load_MailPipelineWithoutRoutes_IsRefused()
    {
        File.WriteAllText(_project.PipelineFile, """
            name: mail
            source: { kind: mail }
            steps: [receive, route, archive]
            """);

        var e = Should.Throw<ConfigException>(() => _project.Config());

        e.Errors.ShouldHaveSingleItem().Key.ShouldBe("routes");
    }

    [Fact]
    public void Load_MailPipelineWithoutRouteStep_IsRefused()
    {
        File.WriteAllText(_project.PipelineFile, _project.PipelineFileText().Replace("[receive, route, archive]", "[receive, archive]", StringComparison.Ordinal));

        var e = Should.Throw<ConfigException>(() => _project.Config());

        e.Errors.ShouldHaveSingleItem().Reason.ShouldContain("needs 'route'");
    }

    [Fact]
    public void Load_RoutesOnAFilePipeline_AreRefusedAsTheMailKinds()
    {
        Directory.CreateDirectory(Path.Combine(_project.Root, "in"));
        File.WriteAllText(_project.PipelineFile, """
            name: files
            source: { kind: local, path: ../in }
            steps: [fetch, archive]
            routes: []
            """);

        var e = Should.Throw<ConfigException>(() => _project.Config());

        e.Errors.ShouldHaveSingleItem().Reason.ShouldBe("is only for pipelines with source.kind: mail");
    }

    [Fact]
    public void Load_FetchInAMailPipeline_SaysWhichKindItNeeds()
    {
        File.WriteAllText(_project.PipelineFile, _project.PipelineFileText().Replace("[receive, route, archive]", "[fetch, route, archive]", StringComparison.Ordinal));

        var e = Should.Throw<ConfigException>(() => _project.Config());

        e.Errors.ShouldContain(x => x.Reason.Contains("the first step must be 'receive'", StringComparison.Ordinal));
    }
}

internal static class MailProjectText
{
    public static string PipelineFileText(this MailProject project) => File.ReadAllText(project.PipelineFile);
}
