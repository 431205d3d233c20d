using System.Text.Json;
using Intake.Catalog;
using Intake.Core.Ports;
using Intake.Server.Auth;
using Intake.Tests.Shared;

namespace Intake.Server.Tests;

/// <summary>A fact that needs PostgreSQL (the catalog) and s3rver (the module's bucket).</summary>
public sealed class PostgresAndS3FactAttribute : FactAttribute
{
    public PostgresAndS3FactAttribute() =>
        Skip = TestServers.SkipUnless(MatrixServers.Available("s3"), "PostgreSQL or s3rver is not reachable (start them with scripts/servers/postgres.sh and s3rver.sh, or set INTAKE_TEST_PG and INTAKE_TEST_S3)");
}

/// <summary>
/// HView's upload clients, unchanged: they put a tar.gz into the module's bucket with an AWS-style path
/// (<c>&lt;customer&gt;/&lt;grid&gt;/&lt;dump&gt;.tar.gz</c>) and call <c>POST /api/1.0/{module}/update</c> with the spec's body and
/// <c>X-Api-Key</c>; <c>GET /api/1.0/jobs</c> shows the job. Against a real <c>intake serve</c>, PostgreSQL and s3rver.
/// </summary>
public sealed class HViewUploadTests
{
    private const string Module = "veritas2hview";

    [PostgresAndS3Fact]
    public async Task UploadTrigger_LoadsTheCustomersTarGz_OnlyWhenTriggered_WithHViewJobs_AndKeepsCustomersApart()
    {
        var s3 = MatrixServers.S3;
        var bucket = "veritas-" + Guid.NewGuid().ToString("N")[..10];
        using var http = new HttpClient();
        (await http.PutAsync($"{s3["url"]}/{bucket}", null)).EnsureSuccessStatusCode(); // s3rver takes unsigned requests
        const string path = "bobs_burgers/icecream_machine/big_ol_dump.tar.gz";
        (await http.PutAsync($"{s3["url"]}/{bucket}/{path}", new ByteArrayContent(HViewJobs.TarGz(("jobs.csv", "id,name\n1,backup-a\n2,backup-b\n"), ("clients.csv", "id,name\n3,host-c\n"))))).EnsureSuccessStatusCode();

        var connection = await TestPostgres.CreateDatabaseAsync("hview");
        using var workspace = new Workspace(connection);
        File.WriteAllText(Path.Combine(workspace.Root, "pipelines", "veritas.yaml"), $"""
            name: veritas
            customer: hview
            category: hydrastor
            type: {Module}
            schedule: triggered
            source:
              kind: s3
              url: {s3["url"]}
              bucket: {bucket}
              region: {s3.GetValueOrDefault("region", "us-east-1")}
              access_key: {s3["access_key"]}
              secret_key: {s3["secret_key"]}
            steps: [fetch, decompress, validate, archive, load]
            load:
              table: veritas
              columns: {"{"} id: bigint not null, name: text {"}"}
            """);
        string bobs, bobsRead, rival;
        await using (var catalog = new PostgresCatalog(connection, TimeProvider.System))
        {
            await catalog.MigrateAsync(default);
            bobs = (await ApiKeys.CreateAsync(catalog, "bobs_burgers", ApiKeyScope.Write, null, default)).Key;
            bobsRead = (await ApiKeys.CreateAsync(catalog, "bobs_burgers", ApiKeyScope.Read, null, default)).Key;
            rival = (await ApiKeys.CreateAsync(catalog, "rival", ApiKeyScope.Write, null, default)).Key;
        }

        await using var serve = await workspace.StartServeAsync("--workers", "1", "--poll", "200ms", "--discover-every", "200ms");
        using var client = serve.Client(bobs);

        // schedule: triggered — the server never lists the bucket by itself, so nothing is loaded before the trigger.
        await Task.Delay(1500);
        (await client.GetJsonAsync("/api/1.0/jobs")).Body.GetProperty("jobs").GetArrayLength().ShouldBe(0);

        var body = $$"""{"uid": "u-42", "customer": "bobs_burgers", "grid": "icecream_machine", "s3_path": "{{path}}"}""";

        // Another customer's key, a path outside the customer's folder, a read key: refused, nothing started.
        using (var other = serve.Client(rival))
        {
            var (status, problem, _) = await other.PostJsonAsync($"/api/1.0/{Module}/update", body);
            status.ShouldBe(403);
            problem.GetProperty("detail").GetString()!.ShouldContain("cannot start jobs for customer 'bobs_burgers'");
            (status, problem, _) = await other.PostJsonAsync($"/api/1.0/{Module}/update", """{"uid": "u", "customer": "rival", "grid": "g", "s3_path": "bobs_burgers/icecream_machine/big_ol_dump.tar.gz"}""");
            status.ShouldBe(403);
            problem.GetProperty("detail").GetString()!.ShouldContain("not under the customer's folder 'rival/'");
        }

        using (var reader = serve.Client(bobsRead))
        {
            (await reader.PostJsonAsync($"/api/1.0/{Module}/update", body)).Status.ShouldBe(403);
        }

        // Mistakes a client makes: the bucket's name in the path, an unknown module, a missing field.
        var (missing, notFound, _) = await client.PostJsonAsync($"/api/1.0/{Module}/update", $$"""{"uid": "u", "customer": "bobs_burgers", "grid": "g", "s3_path": "bobs_burgers/icecream_machine/other.tar.gz"}""");
        missing.ShouldBe(404);
        notFound.GetProperty("detail").GetString()!.ShouldContain("is not in module 'veritas2hview''s bucket");
        (await client.PostJsonAsync("/api/1.0/nosuchmodule/update", body)).Body.GetProperty("detail").GetString()!.ShouldContain("no file pipeline has type: nosuchmodule");
        var (invalid, errors, _) = await client.PostJsonAsync($"/api/1.0/{Module}/update", """{"customer": "bobs_burgers", "s3_path": "bobs_burgers/x.tar.gz"}""");
        invalid.ShouldBe(400);
        errors.GetProperty("errors").GetProperty("uid")[0].GetString()!.ShouldContain("is required");
        errors.GetProperty("errors").GetProperty("grid")[0].GetString()!.ShouldContain("is required");

        // The spec's exact body: one job for the customer, expanded from the tar.gz and loaded.
        var (accepted, started, _) = await client.PostJsonAsync($"/api/1.0/{Module}/update", body);
        accepted.ShouldBe(202);
        started.GetProperty("status").GetString().ShouldBe("queued");
        var id = started.GetProperty("job_ids")[0].GetInt64();

        var job = await HViewJobs.WaitForJobAsync(client, Module, id, "completed");
        job.GetProperty("module").GetString().ShouldBe(Module);
        job.GetProperty("customer").GetString().ShouldBe("bobs_burgers");
        job.GetProperty("grid").GetString().ShouldBe("icecream_machine");
        job.GetProperty("s3_path").GetString().ShouldBe(path);
        var (_, detail, _) = await client.GetJsonAsync($"/api/v1/loads/{id}");
        detail.GetProperty("steps").EnumerateArray().Single(s => s.GetProperty("step").GetString() == "load").GetProperty("rows_out").GetInt64().ShouldBe(3);

        // The same trigger again starts nothing: the file was received before.
        var (again, repeat, _) = await client.PostJsonAsync($"/api/1.0/{Module}/update", body);
        again.ShouldBe(200);
        repeat.GetProperty("status").GetString().ShouldBe("received before");
        repeat.GetProperty("job_ids").GetArrayLength().ShouldBe(0);

        // Another customer's key sees no job of bobs_burgers, and no job list of it.
        using (var other = serve.Client(rival))
        {
            (await other.GetJsonAsync("/api/1.0/jobs")).Body.GetProperty("jobs").GetArrayLength().ShouldBe(0);
            (await other.GetJsonAsync("/api/1.0/jobs?customer=bobs_burgers")).Status.ShouldBe(404);
            (await other.GetJsonAsync($"/api/v1/loads/{id}")).Status.ShouldBe(404);
        }

        (await client.GetJsonAsync("/api/1.0/jobs?status=failed")).Body.GetProperty("jobs").GetArrayLength().ShouldBe(0);
        (await client.GetJsonAsync("/api/1.0/jobs?status=done")).Status.ShouldBe(400);
    }

    /// <summary>The trigger's grid decides the folder: <c>&lt;customer&gt;/&lt;category&gt;/&lt;type&gt;/&lt;grid&gt;/&lt;datetime&gt;/</c>, not the pipeline's group.</summary>
    [PostgresAndS3Fact]
    public async Task UploadTrigger_ArchivesTheUploadUnderTheTriggersGrid_NotThePipelinesGroup()
    {
        var s3 = MatrixServers.S3;
        var bucket = "veritas-" + Guid.NewGuid().ToString("N")[..10];
        using var http = new HttpClient();
        (await http.PutAsync($"{s3["url"]}/{bucket}", null)).EnsureSuccessStatusCode();
        const string path = "bobs_burgers/uploads/dump.tar.gz"; // the path names no grid: the body does
        (await http.PutAsync($"{s3["url"]}/{bucket}/{path}", new ByteArrayContent(HViewJobs.TarGz(("jobs.csv", "id,name\n1,backup-a\n"))))).EnsureSuccessStatusCode();

        var connection = await TestPostgres.CreateDatabaseAsync("hviewgrid");
        using var workspace = new Workspace(connection);
        File.WriteAllText(Path.Combine(workspace.Root, "pipelines", "veritas.yaml"), $"""
            name: veritas
            customer: hview
            category: hydrastor
            type: {Module}
            group: all_grids
            schedule: triggered
            source:
              kind: s3
              url: {s3["url"]}
              bucket: {bucket}
              region: {s3.GetValueOrDefault("region", "us-east-1")}
              access_key: {s3["access_key"]}
              secret_key: {s3["secret_key"]}
            steps: [fetch, decompress, validate, archive, load]
            load:
              table: veritas
              columns: {"{"} id: bigint not null, name: text {"}"}
            """);
        string key;
        await using (var catalog = new PostgresCatalog(connection, TimeProvider.System))
        {
            await catalog.MigrateAsync(default);
            key = (await ApiKeys.CreateAsync(catalog, "bobs_burgers", ApiKeyScope.Write, null, default)).Key;
        }

        await using var serve = await workspace.StartServeAsync("--workers", "1", "--poll", "200ms", "--discover-every", "200ms");
        using var client = serve.Client(key);

        var (accepted, started, _) = await client.PostJsonAsync($"/api/1.0/{Module}/update", $$"""{"uid": "u-7", "customer": "bobs_burgers", "grid": "icecream_machine", "s3_path": "{{path}}"}""");
        accepted.ShouldBe(202);
        var id = started.GetProperty("job_ids")[0].GetInt64();
        await HViewJobs.WaitForJobAsync(client, Module, id, "completed");

        var (_, detail, _) = await client.GetJsonAsync($"/api/v1/loads/{id}");
        var inboxKey = detail.GetProperty("load").GetProperty("inbox_key").GetString()!;
        inboxKey.ShouldMatch(@"^bobs_burgers/hydrastor/veritas2hview/icecream_machine/\d{8}_\d{6}/dump\.tar\.gz$");
        File.Exists(Path.Combine(workspace.Root, ".intake", "store", "archive", inboxKey)).ShouldBeTrue($"not archived at archive/{inboxKey}");
        Directory.Exists(Path.Combine(workspace.Root, ".intake", "store", "archive", "bobs_burgers", "hydrastor", Module, "all_grids")).ShouldBeFalse();
    }
}
