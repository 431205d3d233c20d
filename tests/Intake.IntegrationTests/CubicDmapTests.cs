using System.Diagnostics;
using System.Globalization;
using System.Text;
using Intake.Core.Model;
using Intake.Engine.Configuration;
using Intake.Engine.Runtime;
using Intake.Tests.Shared;
using Npgsql;

namespace Intake.IntegrationTests;

/// <summary>
/// Cubic DMAP daily files end to end: from an S3 bucket (s3rver) into PostgreSQL, a day delivered again (same key,
/// new ETag) replaces that day's rows; and a worker killed with SIGKILL in the middle of the replacing load leaves the
/// day with the old rows, which the next worker replaces: never both, never none.
/// </summary>
public sealed class CubicDmapTests : IDisposable
{
    private const string Table = "cubic__dmap__agg_sample";
    private readonly TestWorkspace _ws = new();

    public void Dispose() => _ws.Dispose();

    private static string Day(string tag, int rows)
    {
        var csv = new StringBuilder("station,riders,tag\n");
        for (var i = 1; i <= rows; i++)
        {
            csv.Append(CultureInfo.InvariantCulture, $"s{i:D7},{i % 1000},{tag}\n");
        }

        return csv.ToString();
    }

    private static async Task<List<string>> RowsAsync(string connectionString, string sql)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await using var reader = await command.ExecuteReaderAsync();
        var rows = new List<string>();
        while (await reader.ReadAsync())
        {
            rows.Add(string.Join(' ', Enumerable.Range(0, reader.FieldCount).Select(i => Convert.ToString(reader.GetValue(i), CultureInfo.InvariantCulture))));
        }

        return rows;
    }

    [S3AndPostgresFact]
    public async Task S3ToPostgres_TwoDays_TheFirstDeliveredAgain_ReplacesThatDayOnly()
    {
        var s3 = ColdServers.S3;
        var bucket = "dmap-" + Guid.NewGuid().ToString("N")[..10];
        using var http = new HttpClient { BaseAddress = new Uri(s3["url"].TrimEnd('/') + "/") };
        (await http.PutAsync(bucket, null)).EnsureSuccessStatusCode(); // s3rver takes unsigned requests
        async Task PutAsync(string key, string content) =>
            (await http.PutAsync($"{bucket}/{key}", new ByteArrayContent(Encoding.UTF8.GetBytes(content)))).EnsureSuccessStatusCode().Dispose();

        var catalog = await TestPostgres.CreateDatabaseAsync("dmap_cat");
        var warehouse = await TestPostgres.CreateDatabaseAsync("dmap_wh");
        _ws.WriteConfig(catalog: $"  kind: postgres\n  connection: \"{catalog}\"", warehouse: $"    kind: postgres\n    connection: \"{warehouse}\"");
        File.WriteAllText(Path.Combine(_ws.Root, "pipelines", "cubic.yaml"), $$"""
            name: cubic
            customer: acme
            source:
              kind: s3
              url: {{s3["url"]}}
              bucket: {{bucket}}
              access_key: {{s3["access_key"]}}
              secret_key: {{s3["secret_key"]}}
              tables_from_prefix: { root: cubic/, depth: 3 }
            steps: [fetch, archive, load]
            cubic:
              dmap: { tables: ["cubic__dmap__*"] }
            """);
        await PutAsync("cubic/dmap/agg_sample/20220304.csv", Day("first", 1000));
        await PutAsync("cubic/dmap/agg_sample/20220305.csv", Day("other", 700));
        await using var runtime = await IntakeRuntime.OpenAsync(ConfigLoader.Load(Path.Combine(_ws.Root, "intake.yaml")));
        var discovery = new Discovery(runtime);
        var runner = new Runner(runtime);
        await discovery.DiscoverAsync(runtime.Pipeline("cubic"), default);
        await runner.DrainAsync(["cubic"], 2, default);

        // Cubic delivers 2022-03-04 again, corrected: the same key with new content, so a new ETag and a new load.
        await PutAsync("cubic/dmap/agg_sample/20220304.csv", Day("second", 1200));
        (await discovery.DiscoverAsync(runtime.Pipeline("cubic"), default)).New.ShouldBe(1);
        await runner.DrainAsync(["cubic"], 2, default);

        var loads = (await runtime.Catalog.ListLoadsAsync(new LoadQuery { Pipeline = "cubic" }, default)).OrderBy(l => l.Id).ToList();
        loads.Select(l => (l.SourceKey[(l.SourceKey.LastIndexOf('/') + 1)..], l.Status)).ShouldBe(
            [("20220304.csv", LoadStatus.Archived), ("20220305.csv", LoadStatus.Archived), ("20220304.csv", LoadStatus.Archived)], ignoreOrder: true);
        var first = loads.First(l => l.SourceKey.EndsWith("20220304.csv", StringComparison.Ordinal));
        var again = loads.Last(l => l.SourceKey.EndsWith("20220304.csv", StringComparison.Ordinal));
        var other = loads.Single(l => l.SourceKey.EndsWith("20220305.csv", StringComparison.Ordinal));
        (await RowsAsync(warehouse, $"select day::text, pg_typeof(day)::text, tag, count(*), min(_intake_load_id) from {Table} group by day, tag order by day"))
            .ShouldBe([$"2022-03-04 date second 1200 {again.Id}", $"2022-03-05 date other 700 {other.Id}"]);
        (await runtime.Catalog.GetStepsAsync(again.Id, default)).Single(s => s.Step == "load").Message
            .ShouldBe($"replaced 1,000 rows of day 2022-03-04 from load {first.Id}");
        (await RowsAsync(warehouse, $"select load_id, replaced_by, partition_key, rows_replaced from _intake_replaced where table_name = '{Table}'"))
            .ShouldBe([$"{first.Id} {again.Id} day=2022-03-04 1000"]);
    }

    [Fact]
    public Task Run_KilledWhileReplacingADay_OnSqlite_TheDayHasTheOldRowsThenTheNewOnes() => KilledWhileReplacingADayAsync(null);

    [PostgresFact]
    public async Task Run_KilledWhileReplacingADay_OnPostgres_TheDayHasTheOldRowsThenTheNewOnes() =>
        await KilledWhileReplacingADayAsync(await TestPostgres.CreateDatabaseAsync("dmap_kill"));

    private async Task KilledWhileReplacingADayAsync(string? postgres)
    {
        const int rows = 600_000;
        _ws.WriteConfig(warehouse: postgres is null ? null : $"    kind: postgres\n    connection: \"{postgres}\"");
        File.WriteAllText(Path.Combine(_ws.Root, "pipelines", "cubic.yaml"), """
            name: cubic
            source:
              kind: local
              path: ../incoming
              stable_for: 0s
              tables_from_prefix: { root: cubic/, depth: 3 }
            steps: [fetch, load]
            cubic:
              dmap: { tables: ["cubic__dmap__*"] }
            """);
        var path = Path.Combine(_ws.Incoming, "cubic", "dmap", "agg_sample", "20220304.csv");
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, Day("old", rows));
        File.SetLastWriteTimeUtc(path, DateTime.UtcNow.AddMinutes(-10));
        File.WriteAllText(Path.Combine(Path.GetDirectoryName(path)!, "20220305.csv"), Day("other", 10));
        (await _ws.RunCliAsync("run", "--once")).ExitCode.ShouldBe(0);
        Task<List<string>> DaysAsync() => postgres is null
            ? Task.FromResult(SqliteDays())
            : RowsAsync(postgres, $"select day::text, tag, count(*) from {Table} group by day, tag order by day, tag");
        (await DaysAsync()).ShouldBe([$"2022-03-04 old {rows}", "2022-03-05 other 10"]);

        // The day is delivered again; the worker replacing it is killed half-way.
        File.WriteAllText(path, Day("new", rows));
        File.SetLastWriteTimeUtc(path, DateTime.UtcNow.AddMinutes(-5)); // a new version: another time (a time to come is not offered yet)
        using (var child = _ws.StartCli("run", "--once"))
        {
            var sw = Stopwatch.StartNew();
            var killed = false;
            while (sw.Elapsed < TimeSpan.FromMinutes(2) && !child.HasExited)
            {
                if (await CopyingAsync(postgres))
                {
                    child.Kill(entireProcessTree: true);
                    killed = true;
                    break;
                }

                await Task.Delay(10);
            }

            await child.WaitForExitAsync();
            killed.ShouldBeTrue($"the run finished before it could be interrupted; make the file larger ({child.ExitCode}: {await child.StandardError.ReadToEndAsync()})");
        }

        TryCount("select count(*) from intake_loads where status = 'ingesting'").ShouldBe(1);
        // Killed in the middle: the day still has exactly the old rows.
        (await DaysAsync()).ShouldBe([$"2022-03-04 old {rows}", "2022-03-05 other 10"]);

        var rerun = await _ws.RunCliAsync("run", "--once");

        rerun.ExitCode.ShouldBe(0, rerun.Stderr);
        TryCount("select count(*) from intake_loads where status = 'archived'").ShouldBe(3);
        (await DaysAsync()).ShouldBe([$"2022-03-04 new {rows}", "2022-03-05 other 10"]);
        var audit = await _ws.RunCliAsync("audit");
        audit.ExitCode.ShouldBe(0, audit.Stdout + audit.Stderr);
    }

    /// <summary>
    /// Whether the replacing load is copying its rows: on PostgreSQL its COPY is running (the day's old rows are deleted
    /// in its transaction by then); on SQLite, whose transaction cannot be seen from outside, its step is running.
    /// </summary>
    private async Task<bool> CopyingAsync(string? postgres)
    {
        if (TryCount("select count(*) from intake_steps where step = 'load' and outcome = 'running'") <= 0)
        {
            return false;
        }

        if (postgres is null)
        {
            return true;
        }

        var database = new NpgsqlConnectionStringBuilder(postgres).Database;
        return (await RowsAsync(postgres, $"select count(*) from pg_stat_activity where datname = '{database}' and state = 'active' and query like 'copy %'")).Single() != "0";
    }

    private List<string> SqliteDays()
    {
        using var c = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={_ws.WarehousePath};Mode=ReadOnly;Pooling=False");
        c.Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = $"select day, tag, count(*) from {Table} group by day, tag order by day, tag";
        using var reader = cmd.ExecuteReader();
        var rows = new List<string>();
        while (reader.Read())
        {
            rows.Add($"{reader.GetString(0)} {reader.GetString(1)} {reader.GetInt64(2)}");
        }

        return rows;
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
