using Intake.Tests.Shared;

namespace Intake.IntegrationTests;

/// <summary>
/// Needs what bench/chaos/run.sh starts: PostgreSQL and s3rver from scripts/servers. Taken as installed where the
/// test servers run (scripts/test.sh starts them with the same scripts); skipped elsewhere, failing in CI.
/// </summary>
public sealed class ChaosFactAttribute : FactAttribute
{
    public ChaosFactAttribute() =>
        Skip = TestServers.SkipUnless(
            TestPostgres.IsReachable && TestServers.Settings("INTAKE_TEST_S3").ContainsKey("url"),
            "PostgreSQL and s3rver are not running (scripts/test.sh starts them); bench/chaos/run.sh starts its own with the same scripts");
}

/// <summary>
/// The short version of bench/chaos/run.sh (about a minute of chaos): Intake processes SIGKILLed and started again
/// every few seconds while files keep arriving, PostgreSQL and s3rver restarted in the middle, then the script's own
/// exact checks (one load per file, all archived, rows per load, no duplicates, the merge target equal to its model,
/// a clean audit, an empty work area); it exits 1 on any difference.
/// </summary>
public sealed class ChaosBenchTests : IDisposable
{
    private static readonly string[] Checks =
    [
        "OK    every file is exactly one load",
        "OK    every load is archived",
        "OK    each load's rows equal its file's",
        "OK    no row is there twice",
        "OK    the merge target equals the model",
        "OK    intake audit --all is clean",
        "OK    no Intake process exited by itself",
        "OK    the work area is empty",
        "chaos: all checks passed",
    ];

    private ExampleScript? _script;

    public void Dispose() => _script?.Dispose();

    [ChaosFact]
    public async Task RunSh_WorkersKilledAndServersRestarted_EveryFileLoadedExactlyOnce()
    {
        _script = new ExampleScript(
            "chaos", ["postgres", "s3rver"], ["INTAKE_PG_PORT", "INTAKE_S3_PORT", "INTAKE_S3_TLS_PORT", "CHAOS_SERVE_PORT"], "bench",
            new Dictionary<string, string> { ["DURATION"] = "45", ["WORKERS"] = "3", ["KILL_EVERY"] = "3", ["RATE"] = "2", ["SETTLE"] = "300" });

        var text = await _script.RunAsync(TimeSpan.FromMinutes(15)); // about 2 minutes on a quiet machine; 7 on a shared one

        foreach (var check in Checks.Append("PostgreSQL restarted 1x, s3rver 1x"))
        {
            text.ShouldContain(check);
        }
    }

    [Fact]
    public async Task RunSh_EmbeddedDefault_SeveralRunProcessesKilled_EveryFileLoadedExactlyOnce()
    {
        _script = new ExampleScript(
            "chaos", [], ["CHAOS_SERVE_PORT"], "bench",
            new Dictionary<string, string> { ["CATALOG"] = "sqlite", ["DURATION"] = "30", ["WORKERS"] = "3", ["KILL_EVERY"] = "3", ["RATE"] = "2", ["SETTLE"] = "300" });

        var text = await _script.RunAsync(TimeSpan.FromMinutes(15)); // about 2 minutes on a quiet machine; 7 on a shared one

        foreach (var check in Checks)
        {
            text.ShouldContain(check);
        }
    }
}
