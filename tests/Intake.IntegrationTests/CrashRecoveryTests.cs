using System.Diagnostics;

namespace Intake.IntegrationTests;

public sealed class CrashRecoveryTests : IDisposable
{
    private readonly TestWorkspace _ws = new();

    public void Dispose() => _ws.Dispose();

    [Fact]
    public async Task Run_KilledDuringTheLoadStep_ResumesAndLoadsEveryRowExactlyOnce()
    {
        const int rows = 400_000;
        _ws.WriteConfig();
        _ws.WritePipeline("big", table: "big");
        _ws.AddGzip("big.csv.gz", TestWorkspace.Csv(rows));

        using (var child = _ws.StartCli("run", "--once"))
        {
            // Wait until the load step is under way (its step record says running), then kill -9.
            var sw = Stopwatch.StartNew();
            var killed = false;
            while (sw.Elapsed < TimeSpan.FromMinutes(2) && !child.HasExited)
            {
                if (File.Exists(_ws.CatalogPath) && TryCount("select count(*) from intake_steps where step = 'load' and outcome = 'running'") > 0)
                {
                    child.Kill(entireProcessTree: true);
                    killed = true;
                    break;
                }

                await Task.Delay(20);
            }

            await child.WaitForExitAsync();
            killed.ShouldBeTrue("the child finished before the load step could be interrupted; make the file larger");
        }

        TryCount("select count(*) from intake_loads where status = 'ingesting'").ShouldBe(1);

        var rerun = await _ws.RunCliAsync("run", "--once", "--json");

        rerun.ExitCode.ShouldBe(0, rerun.Stderr);
        TryCount("select count(*) from intake_loads where status = 'archived'").ShouldBe(1);
        _ws.Scalar(_ws.WarehousePath, "select count(*) from big").ShouldBe(rows);
        _ws.Scalar(_ws.WarehousePath, "select count(distinct id) from big").ShouldBe(rows);
        TryCount("select count(*) from intake_steps where step = 'load' and outcome = 'succeeded'").ShouldBe(1);
        TryCount("select count(*) from intake_steps where outcome = 'running'").ShouldBe(0);
    }

    private long TryCount(string sql)
    {
        try
        {
            return _ws.Scalar(_ws.CatalogPath, sql);
        }
        catch (Microsoft.Data.Sqlite.SqliteException)
        {
            return -1; // schema not there yet, or busy
        }
    }
}
