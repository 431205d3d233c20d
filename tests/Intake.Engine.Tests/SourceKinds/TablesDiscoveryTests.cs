using Intake.Core.Errors;
using Intake.Core.Model;
using Intake.Engine.Audit;
using Intake.Engine.Configuration;
using Intake.Engine.Runtime;
using Intake.Engine.Tests.Support;
using Microsoft.Data.Sqlite;

namespace Intake.Engine.Tests.SourceKinds;

/// <summary>
/// An incoming folder watched by prefix (the Cubic design): every folder under the root that holds data files is a table,
/// registered in the catalog when its prefix first appears, each loaded into a warehouse table of its own; a file in no
/// table's folder is reported once and skipped, and one broken table never stops the others.
/// </summary>
public sealed class TablesDiscoveryTests : IAsyncLifetime
{
    private readonly EmbeddedProject _project = new("intake-tables-");

    public Task InitializeAsync() => Task.CompletedTask;

    // xUnit 2 disposes a test class through IAsyncLifetime, not IAsyncDisposable.
    public Task DisposeAsync() => _project.DisposeAsync().AsTask();

    private void Write(string key, string content)
    {
        var path = _project.In(key);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, content);
    }

    private void Pipeline(string more = "") => _project.Pipeline("cubic", $"""
        name: cubic
        source:
          kind: local
          path: ../in
          stable_for: 0s
          tables_from_prefix: {"{"} root: cubic/, depth: 3 {"}"}
        steps: [fetch, load]
        {more}
        """);

    private async Task<IntakeRuntime> OpenAsync() => await IntakeRuntime.OpenAsync(ConfigLoader.Load(Path.Combine(_project.Root, "intake.yaml")));

    private static async Task DrainAsync(IntakeRuntime runtime)
    {
        var worker = new Worker(runtime, Worker.DefaultSteps(runtime));
        while (await worker.RunOneAsync(null, default) is not null)
        {
        }
    }

    private long Rows(string sql)
    {
        using var connection = new SqliteConnection($"Data Source={Path.Combine(_project.Root, ".intake", "warehouse.db")};Pooling=False");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        return (long)command.ExecuteScalar()!;
    }

    [Fact]
    public async Task Discovery_RegistersEachFoldersTable_ThenItsFilesAsLoadsOfIt_EachLoadedIntoItsOwnWarehouseTable()
    {
        Pipeline();
        Write("cubic/ods_qlik/EDW.SAMPLE/LOAD001.csv", "id,name\n1,a\n2,b\n");
        Write("cubic/ods_qlik/EDW.SAMPLE__ct/20220304-134556444.csv", "header__change_oper,id,name\nU,1,aa\n");
        Write("cubic/dmap/agg_sample/20220304.csv", "day,riders\n2022-03-04,10\n2022-03-05,11\n2022-03-06,12\n");
        Write("cubic/readme.txt", "not a table's file");
        Write("cubic/ods_qlik/stray.csv", "id\n1\n");
        Write("elsewhere/x.csv", "id\n1\n");
        await using var runtime = await OpenAsync();
        var discovery = new Discovery(runtime);

        var first = await discovery.DiscoverAsync(runtime.Pipeline("cubic"), default);
        await DrainAsync(runtime);
        var second = await discovery.DiscoverAsync(runtime.Pipeline("cubic"), default);

        first.New.ShouldBe(3);
        first.NewTables.ShouldBe(["cubic__dmap__agg_sample", "cubic__ods_qlik__edw_sample", "cubic__ods_qlik__edw_sample__ct"]);
        first.Skipped.Select(s => s.Key).ShouldBe(["cubic/ods_qlik/stray.csv", "cubic/readme.txt", "elsewhere/x.csv"]);
        first.Skipped[0].Reason.ShouldBe("it is 2 folder level(s) deep, fewer than the 3 (tables_from_prefix.depth) that name a table");
        (second.New, second.Seen, second.NewTables.Count).ShouldBe((0, 3, 0));
        second.Skipped.ShouldBeEmpty(); // reported once, not on every listing

        var tables = await runtime.Ports.Tables.ListTablesAsync(["cubic"], default);
        tables.Select(t => (t.Table.Name, t.Table.Prefix, t.Loads[LoadStatus.Archived])).ShouldBe(
        [
            ("cubic__dmap__agg_sample", "cubic/dmap/agg_sample/", 1L),
            ("cubic__ods_qlik__edw_sample", "cubic/ods_qlik/EDW.SAMPLE/", 1L),
            ("cubic__ods_qlik__edw_sample__ct", "cubic/ods_qlik/EDW.SAMPLE__ct/", 1L),
        ]);
        var loads = await runtime.Catalog.ListLoadsAsync(new LoadQuery(), default);
        loads.Select(l => (l.SourceKey, l.Table)).Order().ShouldBe(
        [
            ("cubic/dmap/agg_sample/20220304.csv", "cubic__dmap__agg_sample"),
            ("cubic/ods_qlik/EDW.SAMPLE/LOAD001.csv", "cubic__ods_qlik__edw_sample"),
            ("cubic/ods_qlik/EDW.SAMPLE__ct/20220304-134556444.csv", "cubic__ods_qlik__edw_sample__ct"),
        ]);

        // Each table its own warehouse table, created from its own header.
        Rows("SELECT count(*) FROM cubic__ods_qlik__edw_sample").ShouldBe(2);
        Rows("SELECT count(*) FROM cubic__ods_qlik__edw_sample__ct WHERE header__change_oper = 'U'").ShouldBe(1);
        Rows("SELECT count(*) FROM cubic__dmap__agg_sample WHERE riders >= 10").ShouldBe(3);
        var audit = new Auditor(runtime);
        foreach (var load in loads)
        {
            var result = await audit.AuditLoadAsync(load, default);
            (result.Ok, result.RowsInWarehouse).ShouldBe((true, result.RowsLoaded), string.Join("; ", result.Problems));
        }
    }

    [Fact]
    public async Task OneBrokenTable_NeverStopsTheOthers_NeitherInDiscoveryNorInTheWorkers()
    {
        Pipeline("load:\n  table: \"main.{table}\"\n  columns: { id: bigint not null, name: text }");
        Write("cubic/ods/BROKEN/1.csv", "id,name\n1,a\nnot-a-number,b\n"); // a schema error: this table's loads fail
        Write("cubic/ods/BROKEN/2.csv", "id,name\n3,c\n");
        Write("cubic/ods/EDW.SAMPLE/1.csv", "id,name\n1,a\n2,b\n");
        Write("cubic/ods/edw_sample/1.csv", "id,name\n9,z\n"); // the same table name from another prefix: not mixed in
        for (var t = 0; t < 5; t++)
        {
            for (var f = 0; f < 4; f++)
            {
                Write($"cubic/dmap/t{t}/{f}.csv", $"id,name\n{f},x\n{f + 100},y\n");
            }
        }

        await using var runtime = await OpenAsync();
        var discovered = await new Discovery(runtime).DiscoverAsync(runtime.Pipeline("cubic"), default);
        await DrainAsync(runtime);

        discovered.New.ShouldBe(2 + 1 + 20);
        discovered.NewTables.Count.ShouldBe(1 + 1 + 5);
        var skipped = discovered.Skipped.ShouldHaveSingleItem();
        skipped.Key.ShouldBe("cubic/ods/edw_sample/1.csv");
        skipped.Reason.ShouldBe("its folder cubic/ods/edw_sample/ names the table cubic__ods__edw_sample, which is already the table of cubic/ods/EDW.SAMPLE/; rename one of the folders");

        var broken = await runtime.Catalog.ListLoadsAsync(new LoadQuery { Table = "cubic__ods__broken" }, default);
        broken.Select(l => (l.SourceKey, l.Status)).ShouldBe([("cubic/ods/BROKEN/1.csv", LoadStatus.Errored), ("cubic/ods/BROKEN/2.csv", LoadStatus.Archived)]);
        broken[0].ErrorKind.ShouldBe(ErrorKind.Schema);
        var others = await runtime.Catalog.ListLoadsAsync(new LoadQuery { Status = LoadStatus.Archived }, default);
        others.Count.ShouldBe(1 + 1 + 20);
        Rows("SELECT count(*) FROM cubic__ods__edw_sample").ShouldBe(2);
        for (var t = 0; t < 5; t++)
        {
            Rows($"SELECT count(*) FROM cubic__dmap__t{t}").ShouldBe(8);
        }
    }

    [Fact]
    public async Task FilesOfOneNameInEveryTable_ReceivedInTheSameSecond_EachLoadItsOwnContent()
    {
        Pipeline();
        Write("cubic/ods_qlik/EDW.A/LOAD001.csv", "id,name\n1,a\n");
        Write("cubic/ods_qlik/EDW.B/LOAD001.csv", "id,name\n2,b\n"); // same name, same size, another table

        var loads = await _project.RunAsync("cubic");

        loads.Select(l => l.Status).ShouldBe([LoadStatus.Archived, LoadStatus.Archived]);
        loads.Select(l => l.InboxKey).Distinct().Count().ShouldBe(2);
        Rows("SELECT count(*) FROM cubic__ods_qlik__edw_a WHERE name = 'a'").ShouldBe(1);
        Rows("SELECT count(*) FROM cubic__ods_qlik__edw_b WHERE name = 'b'").ShouldBe(1);
    }

    [Fact]
    public async Task IncludeAndExclude_PickTables_AndTheOthersAreNeitherRegisteredNorReported()
    {
        _project.Pipeline("cubic", """
            name: cubic
            source:
              kind: local
              path: ../in
              stable_for: 0s
              tables_from_prefix: { root: cubic/, depth: 3, include: ["cubic__ods_qlik__*"], exclude: ["*__ct"] }
            steps: [fetch, load]
            """);
        Write("cubic/ods_qlik/EDW.SAMPLE/LOAD001.csv", "id\n1\n");
        Write("cubic/ods_qlik/EDW.SAMPLE__ct/1.csv", "id\n1\n");
        Write("cubic/dmap/agg_sample/1.csv", "id\n1\n");

        var loads = await _project.RunAsync("cubic");

        loads.ShouldHaveSingleItem().Table.ShouldBe("cubic__ods_qlik__edw_sample");
        await using var runtime = await OpenAsync();
        (await runtime.Ports.Tables.ListTablesAsync(null, default)).ShouldHaveSingleItem().Table.Name.ShouldBe("cubic__ods_qlik__edw_sample");
    }

    [Fact]
    public async Task ALoadRegisteredBeforeThePipelineHadTables_FailsSayingWhy_TheNewOnesLoad()
    {
        _project.Pipeline("cubic", "name: cubic\nsource: { kind: local, path: ../in, stable_for: 0s }\nsteps: [fetch, load]\nload: { table: flat }\n");
        Write("cubic/dmap/agg_sample/1.csv", "id\n1\n");
        await using (var runtime = await OpenAsync())
        {
            (await new Discovery(runtime).DiscoverAsync(runtime.Pipeline("cubic"), default)).New.ShouldBe(1); // registered, not loaded yet
        }

        Pipeline(); // now with tables_from_prefix: the file is the same load, which has no table
        Write("cubic/dmap/agg_sample/2.csv", "id\n2\n");

        var loads = await _project.RunAsync("cubic");

        var early = loads.Single(l => l.SourceKey.EndsWith("1.csv", StringComparison.Ordinal));
        (early.Status, early.ErrorKind).ShouldBe((LoadStatus.Errored, ErrorKind.Config));
        early.ErrorMessage.ShouldNotBeNull().ShouldContain("belongs to no source table, but load.table '{table}' names one per table");
        loads.Single(l => l.SourceKey.EndsWith("2.csv", StringComparison.Ordinal)).Status.ShouldBe(LoadStatus.Archived);
    }
}
