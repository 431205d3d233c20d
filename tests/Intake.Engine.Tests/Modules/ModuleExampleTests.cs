using Intake.Tests.Shared;

namespace Intake.Engine.Tests.Modules;

/// <summary>
/// HView's three modules (Modules/Examples) end to end: files dropped, discovered, run by a real worker into a real
/// warehouse, and the tables read back.
/// </summary>
public sealed class ModuleExampleTests
{
    private const string SystemReportBody = """
        HYDRAstor system report
        Grid Name: icecream_machine
        Report Date: 2023-01-13
        Capacity Used %: 81.5
        Nodes: 2
        Firmware: 5.6.1
        """;

    [Fact]
    public async Task Veritas2Hview_TarGzOfCsvs_FillsTwoTables_AndANewDumpOfTheGridReplacesItsRows() =>
        await Veritas2HviewAsync(ModuleProject.Sqlite());

    [PostgresFact]
    public async Task Veritas2Hview_OnPostgres_FillsTwoTables_AndANewDumpOfTheGridReplacesItsRows() =>
        await Veritas2HviewAsync(await ModuleProject.PostgresAsync());

    private static async Task Veritas2HviewAsync(ModuleProject project)
    {
        await using var _ = project;
        project.Example("veritas2hview");
        project.DropTarGz("bobs_burgers/icecream_machine/dump1.tar.gz",
            ("dump/jobs.csv", "job_id,policy,status\n1,daily,ok\n2,weekly,failed\n"),
            ("dump/policies.csv", "policy,schedule\ndaily,0 1 * * *\nweekly,0 2 * * 0\n"),
            ("dump/README.txt", "not data"));
        project.DropTarGz("bobs_burgers/other_grid/dump1.tar.gz", ("dump/jobs.csv", "job_id,policy,status\n1,daily,ok\n"));

        var loads = await project.TriggerAsync("veritas2hview", "bobs_burgers", "bobs_burgers/icecream_machine/dump1.tar.gz", "bobs_burgers/other_grid/dump1.tar.gz");

        loads.ShouldAllBe(l => l.Status == LoadStatus.Archived, string.Join("; ", loads.Select(l => l.ErrorMessage)));
        (await project.RowsAsync("select grid, job_id, status, customer from veritas_jobs order by grid, job_id")).ShouldBe(
        [
            ["icecream_machine", "1", "ok", "bobs_burgers"], ["icecream_machine", "2", "failed", "bobs_burgers"], ["other_grid", "1", "ok", "bobs_burgers"],
        ]);
        (await project.CountAsync("veritas_policies")).ShouldBe(2);

        // The next dump of the grid: job 2 now succeeded, job 3 is new; the other grid's rows stay.
        project.DropTarGz("bobs_burgers/icecream_machine/dump2.tar.gz",
            ("dump/jobs.csv", "job_id,policy,status\n2,weekly,ok\n3,daily,ok\n"),
            ("dump/policies.csv", "policy,schedule\ndaily,0 1 * * *\nweekly,0 2 * * 0\n"));
        loads = await project.TriggerAsync("veritas2hview", "bobs_burgers", "bobs_burgers/icecream_machine/dump2.tar.gz");

        loads.ShouldAllBe(l => l.Status == LoadStatus.Archived, string.Join("; ", loads.Select(l => l.ErrorMessage)));
        (await project.RowsAsync("select grid, job_id, status from veritas_jobs order by grid, job_id")).ShouldBe(
        [
            ["icecream_machine", "1", "ok"], ["icecream_machine", "2", "ok"], ["icecream_machine", "3", "ok"], ["other_grid", "1", "ok"],
        ]);
        (await project.CountAsync("veritas_policies")).ShouldBe(2);
        var last = loads.MaxBy(l => l.Id)!;
        var step = (await project.Project.StepsAsync(last.Id)).Single(s => s.Step == "module");
        step.Outcome.ShouldBe(StepOutcome.Succeeded);
        step.RowsOut.ShouldBe(4);
        step.Message.ShouldBe("veritas_jobs: 2 rows (1 of older loads replaced); veritas_policies: 2 rows (2 of older loads replaced)");
    }

    [Fact]
    public async Task SystemReport_BodyPairsAndCsvAttachment_IntoTwoTables_ARedeliveredReportReplacesTheFirst() =>
        await SystemReportAsync(ModuleProject.Sqlite());

    [PostgresFact]
    public async Task SystemReport_OnPostgres_BodyPairsAndCsvAttachment_IntoTwoTables_ARedeliveredReportReplacesTheFirst() =>
        await SystemReportAsync(await ModuleProject.PostgresAsync());

    private static async Task SystemReportAsync(ModuleProject project)
    {
        await using var _ = project;
        project.Example("system_report");
        project.DropTarGz("report1.tar.gz",
            ("body.txt", SystemReportBody),
            ("attachments/nodes.csv", "grid,date,node,status\nicecream_machine,2023-01-13,n1,ok\nicecream_machine,2023-01-13,n2,degraded\n"));

        (await project.Project.RunAsync("system_report")).ShouldHaveSingleItem().Status.ShouldBe(LoadStatus.Archived);

        // The same day's report sent again, corrected: its rows replace the first delivery's.
        project.DropTarGz("report2.tar.gz",
            ("body.txt", SystemReportBody.Replace("81.5", "82.0", StringComparison.Ordinal)),
            ("attachments/nodes.csv", "grid,date,node,status\nicecream_machine,2023-01-13,n1,ok\nicecream_machine,2023-01-13,n2,ok\n"));
        (await project.Project.RunAsync("system_report")).ShouldAllBe(l => l.Status == LoadStatus.Archived);

        (await project.RowsAsync("select grid, cast(date as text), capacity_used, nodes, customer from hydrastor_system_reports")).ShouldBe(
            [["icecream_machine", "2023-01-13", "82", "2", "default"]]);
        (await project.RowsAsync("select node, status from hydrastor_nodes order by node")).ShouldBe([["n1", "ok"], ["n2", "ok"]]);
    }

    [Fact]
    public async Task Alert_SubjectAndBody_IntoOneRowOfTheAlertsTable()
    {
        await using var project = ModuleProject.Sqlite();
        project.Example("alert");
        project.DropTarGz("alert.tar.gz",
            ("parts.json", """{"messages": [{"folder": "", "subject": "HYDRAstor alert: disk failure on n3"}], "parts": []}"""),
            ("body.txt", "Node: n3\nSeverity: major\nAlert Time: 2023-01-13T12:00:00Z\n\nSee the grid's console."));

        (await project.Project.RunAsync("alert")).ShouldHaveSingleItem().Status.ShouldBe(LoadStatus.Archived);

        (await project.RowsAsync("select subject, node, severity, message from hydrastor_alerts")).ShouldBe(
            [["HYDRAstor alert: disk failure on n3", "n3", "major", null]]);
    }
}
