using System.IO.Compression;
using System.Text.Json;
using Intake.Tests.Shared;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace Intake.IntegrationTests;

/// <summary>The exporter through the real CLI: two processes sending the same request at once, validation, watermarks.</summary>
public sealed class ExportCliTests : IDisposable
{
    private readonly TestWorkspace _ws = new();

    public void Dispose() => _ws.Dispose();

    private void WriteBridgePipeline(string database) => File.WriteAllText(Path.Combine(_ws.Root, "pipelines", "bridge.yaml"), $$"""
        name: bridge
        source:
          kind: database
          database: {{database}}
          table: records
          partition_column: study
          time_column: uploaded_on
          id_column: id
          default_start: 2026-01-01T00:00:00Z
        steps: [export]
        """);

    private List<long> ExportedIds()
    {
        var ids = new List<long>();
        var dir = Path.Combine(_ws.StoreRoot, "exports");
        foreach (var file in Directory.Exists(dir) ? Directory.EnumerateFiles(dir, "*.ndjson.gz", SearchOption.AllDirectories) : [])
        {
            using var reader = new StreamReader(new GZipStream(File.OpenRead(file), CompressionMode.Decompress));
            while (reader.ReadLine() is { } line)
            {
                ids.Add(JsonDocument.Parse(line).RootElement.GetProperty("id").GetInt64());
            }
        }

        ids.Sort();
        return ids;
    }

    [PostgresFact]
    public async Task TwoProcesses_SendingTheSameExportAtOnce_ExportOnce()
    {
        var catalog = await TestPostgres.CreateDatabaseAsync("cat");
        var source = await TestPostgres.CreateDatabaseAsync("src");
        await using (var c = new NpgsqlConnection(source))
        {
            await c.OpenAsync();
            await using var cmd = new NpgsqlCommand("""
                CREATE TABLE records (id bigint PRIMARY KEY, study text NOT NULL, uploaded_on timestamptz NOT NULL, payload text);
                INSERT INTO records SELECT g, 's' || (g % 3), timestamptz '2026-01-01' + g * interval '1 minute', 'p' || g FROM generate_series(1, 300) g;
                """, c);
            await cmd.ExecuteNonQueryAsync();
        }

        _ws.WriteConfig(catalog: $"  kind: postgres\n  connection: \"{catalog}\"");
        WriteBridgePipeline($"{{ kind: postgres, connection: \"{source}\" }}");
        (await _ws.RunCliAsync("validate")).ExitCode.ShouldBe(0); // migrate once, so both processes start on an up-to-date catalog

        var args = new[] { "export", "bridge", "--type", "daily", "--end", "2026-01-02T00:00:00Z", "--tag", "same", "--wait", "--json" };
        using var a = _ws.StartCli(args);
        using var b = _ws.StartCli(args);
        var outputs = new List<string>();
        foreach (var p in new[] { a, b })
        {
            var stdout = p.StandardOutput.ReadToEndAsync();
            var stderr = p.StandardError.ReadToEndAsync();
            await p.WaitForExitAsync();
            p.ExitCode.ShouldBe(0, await stderr);
            outputs.Add(await stdout);
        }

        var docs = outputs.Select(o => JsonDocument.Parse(o.Trim().Split('\n')[^1]).RootElement).ToList();
        docs.Count(d => d.GetProperty("created").GetBoolean()).ShouldBe(1);
        docs.Select(d => d.GetProperty("load").GetProperty("id").GetInt64()).Distinct().ShouldHaveSingleItem();

        await using (var c = new NpgsqlConnection(catalog))
        {
            await c.OpenAsync();
            await using var loads = new NpgsqlCommand("SELECT count(*) FROM intake_loads", c);
            ((long)(await loads.ExecuteScalarAsync())!).ShouldBe(1);
            await using var marks = new NpgsqlCommand("SELECT count(*) FROM intake_watermarks WHERE value = '2026-01-02T00:00:00.000Z'", c);
            ((long)(await marks.ExecuteScalarAsync())!).ShouldBe(3);
        }

        ExportedIds().ShouldBe(Enumerable.Range(1, 300).Select(i => (long)i).ToList()); // every record once, none twice
    }

    [Fact]
    public async Task ExportCommand_WithInvalidOptions_NamesTheOption_AndQueuesNothing()
    {
        CreateSqliteSource();
        _ws.WriteConfig();
        WriteBridgePipeline("{ kind: sqlite, path: ../source.db }");

        var noIgnore = await _ws.RunCliAsync("export", "bridge", "--start", "2026-01-01T00:00:00Z");
        var badTime = await _ws.RunCliAsync("export", "bridge", "--end", "yesterday");
        var future = await _ws.RunCliAsync("export", "bridge", "--end", "2999-01-01T00:00:00Z");

        noIgnore.ExitCode.ShouldBe(2);
        noIgnore.Stderr.ShouldContain("--start: is only used with ignore-last-export-time");
        badTime.ExitCode.ShouldBe(2);
        badTime.Stderr.ShouldContain("--end: 'yesterday' is not an ISO 8601 time");
        future.Stderr.ShouldContain("--end: 2999-01-01T00:00:00.000Z is in the future");
        _ws.Scalar(_ws.CatalogPath, "SELECT count(*) FROM intake_export_requests").ShouldBe(0);
    }

    [Fact]
    public async Task Watermarks_AreListed_AndDeletingAPartitionForgetsIts()
    {
        CreateSqliteSource();
        _ws.WriteConfig();
        WriteBridgePipeline("{ kind: sqlite, path: ../source.db }");
        var export = await _ws.RunCliAsync("export", "bridge", "--end", "2026-01-02T00:00:00Z", "--wait");
        export.ExitCode.ShouldBe(0, export.Stderr);
        ExportedIds().ShouldBe([1, 2]);

        var list = await _ws.RunCliAsync("watermarks", "bridge", "--json");
        var marks = JsonDocument.Parse(list.Stdout).RootElement.EnumerateArray().Select(e => (e.GetProperty("partition").GetString(), e.GetProperty("value").GetString())).ToList();
        marks.ShouldBe([("s1", "2026-01-02T00:00:00.000Z"), ("s2", "2026-01-02T00:00:00.000Z")]);

        (await _ws.RunCliAsync("watermarks", "delete", "bridge", "s1")).ExitCode.ShouldBe(0);
        (await _ws.RunCliAsync("watermarks", "delete", "bridge", "s1")).ExitCode.ShouldBe(5);
        var after = await _ws.RunCliAsync("watermarks", "--json");
        JsonDocument.Parse(after.Stdout).RootElement.EnumerateArray().Select(e => e.GetProperty("partition").GetString()).ShouldBe(["s2"]);
    }

    private void CreateSqliteSource()
    {
        using var c = new SqliteConnection($"Data Source={Path.Combine(_ws.Root, "source.db")};Pooling=False");
        c.Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = """
            CREATE TABLE records (id INTEGER PRIMARY KEY, study TEXT NOT NULL, uploaded_on TEXT NOT NULL);
            INSERT INTO records VALUES (1, 's1', '2026-01-01T10:00:00.000Z'), (2, 's2', '2026-01-01T11:00:00.000Z'), (3, 's1', '2026-01-02T10:00:00.000Z');
            """;
        cmd.ExecuteNonQuery();
    }
}
