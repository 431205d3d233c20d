using System.Security.Cryptography;
using Intake.Engine.Mail;

namespace Intake.Engine.Tests.Mail;

/// <summary>
/// A mail load's route and its modules: the route's <c>module:</c> chooses which of the pipeline's modules run, and the
/// route's values (captures, folders, envelope, subject) reach them, the route's folders over the pipeline's defaults and
/// the load's own identity over both; read from the route step's record, also after a re-drive.
/// </summary>
public sealed class MailModuleTests : IAsyncLifetime
{
    /// <summary>The report route (names its module) and the alert route (names none), both to the same address.</summary>
    private const string Routes = """
          - name: system_report
            recipient: "reports+{customer}.{token}@hview.example"
            token: s3cret-token
            senders: ["*@hydrastor.example"]
            subject: "^System report of (?<grid>[A-Za-z0-9_]+)$"
            customer: "{customer}"
            category: hydrastor
            group: "{grid}"
            module: summary
          - name: alert
            recipient: "reports+{customer}.{token}@hview.example"
            token: s3cret-token
            senders: ["*@hydrastor.example"]
            subject: "^ALERT on (?<node>[A-Za-z0-9_]+)$"
            customer: "{customer}"
            category: hydrastor
            group: "{node}"
        """;

    /// <summary>summary: the body's pairs with every value a module may use; subjects: one row per subject.</summary>
    private const string Modules = """
        modules:
          - name: summary
            kind: text
            from: body
            pairs: whole
            table: reports
            constants:
              customer: "{customer}"
              route_customer: "{route_customer}"
              category: "{category}"
              kind: "{type}"
              grp: "{group}"
              grid: "{grid}"
              route: "{route}"
              sender: "{sender}"
              recipient: "{recipient}"
              subject: "{subject}"
              message_id: "{message_id}"
              pipeline: "{pipeline}"
          - name: subjects
            kind: text
            from: subject
            pattern: "^(?<line>.+)$"
            table: subjects
        """;

    private const string Steps = "[receive, route, extract, archive]";

    private readonly MailProject _project = new(warehouse: true);

    public Task InitializeAsync()
    {
        _project.WritePipeline(Routes, steps: Steps, rest: Modules);
        return Task.CompletedTask;
    }

    public async Task DisposeAsync() => await _project.DisposeAsync();

    private static string Sha8(byte[] message) => Convert.ToHexStringLower(SHA256.HashData(message))[..8];

    private async Task<Load> ReceiveAndRunAsync(IntakeRuntime runtime, byte[] message)
    {
        var receipt = await MailProject.ReceiveAsync(new MailReceiver(runtime), message);
        receipt.Outcome.ShouldBe(MailReceiveOutcome.Accepted, receipt.Message);
        await MailProject.DrainAsync(runtime);
        return (await runtime.Catalog.GetLoadAsync(receipt.LoadId!.Value, default))!;
    }

    [Fact]
    public async Task RouteNamingAModule_RunsOnlyThatModule_ARouteNamingNone_RunsThemAll()
    {
        // The alert route captures no grid: here summary does not ask for one.
        _project.WritePipeline(Routes, steps: Steps, rest: Modules.Replace("      grid: \"{grid}\"\n", "", StringComparison.Ordinal));
        var runtime = await _project.OpenAsync();

        var report = await ReceiveAndRunAsync(runtime, MailProject.Message());
        var alert = await ReceiveAndRunAsync(runtime, MailProject.Message(subject: "ALERT on node_7", messageId: "alert-1@hydrastor.example"));

        report.Status.ShouldBe(LoadStatus.Archived, report.ErrorMessage);
        alert.Status.ShouldBe(LoadStatus.Archived, alert.ErrorMessage);
        (await runtime.Catalog.GetStepsAsync(report.Id, default)).Single(s => s.Step == "module").Outputs.ShouldBe(["main:reports"]);
        (await runtime.Catalog.GetStepsAsync(alert.Id, default)).Single(s => s.Step == "module").Outputs.ShouldBe(["main:reports", "main:subjects"]);
        _project.Rows("select line from subjects").ShouldBe([["ALERT on node_7"]]); // the report's subject is not there
    }

    [Fact]
    public async Task RouteValues_ReachTheModule_TheRouteFoldersOverThePipelineDefaults()
    {
        var runtime = await _project.OpenAsync();

        var load = await ReceiveAndRunAsync(runtime, MailProject.Message());

        load.Status.ShouldBe(LoadStatus.Archived, load.ErrorMessage);
        _project.Rows("select customer, route_customer, category, kind, grp, grid, route, sender, recipient, subject, message_id, pipeline, capacity from reports").ShouldBe([[
            "bobs_burgers", "bobs_burgers", "hydrastor", "system_report", "icecream_machine", "icecream_machine", "system_report", "nas1@hydrastor.example",
            "reports+bobs_burgers.s3cret-token@hview.example", "System report of icecream_machine", "report-1@hydrastor.example", "mail", "42%",
        ]]); // the pipeline's own category, type and group are data, file and default
    }

    /// <summary>
    /// A message no route takes is kept and errored; once the routes are fixed and it is re-driven, it is archived under the
    /// new route's folders and its module sees the new route's values. Its load's customer stays the one it was
    /// registered with (the pipeline's): <c>{customer}</c> is the load's, <c>{route_customer}</c> the route's.
    /// </summary>
    [Fact]
    public async Task Unrouted_RedrivenAfterTheFix_GetsTheNewRouteFoldersInItsArchivePathAndItsModuleValues()
    {
        var runtime = await _project.OpenAsync();
        var message = MailProject.Message(subject: "Systemreport icecream_machine");
        var errored = await ReceiveAndRunAsync(runtime, message);
        errored.Status.ShouldBe(LoadStatus.Errored);
        errored.ErrorKind.ShouldBe(ErrorKind.Config);

        _project.WritePipeline(Routes.Replace("^System report of ", "^System ?report (of )?", StringComparison.Ordinal), steps: Steps, rest: Modules);
        var fixedRuntime = await _project.OpenAsync();
        (await fixedRuntime.Actions.RedriveAsync(errored, default)).Done.ShouldBeTrue();
        await MailProject.DrainAsync(fixedRuntime);

        var load = (await fixedRuntime.Catalog.GetLoadAsync(errored.Id, default))!;
        load.Status.ShouldBe(LoadStatus.Archived, load.ErrorMessage);
        File.Exists(_project.Stored($"archive/bobs_burgers/hydrastor/system_report/icecream_machine/20230113_120000_{Sha8(message)}/message.eml")).ShouldBeTrue();
        File.Exists(_project.Stored($"archive/bobs_burgers/hydrastor/system_report/icecream_machine/20230113_120000_{Sha8(message)}/body.txt")).ShouldBeTrue();
        load.Customer.ShouldBe("acme");
        _project.Rows("select customer, route_customer, category, kind, grp, grid, route from reports").ShouldBe([[
            "acme", "bobs_burgers", "hydrastor", "system_report", "icecream_machine", "icecream_machine", "system_report",
        ]]);
        (await fixedRuntime.Catalog.GetStepsAsync(load.Id, default)).Single(s => s.Step == "module").Outputs.ShouldBe(["main:reports"]);
    }

    /// <summary>
    /// The module step reads the route from the route step's record, not from the routes as configured now: a load whose
    /// route chose a module that the pipeline no longer declares fails, naming the route, the module and the pipeline's modules.
    /// </summary>
    [Fact]
    public async Task RecordedRoute_ChoosingAModuleThePipelineDropped_FailsAsConfig_NamingRouteModuleAndModules()
    {
        // The first run's summary module fails (a declared column that cannot take the value), after the route was recorded.
        _project.WritePipeline(Routes, steps: Steps, rest: Modules.Replace("    table: reports\n", "    table: reports\n    columns: { capacity: integer }\n", StringComparison.Ordinal));
        var runtime = await _project.OpenAsync();
        var first = await ReceiveAndRunAsync(runtime, MailProject.Message());
        first.Status.ShouldBe(LoadStatus.Errored);

        // Now the pipeline has only the subjects module, and the route names none; the recorded route still chose summary.
        _project.WritePipeline(Routes.Replace("    module: summary\n", "", StringComparison.Ordinal), steps: Steps, rest: """
            modules:
              - name: subjects
                kind: text
                from: subject
                pattern: "^(?<line>.+)$"
                table: subjects
            """);
        var changed = await _project.OpenAsync();
        (await changed.Actions.RedriveAsync(first, default)).Done.ShouldBeTrue();
        await MailProject.DrainAsync(changed);

        var load = (await changed.Catalog.GetLoadAsync(first.Id, default))!;
        load.Status.ShouldBe(LoadStatus.Errored);
        load.ErrorKind.ShouldBe(ErrorKind.Config);
        load.ErrorMessage.ShouldBe($"load {load.Id}: route 'system_report' chose the module 'summary', which pipeline mail does not declare (its modules: subjects); add it under modules: in {_project.PipelineFile}, then re-drive load {load.Id}");
    }
}
