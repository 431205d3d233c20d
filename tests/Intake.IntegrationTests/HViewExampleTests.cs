using Intake.Tests.Shared;

namespace Intake.IntegrationTests;

/// <summary>
/// Needs what examples/hview/run.sh starts: Postfix (started as root), PostgreSQL and s3rver from scripts/servers. Taken
/// as installed where the test servers run (scripts/test.sh starts them with the same scripts); skipped elsewhere,
/// failing in CI.
/// </summary>
public sealed class HViewExampleFactAttribute : FactAttribute
{
    public HViewExampleFactAttribute() =>
        Skip = TestServers.SkipUnless(
            TestPostfix.IsReachable && TestPostgres.IsReachable && TestServers.Settings("INTAKE_TEST_S3").ContainsKey("url") && Environment.UserName == "root",
            "Postfix, PostgreSQL or s3rver is not running, or the tests do not run as root (scripts/test.sh starts them as root); the HView example starts its own with the same scripts");
}

/// <summary>
/// The HView example's script, run as a user runs it (on a copy, with its own servers on free ports and the CLI of this
/// build): mail through Postfix's pipe into <c>intake mail</c> and straight to <c>intake serve --smtp</c>, an upload
/// announced with HView's trigger; it checks its own results (the modules' tables against expected/*.csv, the unroutable
/// mail errored with kind config, the jobs, the archive's layout, the audit) and exits 1 on any difference.
/// </summary>
public sealed class HViewExampleTests : IDisposable
{
    private readonly ExampleScript _example = new("hview", ["postgres", "s3rver", "postfix"], ["INTAKE_PG_PORT", "INTAKE_S3_PORT", "INTAKE_S3_TLS_PORT", "INTAKE_SMTP_PORT", "HVIEW_SMTP_PORT", "HVIEW_SERVE_PORT"]);

    public void Dispose() => _example.Dispose();

    [HViewExampleFact]
    public async Task RunSh_OnRealPostfixS3rverAndPostgres_PrintsEveryCheckOk_AndExitsZero()
    {
        var text = await _example.RunAsync(TimeSpan.FromMinutes(6));
        text.ShouldContain("OK    the same message again: 250, received before, not registered again");
        text.ShouldContain("OK    hydrastor_system_reports equals expected/hydrastor_system_reports.csv (1 rows)");
        text.ShouldContain("OK    hydrastor_nodes equals expected/hydrastor_nodes.csv (2 rows)");
        text.ShouldContain("OK    hydrastor_alerts equals expected/hydrastor_alerts.csv (1 rows)");
        text.ShouldContain("OK    veritas_jobs equals expected/veritas_jobs.csv (3 rows)");
        text.ShouldContain("OK    veritas_policies equals expected/veritas_policies.csv (2 rows)");
        text.ShouldContain("OK    ... with kind config");
        text.ShouldContain("OK    every other job completed");
        text.ShouldContain("OK    every archived object lies under <customer>/<category>/<type>/<group>/<yyyyMMdd_HHmmss>");
        text.ShouldContain("OK    intake audit: rows parsed = rows written = rows in the tables, for every load");
        text.ShouldContain("all checks passed");
    }
}
