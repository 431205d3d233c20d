using Intake.Tests.Shared;

namespace Intake.IntegrationTests;

/// <summary>
/// Needs what examples/cubic/run.sh starts: PostgreSQL and s3rver from scripts/servers. Taken as installed where the
/// test servers run (scripts/test.sh starts them with the same scripts); skipped elsewhere, failing in CI.
/// </summary>
public sealed class CubicExampleFactAttribute : FactAttribute
{
    public CubicExampleFactAttribute() =>
        Skip = TestServers.SkipUnless(
            TestPostgres.IsReachable && TestServers.Settings("INTAKE_TEST_S3").ContainsKey("url"),
            "PostgreSQL and s3rver are not running (scripts/test.sh starts them); the Cubic example starts its own with the same scripts");
}

/// <summary>
/// The Cubic example's script, run as a user runs it (on a copy, with its own servers on free ports and the CLI of
/// this build): it checks its own results (the current-state tables against expected/*.csv, the stream's rows, the
/// held-then-released load, an empty incoming bucket, the audit) and exits 1 on any difference.
/// </summary>
public sealed class CubicExampleTests : IDisposable
{
    private readonly ExampleScript _example = new("cubic", ["postgres", "s3rver"], ["INTAKE_PG_PORT", "INTAKE_S3_PORT", "INTAKE_S3_TLS_PORT", "CUBIC_SERVE_PORT"]);

    public void Dispose() => _example.Dispose();

    [CubicExampleFact]
    public async Task RunSh_OnRealServers_PrintsEveryCheckOk_AndExitsZero()
    {
        var text = await _example.RunAsync(TimeSpan.FromMinutes(6));
        text.ShouldContain("OK    the early change file is held");
        text.ShouldContain("OK    the early change file is archived");
        text.ShouldContain("OK    cubic__ods_qlik__edw_sample__current equals expected/cubic__ods_qlik__edw_sample__current.csv (5 rows)");
        text.ShouldContain("OK    cubic__ods_qlik__edw_card__current equals expected/cubic__ods_qlik__edw_card__current.csv (4 rows)");
        text.ShouldContain("OK    the stream's records are in cubic__kafka__sample once each");
        text.ShouldContain("OK    the incoming bucket is empty");
        text.ShouldContain("all checks passed");
    }
}
