using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace Intake.IntegrationTests;

/// <summary>
/// The change-file applier under SIGKILL: <c>intake run</c> killed while it applies change files to a current-state
/// table, then run again, ends with the table the snapshot and every change give, each change file applied once.
/// </summary>
public sealed class CubicApplyCrashTests : IDisposable
{
    private const string Header = "header__change_seq,header__change_oper,sample_id,name";
    private readonly TestWorkspace _ws = new();

    public void Dispose() => _ws.Dispose();

    [Fact]
    public async Task Run_KilledWhileApplyingChangeFiles_RunAgain_EndsWithTheRightCurrentTable()
    {
        const int files = 250;
        _ws.WriteConfig();
        File.WriteAllText(Path.Combine(_ws.Root, "pipelines", "cubic.yaml"), """
            name: cubic
            source:
              kind: local
              path: ../incoming
              stable_for: 0s
              tables_from_prefix: { root: cubic/, depth: 3 }
            steps: [fetch, load]
            cubic:
              ods:
                tables: ["cubic__ods_qlik__*"]
                keys: { cubic__ods_qlik__edw_sample: [sample_id] }
            """);
        var random = new Random(5);
        var source = new SortedDictionary<string, string>(StringComparer.Ordinal);
        for (var k = 0; k < 40; k++)
        {
            source[Key(k)] = "v0";
        }

        Write("cubic/ods_qlik/EDW.SAMPLE/LOAD00000001.csv", "sample_id,name\n" + string.Concat(source.Select(p => $"{p.Key},{p.Value}\n")));
        var seq = 0;
        for (var f = 0; f < files; f++)
        {
            var csv = new StringBuilder(Header).Append('\n');
            for (var r = 0; r < 4; r++)
            {
                var key = Key(random.Next(80));
                var s = (++seq).ToString("D20", CultureInfo.InvariantCulture);
                if (source.ContainsKey(key) && random.Next(3) == 0)
                {
                    csv.Append(CultureInfo.InvariantCulture, $"{s},D,{key},x\n");
                    source.Remove(key);
                }
                else
                {
                    var value = "v" + seq.ToString(CultureInfo.InvariantCulture);
                    csv.Append(CultureInfo.InvariantCulture, $"{s},{(source.ContainsKey(key) ? "U" : "I")},{key},{value}\n");
                    source[key] = value;
                }
            }

            var name = new DateTime(2022, 3, 4, 13, 0, 0, DateTimeKind.Utc).AddSeconds(f).ToString("yyyyMMdd-HHmmssfff", CultureInfo.InvariantCulture);
            Write($"cubic/ods_qlik/EDW.SAMPLE__ct/{name}.csv", csv.ToString());
        }

        using (var child = _ws.StartCli("run", "--once"))
        {
            // Wait until change files are being applied, then kill -9.
            var sw = Stopwatch.StartNew();
            var killed = false;
            while (sw.Elapsed < TimeSpan.FromMinutes(3) && !child.HasExited)
            {
                if (TryCount("select count(*) from intake_steps where step = 'cubic_apply' and outcome = 'succeeded'") >= 20)
                {
                    child.Kill(entireProcessTree: true);
                    killed = true;
                    break;
                }

                await Task.Delay(10);
            }

            await child.WaitForExitAsync();
            killed.ShouldBeTrue("the run finished before it could be interrupted; add change files");
        }

        TryCount("select count(*) from intake_loads where status = 'archived'").ShouldBeLessThan(files + 1);

        var rerun = await _ws.RunCliAsync("run", "--once");

        rerun.ExitCode.ShouldBe(0, rerun.Stderr);
        TryCount("select count(*) from intake_loads where status = 'archived'").ShouldBe(files + 1);
        _ws.Scalar(_ws.WarehousePath, "select count(*) from cubic__ods_qlik__edw_sample__current").ShouldBe(source.Count);
        foreach (var (key, value) in source)
        {
            _ws.Scalar(_ws.WarehousePath, $"select count(*) from cubic__ods_qlik__edw_sample__current where sample_id = '{key}' and name = '{value}'").ShouldBe(1, key);
        }

        var report = await _ws.RunCliAsync("cubic", "--json");
        report.ExitCode.ShouldBe(0, report.Stderr);
        using (var json = System.Text.Json.JsonDocument.Parse(report.Stdout))
        {
            var table = json.RootElement.EnumerateArray().ShouldHaveSingleItem();
            table.GetProperty("table").GetString().ShouldBe("cubic__ods_qlik__edw_sample");
            table.GetProperty("current_table").GetString().ShouldBe("cubic__ods_qlik__edw_sample__current");
            table.GetProperty("load_files_loaded").GetInt32().ShouldBe(1);
            table.GetProperty("load_files_total").GetInt32().ShouldBe(1);
            table.GetProperty("change_files_applied").GetInt32().ShouldBe(files);
            table.GetProperty("change_files_held").GetInt32().ShouldBe(0);
        }

        // Each change file was applied once to the current-state table, whatever the kill interrupted.
        _ws.Scalar(_ws.WarehousePath, "select count(*) from cubic__ods_qlik__edw_sample__current__applied where load_id > 0").ShouldBe(files);
    }

    private static string Key(int k) => k.ToString("D3", CultureInfo.InvariantCulture);

    private void Write(string key, string content)
    {
        var path = Path.Combine(_ws.Incoming, key);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, content);
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
