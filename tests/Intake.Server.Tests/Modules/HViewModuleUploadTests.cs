using System.Text.Json;
using Intake.Catalog;
using Intake.Core.Ports;
using Intake.Server.Auth;
using Intake.Tests.Shared;
using Microsoft.Data.Sqlite;

namespace Intake.Server.Tests.Modules;

/// <summary>
/// HView's veritas2hview module end to end: a tar.gz of Veritas CSVs put into the module's bucket with the AWS-style
/// path, the spec's trigger, and the parsing modules filling their tables (the grid taken from the path), against a real
/// <c>intake serve</c>, PostgreSQL (the catalog) and s3rver.
/// </summary>
public sealed class HViewModuleUploadTests
{
    private const string Module = "veritas2hview";

    [PostgresAndS3Fact]
    public async Task UploadTrigger_RunsTheModules_IntoTheirTables_WithTheGridFromThePath()
    {
        var s3 = MatrixServers.S3;
        var bucket = "veritas-" + Guid.NewGuid().ToString("N")[..10];
        using var http = new HttpClient();
        (await http.PutAsync($"{s3["url"]}/{bucket}", null)).EnsureSuccessStatusCode(); // s3rver takes unsigned requests
        const string path = "bobs_burgers/icecream_machine/big_ol_dump.tar.gz";
        var dump = HViewJobs.TarGz(("dump/jobs.csv", "job_id,policy,status\n1,daily,ok\n2,weekly,failed\n"), ("dump/policies.csv", "policy,schedule\ndaily,0 1 * * *\n"));
        (await http.PutAsync($"{s3["url"]}/{bucket}/{path}", new ByteArrayContent(dump))).EnsureSuccessStatusCode();

        var connection = await TestPostgres.CreateDatabaseAsync("hviewmod");
        using var workspace = new Workspace(connection);
        File.WriteAllText(Path.Combine(workspace.Root, "pipelines", "veritas.yaml"), $$"""
            name: veritas
            category: hydrastor
            type: {{Module}}
            schedule: triggered
            source:
              kind: s3
              url: {{s3["url"]}}
              bucket: {{bucket}}
              region: {{s3.GetValueOrDefault("region", "us-east-1")}}
              access_key: {{s3["access_key"]}}
              secret_key: {{s3["secret_key"]}}
            steps: [fetch, decompress, archive]
            modules:
              - name: jobs
                kind: csv
                files: ["**/jobs.csv"]
                source_key_pattern: '^[^/]+/(?<grid>[^/]+)/'
                table: veritas_jobs
                mode: upsert
                key: [grid, job_id]
                constants: { customer: "{customer}", grid: "{grid}" }
              - name: policies
                kind: csv
                files: ["**/policies.csv"]
                source_key_pattern: '^[^/]+/(?<grid>[^/]+)/'
                table: veritas_policies
                mode: upsert
                key: [grid, policy]
                constants: { grid: "{grid}" }
            """);
        string key;
        await using (var catalog = new PostgresCatalog(connection, TimeProvider.System))
        {
            await catalog.MigrateAsync(default);
            key = (await ApiKeys.CreateAsync(catalog, "bobs_burgers", ApiKeyScope.Write, null, default)).Key;
        }

        await using var serve = await workspace.StartServeAsync("--workers", "1", "--poll", "200ms", "--discover-every", "200ms");
        using var client = serve.Client(key);

        var body = $$"""{"uid": "u-42", "customer": "bobs_burgers", "grid": "icecream_machine", "s3_path": "{{path}}"}""";
        var (accepted, started, _) = await client.PostJsonAsync($"/api/1.0/{Module}/update", body);
        accepted.ShouldBe(202);
        var id = started.GetProperty("job_ids")[0].GetInt64();

        await HViewJobs.WaitForJobAsync(client, Module, id, "completed");
        var (_, detail, _) = await client.GetJsonAsync($"/api/v1/loads/{id}");
        var step = detail.GetProperty("steps").EnumerateArray().Single(s => s.GetProperty("step").GetString() == "module");
        step.GetProperty("rows_out").GetInt64().ShouldBe(3);

        await using var warehouse = new SqliteConnection($"Data Source={Path.Combine(workspace.Root, ".intake", "warehouse.db")};Pooling=false");
        await warehouse.OpenAsync();
        await using var command = warehouse.CreateCommand();
        command.CommandText = "select customer || '/' || grid || '/' || job_id || '/' || status from veritas_jobs order by job_id";
        var rows = new List<string>();
        await using (var reader = await command.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync())
            {
                rows.Add(reader.GetString(0));
            }
        }

        rows.ShouldBe(["bobs_burgers/icecream_machine/1/ok", "bobs_burgers/icecream_machine/2/failed"]);
    }
}
