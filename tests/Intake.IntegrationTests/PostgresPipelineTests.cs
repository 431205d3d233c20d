using System.Text.Json;
using Intake.Tests.Shared;
using Npgsql;

namespace Intake.IntegrationTests;

/// <summary>The same pipeline on the shared setup: PostgreSQL catalog and PostgreSQL warehouse (binary COPY).</summary>
public sealed class PostgresPipelineTests : IDisposable
{
    private readonly TestWorkspace _ws = new();

    public void Dispose() => _ws.Dispose();

    [PostgresFact]
    public async Task RunOnce_WithPostgresCatalogAndWarehouse_LoadsEveryRowOnce_AndRerunAddsNothing()
    {
        var catalog = await TestPostgres.CreateDatabaseAsync("it_cat");
        var warehouse = await TestPostgres.CreateDatabaseAsync("it_wh");
        File.WriteAllText(Path.Combine(_ws.Root, ".env"), $"CATALOG_PG={catalog}\nWAREHOUSE_PG={warehouse}\n");
        _ws.WriteConfig(catalog: "  kind: postgres\n  connection: ${CATALOG_PG}", warehouse: "    kind: postgres\n    connection: ${WAREHOUSE_PG}");
        _ws.WritePipeline("sales", table: "staging.sales", columns: "  columns:\n    id: bigint not null\n    name: text\n    amount: decimal");
        _ws.AddGzip("a.csv.gz", TestWorkspace.Csv(30_000));
        _ws.AddZip("b.zip", ("part1.csv", System.Text.Encoding.UTF8.GetBytes(TestWorkspace.Csv(5_000, 100_000))), ("part2.csv", System.Text.Encoding.UTF8.GetBytes(TestWorkspace.Csv(5_000, 200_000))));

        var first = await _ws.RunCliAsync("run", "--once", "--json");
        first.ExitCode.ShouldBe(0, first.Stderr);
        var second = await _ws.RunCliAsync("run", "--once", "--json");
        second.ExitCode.ShouldBe(0, second.Stderr);
        using (var doc = JsonDocument.Parse(second.Stdout))
        {
            doc.RootElement.GetProperty("loads").GetArrayLength().ShouldBe(0);
        }

        await using var conn = new NpgsqlConnection(warehouse);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand("select count(*), count(distinct id), sum(amount) from staging.sales", conn);
        await using var r = await cmd.ExecuteReaderAsync();
        (await r.ReadAsync()).ShouldBeTrue();
        r.GetInt64(0).ShouldBe(40_000);
        r.GetInt64(1).ShouldBe(40_000);

        var audit = await _ws.RunCliAsync("audit", "--json");
        audit.ExitCode.ShouldBe(0, audit.Stdout + audit.Stderr);
    }

    [PostgresFact]
    public async Task RunOnce_WithLoadStreams_LoadsEveryRowOnceThroughSeveralConnections_AndRerunAddsNothing()
    {
        var catalog = await TestPostgres.CreateDatabaseAsync("it_cat");
        var warehouse = await TestPostgres.CreateDatabaseAsync("it_wh");
        File.WriteAllText(Path.Combine(_ws.Root, ".env"), $"CATALOG_PG={catalog}\nWAREHOUSE_PG={warehouse}\n");
        _ws.WriteConfig(catalog: "  kind: postgres\n  connection: ${CATALOG_PG}", warehouse: "    kind: postgres\n    connection: ${WAREHOUSE_PG}");
        _ws.WritePipeline("sales", table: "staging.sales", columns: "  streams: 3\n  columns:\n    id: bigint not null\n    name: text\n    amount: decimal");
        _ws.AddGzip("a.csv.gz", TestWorkspace.Csv(60_000));

        var first = await _ws.RunCliAsync("run", "--once", "--json");
        first.ExitCode.ShouldBe(0, first.Stderr);
        var second = await _ws.RunCliAsync("run", "--once", "--json");
        second.ExitCode.ShouldBe(0, second.Stderr);

        await using var conn = new NpgsqlConnection(warehouse);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand("select count(*), count(distinct id), sum(amount)::text, count(distinct xmin::text) from staging.sales", conn);
        await using var r = await cmd.ExecuteReaderAsync();
        (await r.ReadAsync()).ShouldBeTrue();
        r.GetInt64(0).ShouldBe(60_000);
        r.GetInt64(1).ShouldBe(60_000);
        r.GetString(2).ShouldBe(Enumerable.Range(1, 60_000).Sum(i => (i % 1000) + 0.25m).ToString(System.Globalization.CultureInfo.InvariantCulture));
        r.GetInt64(3).ShouldBeGreaterThan(1); // the rows came through more than one COPY connection's transaction

        var audit = await _ws.RunCliAsync("audit", "--json");
        audit.ExitCode.ShouldBe(0, audit.Stdout + audit.Stderr);
    }
}
