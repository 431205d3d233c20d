using System.Text;
using DuckDB.NET.Data;
using Intake.Core.Errors;
using Intake.Core.Model;
using Intake.Engine.Audit;
using Intake.Engine.Configuration;
using Intake.Engine.Operations;
using Intake.Engine.Runtime;
using Intake.Engine.Steps;
using Microsoft.Data.Sqlite;

namespace Intake.Engine.Tests.Cubic;

/// <summary>
/// Cubic DMAP daily datasets through discovery and real workers (SQLite catalog and warehouse, a local folder): each
/// file's day in a date column and a lake partition, a day delivered again replacing that day's rows and lake file,
/// an older delivery re-driven after a newer one superseded, and file names that are no day refused.
/// </summary>
public sealed class DmapTests : IDisposable
{
    private const string Table = "cubic__dmap__agg_sample";
    private readonly string _root = Directory.CreateTempSubdirectory("intake-dmap-").FullName;
    private DateTime _modified = new(2022, 3, 6, 4, 0, 0, DateTimeKind.Utc);

    public DmapTests()
    {
        Directory.CreateDirectory(Path.Combine(_root, "pipelines"));
        File.WriteAllText(Path.Combine(_root, "intake.yaml"), """
            catalog: { kind: sqlite, path: .intake/catalog.db }
            stores: { local: { kind: local, root: .intake/store } }
            warehouses: { main: { kind: sqlite, path: .intake/warehouse.db } }
            defaults:
              retry: { max_attempts: 1 }
            """);
        File.WriteAllText(Path.Combine(_root, "pipelines", "cubic.yaml"), """
            name: cubic
            source:
              kind: local
              path: ../in
              stable_for: 0s
              tables_from_prefix: { root: cubic/, depth: 3 }
            steps: [fetch, decompress, load, lake]
            cubic:
              ods: { tables: ["cubic__ods_qlik__*"] }
              dmap: { tables: ["cubic__dmap__*"] }
            """);
    }

    private string LakeRoot => Path.Combine(_root, ".intake", "store", "lake");

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        Directory.Delete(_root, recursive: true);
    }

    /// <summary>Writes a file; each write gets a later modification time, so a rewrite is a new version.</summary>
    private void Write(string key, string content)
    {
        var path = Path.Combine(_root, "in", key);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, content, new UTF8Encoding(false));
        _modified = _modified.AddMinutes(1);
        File.SetLastWriteTimeUtc(path, _modified);
    }

    private void WriteGzip(string key, string content)
    {
        var path = Path.Combine(_root, "in", key);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        using (var gz = new System.IO.Compression.GZipStream(File.Create(path), System.IO.Compression.CompressionLevel.Fastest))
        {
            gz.Write(Encoding.UTF8.GetBytes(content));
        }

        _modified = _modified.AddMinutes(1);
        File.SetLastWriteTimeUtc(path, _modified);
    }

    private static string Day(string tag, int rows) =>
        "station,riders\n" + string.Concat(Enumerable.Range(1, rows).Select(i => $"{tag}{i},{i * 10}\n"));

    private async Task<IntakeRuntime> OpenAsync() => await IntakeRuntime.OpenAsync(ConfigLoader.Load(Path.Combine(_root, "intake.yaml")));

    private static async Task DiscoverAndDrainAsync(IntakeRuntime runtime, IEnumerable<IStep>? steps = null)
    {
        await new Discovery(runtime).DiscoverAsync(runtime.Pipeline("cubic"), default);
        await DrainAsync(runtime, steps);
    }

    private static async Task DrainAsync(IntakeRuntime runtime, IEnumerable<IStep>? steps = null)
    {
        var worker = new Worker(runtime, steps ?? Worker.DefaultSteps(runtime));
        while (await worker.RunOneAsync(null, default) is not null)
        {
        }
    }

    private static async Task<List<Load>> LoadsAsync(IntakeRuntime runtime) =>
        [.. (await runtime.Catalog.ListLoadsAsync(new LoadQuery(), default)).OrderBy(l => l.Id)];

    private async Task<List<string>> WarehouseAsync(string sql)
    {
        await using var connection = new SqliteConnection($"Data Source={Path.Combine(_root, ".intake", "warehouse.db")};Pooling=False");
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        await using var reader = await command.ExecuteReaderAsync();
        var rows = new List<string>();
        while (await reader.ReadAsync())
        {
            rows.Add(string.Join(' ', Enumerable.Range(0, reader.FieldCount).Select(i => reader.IsDBNull(i) ? "null" : Convert.ToString(reader.GetValue(i), System.Globalization.CultureInfo.InvariantCulture))));
        }

        return rows;
    }

    private List<string> LakeFiles() => Directory.Exists(LakeRoot)
        ? [.. Directory.EnumerateFiles(LakeRoot, "*", SearchOption.AllDirectories).Select(p => Path.GetRelativePath(LakeRoot, p).Replace('\\', '/')).Order(StringComparer.Ordinal)]
        : [];

    /// <summary>What DuckDB reads from the lake, partitions as columns: "day rows first-station".</summary>
    private List<string> LakeDays()
    {
        using var duck = new DuckDBConnection("Data Source=:memory:");
        duck.Open();
        using var command = duck.CreateCommand();
        command.CommandText = $"""
            SELECT day::VARCHAR || ' ' || count(*) || ' ' || min(station) || ' ' || typeof(any_value(day))
            FROM read_parquet('{Path.Combine(LakeRoot, Table, "**", "*.parquet").Replace('\\', '/')}', hive_partitioning = true)
            GROUP BY day ORDER BY day
            """;
        using var reader = command.ExecuteReader();
        var rows = new List<string>();
        while (reader.Read())
        {
            rows.Add(reader.GetString(0));
        }

        return rows;
    }

    [Fact]
    public async Task TwoDays_TheFirstDeliveredAgain_ReplacesThatDaysRowsAndLakeFile_AndLeavesTheOtherDay()
    {
        Write("cubic/dmap/agg_sample/20220304.csv", Day("old", 3));
        WriteGzip("cubic/dmap/agg_sample/20220305.csv.gz", Day("other", 2));

        await using var runtime = await OpenAsync();
        await DiscoverAndDrainAsync(runtime);
        Write("cubic/dmap/agg_sample/20220304.csv", Day("new", 4)); // the same key, new content: a new load

        await DiscoverAndDrainAsync(runtime);

        var loads = await LoadsAsync(runtime);
        loads.Select(l => (l.SourceKey, l.Status)).ShouldBe([
            ("cubic/dmap/agg_sample/20220304.csv", LoadStatus.Archived),
            ("cubic/dmap/agg_sample/20220305.csv.gz", LoadStatus.Archived),
            ("cubic/dmap/agg_sample/20220304.csv", LoadStatus.Archived),
        ]);
        var (first, other, again) = (loads[0].Id, loads[1].Id, loads[2].Id);
        (await WarehouseAsync($"select day, min(station), count(*), min(_intake_load_id), typeof(day) from {Table} group by day order by day"))
            .ShouldBe([$"2022-03-04 new1 4 {again} text", $"2022-03-05 other1 2 {other} text"]);
        (await WarehouseAsync($"select type from pragma_table_info('{Table}') where name = 'day'")).ShouldBe(["DATE"]);
        var steps = await runtime.Catalog.GetStepsAsync(again, default);
        steps.Single(s => s.Step == "load").Message.ShouldBe($"replaced 3 rows of day 2022-03-04 from load {first}");
        steps.Single(s => s.Step == "lake").Message.ShouldBe($"replaced the file of load {first} in {Table}/day=2022-03-04");

        // The lake holds the newest file of each day, the day a partition DuckDB reads as a date.
        LakeFiles().ShouldBe([$"{Table}/day=2022-03-04/{again}.parquet", $"{Table}/day=2022-03-05/{other}.parquet"]);
        LakeDays().ShouldBe(["2022-03-04 4 new1 DATE", "2022-03-05 2 other1 DATE"]);

        // The replaced load stays archived with its own step record; the audit finds its rows accounted for.
        var audits = new List<LoadAudit>();
        await foreach (var audit in new Auditor(runtime).AuditAsync("cubic", default))
        {
            audits.Add(audit);
        }

        audits.ShouldAllBe(a => a.Ok, string.Join("; ", audits.SelectMany(a => a.Problems)));
    }

    [Fact]
    public async Task AnOlderDeliveryRedrivenAfterTheNewerOne_IsSuperseded_AndTheDayKeepsTheNewerRows()
    {
        Write("cubic/dmap/agg_sample/20220304.csv", Day("old", 3));
        await using var runtime = await OpenAsync();
        // The first delivery's load step fails (a warehouse outage, say): the load ends errored, its original fetched.
        await DiscoverAndDrainAsync(runtime, Worker.DefaultSteps(runtime).Select(s => s.Name == "load" ? new FailsFirstLoad(s) : s));
        var older = (await LoadsAsync(runtime)).ShouldHaveSingleItem();
        older.Status.ShouldBe(LoadStatus.Errored);
        Write("cubic/dmap/agg_sample/20220304.csv", Day("new", 2));
        await DiscoverAndDrainAsync(runtime);

        // Then an operator re-drives the older delivery.
        (await new LoadActions(runtime.Catalog, runtime.Time).RedriveAsync((await runtime.Catalog.GetLoadAsync(older.Id, default))!, default)).Done.ShouldBeTrue();
        await DrainAsync(runtime);

        var loads = await LoadsAsync(runtime);
        loads.ShouldAllBe(l => l.Status == LoadStatus.Archived);
        var newer = loads[1].Id;
        (await WarehouseAsync($"select day, min(station), count(*), min(_intake_load_id) from {Table} group by day")).ShouldBe([$"2022-03-04 new1 2 {newer}"]);
        var steps = await runtime.Catalog.GetStepsAsync(older.Id, default);
        steps.Last(s => s.Step == "load").Message.ShouldBe($"superseded: day 2022-03-04 holds the rows of the newer load {newer}, so this load's 3 rows were not kept");
        steps.Last(s => s.Step == "lake").Message.ShouldBe($"superseded: {Table}/day=2022-03-04 holds the file of the newer load {newer}, so this load's file was removed");
        LakeFiles().ShouldBe([$"{Table}/day=2022-03-04/{newer}.parquet"]);
    }

    [Fact]
    public async Task FileWhoseNameIsNotADay_ErrorsAsFormat_NamingTheKeyAndTheReason_AndTheOtherDaysLoad()
    {
        Write("cubic/dmap/agg_sample/2022-03-04.csv", Day("a", 1));
        Write("cubic/dmap/agg_sample/20220231.csv", Day("b", 1));
        Write("cubic/dmap/agg_sample/20220301.csv", Day("c", 1));
        await using var runtime = await OpenAsync();

        await DiscoverAndDrainAsync(runtime);

        var loads = (await LoadsAsync(runtime)).ToDictionary(l => l.SourceKey[(l.SourceKey.LastIndexOf('/') + 1)..]);
        loads["20220301.csv"].Status.ShouldBe(LoadStatus.Archived);
        foreach (var (name, reason) in new[]
        {
            ("2022-03-04.csv", "its name '2022-03-04.csv' is not a day: DMAP files are named <yyyymmdd>.csv"),
            ("20220231.csv", "its name '20220231.csv' starts with 20220231, which is not a date (yyyymmdd)"),
        })
        {
            var load = loads[name];
            load.Status.ShouldBe(LoadStatus.Errored);
            var failed = (await runtime.Catalog.GetStepsAsync(load.Id, default)).Single(s => s.Outcome == StepOutcome.Failed);
            (failed.Step, failed.ErrorKind).ShouldBe(("load", ErrorKind.Format));
            failed.Message!.ShouldStartWith($"cubic/dmap/agg_sample/{name}: {reason}");
            failed.Message!.ShouldContain($"The table {Table} is a DMAP dataset (cubic.dmap.tables");
        }

        (await WarehouseAsync($"select count(*) from {Table}")).ShouldBe(["1"]);
    }

    [Fact]
    public async Task OdsSnapshotFiles_AreFiledInTheLakeUnderTheirSnapshot_ThatDuckDbReadsBack()
    {
        var snapshot = new DateTime(2022, 3, 4, 13, 45, 56, DateTimeKind.Utc);
        Write("cubic/ods_qlik/EDW.SAMPLE/LOAD00000001.csv", "sample_id,name\n1,a\n2,b\n");
        File.SetLastWriteTimeUtc(Path.Combine(_root, "in", "cubic/ods_qlik/EDW.SAMPLE/LOAD00000001.csv"), snapshot);
        await using var runtime = await OpenAsync();

        await DiscoverAndDrainAsync(runtime);

        var load = (await LoadsAsync(runtime)).ShouldHaveSingleItem();
        load.Status.ShouldBe(LoadStatus.Archived, load.ErrorMessage);
        LakeFiles().ShouldBe([$"cubic__ods_qlik__edw_sample/snapshot=2022-03-04T13%3A45%3A56Z/{load.Id}.parquet"]);
        using var duck = new DuckDBConnection("Data Source=:memory:");
        duck.Open();
        using var command = duck.CreateCommand();
        command.CommandText = $"""
            SELECT snapshot || ' ' || count(*) FROM read_parquet('{Path.Combine(LakeRoot, "**", "*.parquet").Replace('\\', '/')}', hive_partitioning = true, hive_types_autocast = false)
            GROUP BY snapshot
            """;
        command.ExecuteScalar().ShouldBe("2022-03-04T13:45:56Z 2");
    }

    /// <summary>A load step that fails (as an outage would) for the first load it sees.</summary>
    private sealed class FailsFirstLoad(IStep inner) : IStep
    {
        private bool _failed;

        public string Name => inner.Name;

        public Task<StepResult> RunAsync(StepContext context, CancellationToken cancellationToken)
        {
            if (!_failed)
            {
                _failed = true;
                throw IntakeException.Config("the warehouse is not reachable");
            }

            return inner.RunAsync(context, cancellationToken);
        }
    }
}
