using System.Text;
using System.Text.Json;
using Intake.Tests.Shared;
using Npgsql;

namespace Intake.IntegrationTests;

/// <summary>The COLD shape without the FTP server: archive with data and metadata → staging → merge into an application table.</summary>
public sealed class MergePipelineTests : IDisposable
{
    private readonly TestWorkspace _ws = new();

    public void Dispose() => _ws.Dispose();

    private static byte[] Bytes(string s) => Encoding.UTF8.GetBytes(s);

    private static string Meta(string file, string csv) =>
        JsonSerializer.Serialize(new { file, rows = csv.Count(c => c == '\n') - 1, size = Encoding.UTF8.GetByteCount(csv) });

    private void WriteMergePipeline(string warehouseTable = "staging.properties")
    {
        Directory.CreateDirectory(Path.Combine(_ws.Root, "pipelines", "sql"));
        File.WriteAllText(Path.Combine(_ws.Root, "pipelines", "sql", "setup.sql"), """
            create schema if not exists app;
            create table if not exists app.properties (id bigint primary key, name text not null, amount numeric, updated_by_load bigint);
            """);
        File.WriteAllText(Path.Combine(_ws.Root, "pipelines", "sql", "transform.sql"), """
            select cast(id as bigint) as id, upper(name) as name, cast(amount as numeric) * 100 as amount, _intake_load_id as updated_by_load
            from {staging} where _intake_load_id = {load_id}
            """);
        _ws.WritePipeline("props", table: warehouseTable, include: "\"*.zip\"", extra: """
            validate:
              manifest_entry: "**/*.meta.json"
            merge:
              target: app.properties
              key: [id]
              setup: sql/setup.sql
              transform: sql/transform.sql
            """);
        var p = Path.Combine(_ws.Root, "pipelines", "props.yaml");
        File.WriteAllText(p, File.ReadAllText(p).Replace("steps: [fetch, decompress, validate, archive, load]", "steps: [fetch, decompress, validate, archive, load, merge]", StringComparison.Ordinal));
    }

    [PostgresFact]
    public async Task ArchiveWithMetadata_IsValidatedStagedAndMerged_AndAuditAgrees()
    {
        var wh = await TestPostgres.CreateDatabaseAsync("it_merge");
        File.WriteAllText(Path.Combine(_ws.Root, ".env"), $"WH={wh}\n");
        _ws.WriteConfig(warehouse: "    kind: postgres\n    connection: ${WH}");
        WriteMergePipeline();
        var jan = "id,name,amount\n1,alpha,1.5\n2,beta,2\n";
        var feb = "id,name,amount\n2,beta2,3\n3,gamma,4\n";
        _ws.AddZip("jan.zip", ("jan/data.csv", Bytes(jan)), ("jan/data.meta.json", Bytes(Meta("data.csv", jan))));
        var first = await _ws.RunCliAsync("run", "--once", "--json");
        first.ExitCode.ShouldBe(0, first.Stderr);
        _ws.AddZip("feb.zip", ("feb/data.csv", Bytes(feb)), ("feb/data.meta.json", Bytes(Meta("data.csv", feb))));

        var second = await _ws.RunCliAsync("run", "--once", "--json");

        second.ExitCode.ShouldBe(0, second.Stderr);
        await using var conn = new NpgsqlConnection(wh);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand("select string_agg(id || ':' || name || ':' || amount::text || ':' || updated_by_load, ',' order by id) from app.properties", conn);
        (await cmd.ExecuteScalarAsync()).ShouldBe("1:ALPHA:150.0:1,2:BETA2:300:2,3:GAMMA:400:2");
        var audit = await _ws.RunCliAsync("audit", "--all", "--json");
        audit.ExitCode.ShouldBe(0, audit.Stdout);
        using var doc = JsonDocument.Parse(audit.Stdout);
        doc.RootElement.GetProperty("results").EnumerateArray().Select(r => r.GetProperty("rows_merged").GetInt64()).ShouldBe([2L, 2L]);
    }

    [Fact]
    public async Task DataAndMetadataThatDisagree_AreAnIntegrityError_AndNothingIsMerged()
    {
        _ws.WriteConfig();
        WriteMergePipeline(warehouseTable: "staging_properties");
        var pipeline = Path.Combine(_ws.Root, "pipelines", "props.yaml");
        File.WriteAllText(pipeline, File.ReadAllText(pipeline).Replace("target: app.properties", "target: app_properties", StringComparison.Ordinal));
        File.WriteAllText(Path.Combine(_ws.Root, "pipelines", "sql", "setup.sql"), "create table if not exists app_properties (id bigint primary key, name text, amount numeric, updated_by_load bigint);");
        var data = "id,name,amount\n1,a,1\n2,b,2\n3,c,3\n";
        _ws.AddZip("bad.zip", ("data.csv", Bytes(data)), ("data.meta.json", Bytes("""{"file": "data.csv", "rows": 4}""")));

        var run = await _ws.RunCliAsync("run", "--once");

        run.ExitCode.ShouldBe(3);
        var loads = await _ws.RunCliAsync("loads", "--json");
        using var doc = JsonDocument.Parse(loads.Stdout);
        var load = doc.RootElement.EnumerateArray().ShouldHaveSingleItem();
        load.GetProperty("error_kind").GetString().ShouldBe("integrity");
        load.GetProperty("error_message").GetString()!.ShouldContain("has 3 data rows, data.meta.json says 4");
        File.Exists(_ws.WarehousePath).ShouldBeFalse(); // never reached the load step
    }
}
