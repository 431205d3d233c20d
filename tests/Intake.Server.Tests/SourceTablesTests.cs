using System.Text.Json;
using Intake.Catalog;
using Intake.Core.Ports;
using Intake.Server.Auth;
using Intake.Tests.Shared;

namespace Intake.Server.Tests;

/// <summary>
/// Tables of file sources watched by prefix (tables_from_prefix), as operators see them: <c>intake tables</c> lists each
/// registered table with its prefix, first sighting, warehouse table and loads by status; <c>/api/v1/tables</c> lists
/// one warehouse table per source table, and a key sees only its customer's.
/// </summary>
public sealed class SourceTablesTests
{
    private static void WriteTablesPipeline(Workspace workspace, string name, string customer)
    {
        var incoming = workspace.Incoming(name);
        foreach (var (key, csv) in new[]
        {
            ("cubic/ods_qlik/EDW.SAMPLE/LOAD001.csv", "id,name\n1,a\n2,b\n"),
            ("cubic/ods_qlik/EDW.SAMPLE__ct/20220304-134556444.csv", "id,name\n1,aa\n"),
            ("cubic/dmap/agg_sample/20220304.csv", "id,name\n3,c\n"),
            ("cubic/dmap/agg_sample/20220305.csv", "id,name\nnot-a-number,d\n"), // errors: id is a bigint
        })
        {
            var path = Path.Combine(incoming, key);
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            File.WriteAllText(path, csv);
        }

        File.WriteAllText(Path.Combine(workspace.Root, "pipelines", name + ".yaml"), $$"""
            name: {{name}}
            customer: {{customer}}
            source:
              kind: local
              path: ../incoming/{{name}}
              stable_for: 0s
              tables_from_prefix: { root: cubic/, depth: 3 }
            steps: [fetch, load]
            load:
              table: "main.{table}"
              columns: { id: bigint not null, name: text }
            """);
    }

    [PostgresFact]
    public async Task RegisteredTables_AreListedByTheCli_AndByTheApiPerCustomer()
    {
        var connection = await TestPostgres.CreateDatabaseAsync("tables");
        using var workspace = new Workspace(connection);
        WriteTablesPipeline(workspace, "cubic", "acme");
        WriteTablesPipeline(workspace, "rival", "globex");
        string acme;
        await using (var catalog = new PostgresCatalog(connection, TimeProvider.System))
        {
            await catalog.MigrateAsync(default);
            acme = (await ApiKeys.CreateAsync(catalog, "acme", ApiKeyScope.Read, null, default)).Key;
        }

        (await workspace.RunCliAsync("run", "--once")).ExitCode.ShouldBe(3); // one file of each pipeline errors

        var cli = await workspace.RunCliAsync("tables", "--pipeline", "cubic", "--json");
        cli.ExitCode.ShouldBe(0, cli.Stderr);
        var tables = JsonDocument.Parse(cli.Stdout).RootElement.EnumerateArray().ToList();
        tables.Select(t => t.GetProperty("name").GetString()).ShouldBe(["cubic__dmap__agg_sample", "cubic__ods_qlik__edw_sample", "cubic__ods_qlik__edw_sample__ct"]);
        tables[0].GetProperty("prefix").GetString().ShouldBe("cubic/dmap/agg_sample/");
        tables[0].GetProperty("warehouse_table").GetString().ShouldBe("main.cubic__dmap__agg_sample");
        tables[0].GetProperty("loads").GetProperty("archived").GetInt64().ShouldBe(1);
        tables[0].GetProperty("loads").GetProperty("errored").GetInt64().ShouldBe(1);
        tables[0].GetProperty("first_seen_at").GetDateTimeOffset().ShouldBeGreaterThan(DateTimeOffset.UtcNow.AddMinutes(-10));
        var text = await workspace.RunCliAsync("tables");
        text.Stdout.ShouldContain("cubic/ods_qlik/EDW.SAMPLE__ct/");
        text.Stdout.ShouldContain("rival"); // every pipeline's, with a pipeline column
        (await workspace.RunCliAsync("tables", "--pipeline", "nope")).ExitCode.ShouldBe(5);

        await using var serve = await workspace.StartServeAsync("--discover-every", "1h");
        using var client = serve.Client(acme);
        var (status, page, _) = await client.GetJsonAsync("/api/v1/tables");
        status.ShouldBe(200, page.ToString());
        var items = page.GetProperty("items").EnumerateArray().ToList();
        items.Select(t => t.GetProperty("name").GetString()).ShouldBe(["main.cubic__dmap__agg_sample", "main.cubic__ods_qlik__edw_sample", "main.cubic__ods_qlik__edw_sample__ct"]);
        items.ShouldAllBe(t => t.GetProperty("customer").GetString() == "acme");
        var source = items[1].GetProperty("source_tables").EnumerateArray().ShouldHaveSingleItem();
        (source.GetProperty("pipeline").GetString(), source.GetProperty("name").GetString(), source.GetProperty("prefix").GetString())
            .ShouldBe(("cubic", "cubic__ods_qlik__edw_sample", "cubic/ods_qlik/EDW.SAMPLE/"));
        source.GetProperty("loads").GetProperty("archived").GetInt64().ShouldBe(1);
        (await client.GetJsonAsync("/api/v1/tables/main.cubic__ods_qlik__edw_sample__ct")).Status.ShouldBe(200);

        var (_, load, _) = await client.GetJsonAsync("/api/v1/loads?pipeline=cubic&status=archived");
        load.GetProperty("items").EnumerateArray().Select(l => l.GetProperty("table").GetString()).Order().ShouldBe(["cubic__dmap__agg_sample", "cubic__ods_qlik__edw_sample", "cubic__ods_qlik__edw_sample__ct"]);
    }
}
