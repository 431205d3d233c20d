using System.Globalization;
using System.Text;
using DuckDB.NET.Data;
using Intake.Core.Errors;
using Intake.Core.Model;
using Intake.Core.Ports;
using Intake.Engine.Configuration;
using Intake.Engine.Runtime;
using Intake.Engine.Steps;
using Microsoft.Data.Sqlite;

namespace Intake.Engine.Tests;

/// <summary>
/// The <c>lake</c> step: each load's rows as one Parquet file under <c>&lt;table&gt;/&lt;partitions&gt;/&lt;load id&gt;.parquet</c>,
/// typed by <c>load.columns</c>, read back here by an independent reader (DuckDB, as a user would query the bucket) and
/// compared value by value and type by type.
/// </summary>
public sealed class LakeStepTests : IAsyncLifetime
{
    private const string Columns = """
            id: integer not null
            big: bigint
            amount: decimal
            ratio: double
            flag: boolean
            day: date
            at: timestamp
            at_tz: timestamptz
            name: text
            doc: json
        """;

    private readonly string _dir = Directory.CreateTempSubdirectory("intake-lake-").FullName;
    private IntakeRuntime? _runtime;

    private string Incoming => Path.Combine(_dir, "in");

    private string LakeRoot => Path.Combine(_dir, ".intake", "store", "lake");

    public Task InitializeAsync()
    {
        File.WriteAllText(Path.Combine(_dir, "intake.yaml"), """
            catalog: { kind: sqlite, path: .intake/catalog.db }
            stores: { local: { kind: local, root: .intake/store } }
            warehouses: { main: { kind: sqlite, path: .intake/warehouse.db } }
            defaults:
              retry: { max_attempts: 3, base_delay: 1ms, max_delay: 5ms }
            """);
        Directory.CreateDirectory(Path.Combine(_dir, "pipelines"));
        Directory.CreateDirectory(Incoming);
        WritePipeline(Columns);
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        if (_runtime is not null)
        {
            await _runtime.DisposeAsync();
        }

        SqliteConnection.ClearAllPools();
        Directory.Delete(_dir, recursive: true);
    }

    private void WritePipeline(string? columns) => File.WriteAllText(Path.Combine(_dir, "pipelines", "p.yaml"), $"""
        name: p
        source: {"{"} kind: local, path: ../in, stable_for: 0s {"}"}
        steps: [fetch, load, lake]
        load:
          table: sales
        {(columns is null ? "" : "  columns:\n" + columns)}
        lake: {"{"} row_group_rows: 1000 {"}"}
        """);

    private void WriteSource(string name, string content)
    {
        var path = Path.Combine(Incoming, name);
        File.WriteAllText(path, content, new UTF8Encoding(false));
        File.SetLastWriteTimeUtc(path, DateTime.UtcNow.AddMinutes(-10));
    }

    private async Task<IntakeRuntime> OpenAsync()
    {
        _runtime = await IntakeRuntime.OpenAsync(ConfigLoader.Load(Path.Combine(_dir, "intake.yaml")));
        await new Discovery(_runtime).DiscoverAsync(_runtime.Pipeline("p"), default);
        return _runtime;
    }

    private static Worker WorkerWith(IntakeRuntime runtime, params IStep[] replacements) =>
        new(runtime, Worker.DefaultSteps(runtime).Select(s => replacements.FirstOrDefault(r => r.Name == s.Name) ?? s));

    private static async Task<List<(Load Load, IReadOnlyList<StepRecord> Steps)>> DrainAsync(IntakeRuntime runtime, Worker worker)
    {
        while (await worker.RunOneAsync(null, default) is not null)
        {
        }

        var result = new List<(Load, IReadOnlyList<StepRecord>)>();
        foreach (var load in (await runtime.Catalog.ListLoadsAsync(new LoadQuery(), default)).OrderBy(l => l.Id))
        {
            result.Add((load, await runtime.Catalog.GetStepsAsync(load.Id, default)));
        }

        return result;
    }

    private List<string> LakeFiles() => Directory.Exists(LakeRoot)
        ? Directory.EnumerateFiles(LakeRoot, "*", SearchOption.AllDirectories).Select(p => Path.GetRelativePath(LakeRoot, p).Replace('\\', '/')).Order(StringComparer.Ordinal).ToList()
        : [];

    private static DuckDBConnection DuckDb()
    {
        var connection = new DuckDBConnection("Data Source=:memory:");
        connection.Open();
        return connection;
    }

    private string Glob => Path.Combine(LakeRoot, "**", "*.parquet").Replace('\\', '/');

    private static long EpochMicros(DateTime utc) => (utc.Ticks - DateTime.UnixEpoch.Ticks) / 10;

    [Fact]
    public async Task LoadedFile_IsWrittenAsParquet_InItsTablesPartition_AndDuckDbReadsEveryValueAndTypeBack()
    {
        WriteSource("sales.csv", """
            id,big,amount,ratio,flag,day,at,at_tz,name,doc
            1,9007199254740993,12345.678901,0.25,true,2026-01-31,2026-01-31 23:59:59.123456,2026-01-31T23:59:59+02:00,Zürich,"{""a"": [1, 2]}"
            2,,,,,,,,,
            3,-5,-0.5,-1e-3,f,2024-02-29,2024-02-29T00:00:00,2024-02-29 12:00:00Z,東京 🚆,null
            4,0,0,0,0,1999-12-31,1999-12-31 00:00,1999-12-31 00:00,"",[]

            """);
        var runtime = await OpenAsync();
        var partitioned = new WithPartitions(new LakeStep(), [("snapshot", "20261201T000000Z"), ("kind", "a/b=c")]);

        var (load, steps) = (await DrainAsync(runtime, WorkerWith(runtime, partitioned))).ShouldHaveSingleItem();

        load.Status.ShouldBe(LoadStatus.Archived, load.ErrorMessage);
        var lake = steps.Single(s => s.Step == "lake");
        (lake.RowsIn, lake.RowsOut).ShouldBe((4L, 4L));
        LakeFiles().ShouldBe([$"sales/snapshot=20261201T000000Z/kind=a%2Fb%3Dc/{load.Id}.parquet"]);

        using var duck = DuckDb();
        var from = $"read_parquet('{Glob}', hive_partitioning = true, hive_types_autocast = false)";
        var types = new Dictionary<string, string>();
        using (var describe = duck.CreateCommand())
        {
            describe.CommandText = $"DESCRIBE SELECT * FROM {from}";
            using var reader = describe.ExecuteReader();
            while (reader.Read())
            {
                types[reader.GetString(0)] = reader.GetString(1);
            }
        }

        types.ShouldBe(new Dictionary<string, string>
        {
            ["id"] = "INTEGER",
            ["big"] = "BIGINT",
            ["amount"] = "DECIMAL(38,18)",
            ["ratio"] = "DOUBLE",
            ["flag"] = "BOOLEAN",
            ["day"] = "DATE",
            ["at"] = "TIMESTAMP",
            ["at_tz"] = "TIMESTAMP WITH TIME ZONE",
            ["name"] = "VARCHAR",
            ["doc"] = "VARCHAR",
            ["snapshot"] = "VARCHAR",
            ["kind"] = "VARCHAR",
        }, ignoreOrder: true);

        using var select = duck.CreateCommand();
        // The partitions come back as columns, unescaped.
        select.CommandText = $"SELECT id, big, amount, ratio, flag, day::VARCHAR, epoch_us(\"at\"), epoch_us(at_tz), name, doc, snapshot || ' ' || kind FROM {from} ORDER BY id";
        using var rows = select.ExecuteReader();
        var read = new List<object?[]>();
        while (rows.Read())
        {
            var row = new object?[rows.FieldCount];
            for (var i = 0; i < row.Length; i++)
            {
                row[i] = rows.IsDBNull(i) ? null : rows.GetValue(i);
            }

            read.Add(row);
        }

        read.Count.ShouldBe(4);
        read[0].ShouldBe(new object?[]
        {
            1, 9007199254740993L, 12345.678901m, 0.25, true, "2026-01-31",
            EpochMicros(new DateTime(2026, 1, 31, 23, 59, 59, DateTimeKind.Utc).AddTicks(1_234_560)),
            EpochMicros(new DateTime(2026, 1, 31, 21, 59, 59, DateTimeKind.Utc)),
            "Zürich", """{"a": [1, 2]}""", "20261201T000000Z a/b=c",
        });
        read[1].ShouldBe(new object?[] { 2, null, null, null, null, null, null, null, null, null, "20261201T000000Z a/b=c" });
        read[2].ShouldBe(new object?[]
        {
            3, -5L, -0.5m, -0.001, false, "2024-02-29",
            EpochMicros(new DateTime(2024, 2, 29, 0, 0, 0, DateTimeKind.Utc)),
            EpochMicros(new DateTime(2024, 2, 29, 12, 0, 0, DateTimeKind.Utc)),
            "東京 🚆", "null", "20261201T000000Z a/b=c",
        });
        read[3].ShouldBe(new object?[]
        {
            4, 0L, 0m, 0.0, false, "1999-12-31",
            EpochMicros(new DateTime(1999, 12, 31, 0, 0, 0, DateTimeKind.Utc)),
            EpochMicros(new DateTime(1999, 12, 31, 0, 0, 0, DateTimeKind.Utc)),
            "", "[]", "20261201T000000Z a/b=c",
        });
    }

    [Fact]
    public async Task LargeFile_IsWrittenInRowGroupsOfTheConfiguredSize_AndARetriedStepRewritesTheSameFile()
    {
        var csv = new StringBuilder("id,big,amount,ratio,flag,day,at,at_tz,name,doc\n");
        for (var i = 1; i <= 2_500; i++)
        {
            csv.Append(CultureInfo.InvariantCulture, $"{i},{i * 10L},{i}.5,{i / 4.0},{i % 2 == 0},2026-01-01,2026-01-01 00:00:00,2026-01-01 00:00:00Z,n{i},\n");
        }

        WriteSource("big.csv", csv.ToString());
        var runtime = await OpenAsync();
        // The first attempt writes its file and then fails (the worker lost its connection, say): the retry writes it again.
        var flaky = new FailsOnceAfter(new LakeStep());

        var (load, steps) = (await DrainAsync(runtime, WorkerWith(runtime, flaky))).ShouldHaveSingleItem();

        load.Status.ShouldBe(LoadStatus.Archived, load.ErrorMessage);
        steps.Where(s => s.Step == "lake").Select(s => s.Outcome).ShouldBe([StepOutcome.Failed, StepOutcome.Succeeded]);
        LakeFiles().ShouldBe([$"sales/{load.Id}.parquet"]);
        using var duck = DuckDb();
        using var command = duck.CreateCommand();
        var file = Path.Combine(LakeRoot, "sales", $"{load.Id}.parquet").Replace('\\', '/');
        command.CommandText = $"""
            SELECT (SELECT count(*) FROM read_parquet('{file}')),
                   (SELECT sum(id)::BIGINT FROM read_parquet('{file}')),
                   (SELECT sum(amount) FROM read_parquet('{file}')),
                   (SELECT count(DISTINCT row_group_id) FROM parquet_metadata('{file}')),
                   (SELECT max(row_group_num_rows) FROM parquet_metadata('{file}'))
            """;
        using var reader = command.ExecuteReader();
        reader.Read().ShouldBeTrue();
        reader.GetInt64(0).ShouldBe(2_500);
        Convert.ToInt64(reader.GetValue(1), CultureInfo.InvariantCulture).ShouldBe(2_500L * 2_501 / 2);
        reader.GetDecimal(2).ShouldBe((2_500m * 2_501 / 2) + 1_250m);
        reader.GetInt64(3).ShouldBe(3);
        reader.GetInt64(4).ShouldBe(1_000);
    }

    [Fact]
    public async Task UndeclaredColumns_AreWrittenAsText_NamedByTheHeader()
    {
        WritePipeline(columns: null);
        WriteSource("plain.csv", "code,label\n007,Ærø\n,x\n");
        var runtime = await OpenAsync();

        var (load, _) = (await DrainAsync(runtime, WorkerWith(runtime))).ShouldHaveSingleItem();

        load.Status.ShouldBe(LoadStatus.Archived, load.ErrorMessage);
        using var duck = DuckDb();
        using var command = duck.CreateCommand();
        command.CommandText = $"SELECT code, label, typeof(code) FROM read_parquet('{Glob}') ORDER BY label DESC";
        using var reader = command.ExecuteReader();
        reader.Read().ShouldBeTrue();
        (reader.GetString(0), reader.GetString(1), reader.GetString(2)).ShouldBe(("007", "Ærø", "VARCHAR"));
        reader.Read().ShouldBeTrue();
        reader.IsDBNull(0).ShouldBeTrue(); // an empty unquoted field is null, as in the warehouse
        reader.GetString(1).ShouldBe("x");
    }

    [Fact]
    public async Task ValueThatCannotBeCast_ErrorsTheLoadAsSchema_NamingRowAndColumn_AndLeavesNoLakeFile()
    {
        WritePipeline("""
                id: integer not null
                amount: decimal
            """);
        WriteSource("bad.csv", "id,amount\n1,2.5\n2,two\n");
        var runtime = await OpenAsync();
        // The lake step alone: the warehouse would refuse the row first.
        var lakeOnly = new SkipsLoad();

        var (load, steps) = (await DrainAsync(runtime, WorkerWith(runtime, lakeOnly))).ShouldHaveSingleItem();

        load.Status.ShouldBe(LoadStatus.Errored);
        var lake = steps.Last(s => s.Step == "lake");
        lake.ErrorKind.ShouldBe(ErrorKind.Schema);
        lake.Message!.ShouldContain("row 2");
        lake.Message!.ShouldContain("column 'amount'");
        lake.Message!.ShouldContain("'two'");
        LakeFiles().ShouldBeEmpty();
    }

    [Fact]
    public async Task TablesFromPrefix_EachSourceTableGetsAFolderOfItsOwn_ThatDuckDbReadsAsOneTable()
    {
        File.WriteAllText(Path.Combine(_dir, "pipelines", "p.yaml"), """
            name: p
            source: { kind: local, path: ../in, stable_for: 0s, tables_from_prefix: { root: cubic/ } }
            steps: [fetch, load, lake]
            lake: { row_group_rows: 1000 }
            """);
        Directory.CreateDirectory(Path.Combine(Incoming, "cubic", "ods_qlik", "EDW.SAMPLE"));
        Directory.CreateDirectory(Path.Combine(Incoming, "cubic", "dmap", "agg_sample"));
        WriteSource("cubic/ods_qlik/EDW.SAMPLE/LOAD00000001.csv", "k,v\n1,a\n");
        WriteSource("cubic/ods_qlik/EDW.SAMPLE/LOAD00000002.csv", "k,v\n2,b\n");
        WriteSource("cubic/dmap/agg_sample/20261201.csv", "day,n\n2026-12-01,7\n");
        var runtime = await OpenAsync();

        var loads = await DrainAsync(runtime, WorkerWith(runtime));

        loads.ShouldAllBe(l => l.Load.Status == LoadStatus.Archived);
        LakeFiles().Select(f => f[..f.IndexOf('/', StringComparison.Ordinal)]).ShouldBe(["cubic__dmap__agg_sample", "cubic__ods_qlik__edw_sample", "cubic__ods_qlik__edw_sample"]);
        using var duck = DuckDb();
        using var command = duck.CreateCommand();
        command.CommandText = $"SELECT string_agg(k || '=' || v, ',' ORDER BY k) FROM read_parquet('{Path.Combine(LakeRoot, "cubic__ods_qlik__edw_sample", "*.parquet").Replace('\\', '/')}')";
        command.ExecuteScalar().ShouldBe("1=a,2=b");
    }

    [Fact]
    public async Task NdjsonDataFiles_AreWrittenWithTheColumnsTheLoadStepFinds()
    {
        File.WriteAllText(Path.Combine(_dir, "pipelines", "p.yaml"), """
            name: p
            source: { kind: local, path: ../in, stable_for: 0s }
            format: ndjson
            ndjson: { flatten: true }
            steps: [fetch, load, lake]
            load: { table: events }
            """);
        WriteSource("events.ndjson", "{\"id\": 1, \"who\": {\"name\": \"Åsa\"}}\n{\"id\": 2, \"extra\": true}\n");
        var runtime = await OpenAsync();

        var (load, _) = (await DrainAsync(runtime, WorkerWith(runtime))).ShouldHaveSingleItem();

        load.Status.ShouldBe(LoadStatus.Archived, load.ErrorMessage);
        using var duck = DuckDb();
        using var command = duck.CreateCommand();
        command.CommandText = $"SELECT string_agg(id || ':' || coalesce(\"who.name\", '-') || ':' || coalesce(extra, '-'), ',' ORDER BY id) FROM read_parquet('{Glob}')";
        command.ExecuteScalar().ShouldBe("1:Åsa:-,2:-:true");
    }

    [Fact]
    public void LakeWithoutTheStep_OrWithoutATable_IsRefusedAtStart()
    {
        File.WriteAllText(Path.Combine(_dir, "pipelines", "p.yaml"), """
            name: p
            source: { kind: local, path: ../in }
            steps: [fetch]
            lake: { area: lake }
            """);
        Should.Throw<ConfigException>(() => ConfigLoader.Load(Path.Combine(_dir, "intake.yaml"))).Errors
            .ShouldContain(e => e.Key == "lake" && e.Reason == "is set but the steps do not include 'lake'");

        File.WriteAllText(Path.Combine(_dir, "pipelines", "p.yaml"), """
            name: p
            source: { kind: local, path: ../in }
            steps: [fetch, lake]
            lake: { store: nowhere }
            """);
        var errors = Should.Throw<ConfigException>(() => ConfigLoader.Load(Path.Combine(_dir, "intake.yaml"))).Errors;
        errors.ShouldContain(e => e.Key == "lake" && e.Reason.Contains("needs a table name", StringComparison.Ordinal));
        errors.ShouldContain(e => e.Key.EndsWith("store", StringComparison.Ordinal) && e.Reason.Contains("nowhere", StringComparison.Ordinal));
    }

    /// <summary>The lake step with partitions, as a slice that knows them (a snapshot, a day) fills them in.</summary>
    private sealed class WithPartitions(IStep real, IReadOnlyList<(string Name, string Value)> partitions) : IStep
    {
        public string Name => real.Name;

        public Task<StepResult> RunAsync(StepContext context, CancellationToken cancellationToken) =>
            real.RunAsync(context with { LakePartitions = partitions }, cancellationToken);
    }

    private sealed class FailsOnceAfter(IStep real) : IStep
    {
        private int _calls;

        public string Name => real.Name;

        public async Task<StepResult> RunAsync(StepContext context, CancellationToken cancellationToken)
        {
            var result = await real.RunAsync(context, cancellationToken);
            return ++_calls == 1 ? throw IntakeException.Transient("connection reset after the file was written") : result;
        }
    }

    private sealed class SkipsLoad : IStep
    {
        public string Name => "load";

        public Task<StepResult> RunAsync(StepContext context, CancellationToken cancellationToken) => Task.FromResult(new StepResult());
    }
}
