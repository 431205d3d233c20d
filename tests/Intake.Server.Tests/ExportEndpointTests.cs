using System.Text.Json;
using Intake.Catalog;
using Intake.Core.Ports;
using Intake.Server.Auth;
using Intake.Tests.Shared;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace Intake.Server.Tests;

/// <summary>A running <c>intake serve</c> with one database pipeline (customer acme) exporting from a SQLite table.</summary>
public sealed class ExportFixture : IAsyncLifetime
{
    public Workspace Workspace { get; private set; } = null!;
    public Workspace.Serve Serve { get; private set; } = null!;
    public string Connection { get; private set; } = null!;
    public string AcmeRead { get; private set; } = null!;
    public string AcmeWrite { get; private set; } = null!;
    public string GlobexWrite { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        if (!TestPostgres.IsReachable)
        {
            return;
        }

        Connection = await TestPostgres.CreateDatabaseAsync("exp");
        Workspace = new Workspace(Connection);
        using (var c = new SqliteConnection($"Data Source={Path.Combine(Workspace.Root, "source.db")};Pooling=False"))
        {
            c.Open();
            using var cmd = c.CreateCommand();
            cmd.CommandText = """
                CREATE TABLE records (id INTEGER PRIMARY KEY, study TEXT NOT NULL, uploadedOn TEXT NOT NULL);
                INSERT INTO records VALUES (1, 's1', '2026-01-01T10:00:00.000Z'), (2, 's2', '2026-01-01T11:00:00.000Z');
                """;
            cmd.ExecuteNonQuery();
        }

        File.WriteAllText(Path.Combine(Workspace.Root, "pipelines", "bridge.yaml"), """
            name: bridge
            customer: acme
            source:
              kind: database
              database: { kind: sqlite, path: ../source.db }
              table: records
              partition_column: study
              time_column: uploadedOn
              id_column: id
              default_start: 2026-01-01T00:00:00Z
            steps: [export]
            """);
        await using (var catalog = new PostgresCatalog(Connection, TimeProvider.System))
        {
            await catalog.MigrateAsync(default);
            AcmeRead = (await ApiKeys.CreateAsync(catalog, "acme", ApiKeyScope.Read, null, default)).Key;
            AcmeWrite = (await ApiKeys.CreateAsync(catalog, "acme", ApiKeyScope.Write, null, default)).Key;
            GlobexWrite = (await ApiKeys.CreateAsync(catalog, "globex", ApiKeyScope.Write, null, default)).Key;
        }

        Serve = await Workspace.StartServeAsync("--workers", "1", "--poll", "200ms");
    }

    public async Task DisposeAsync()
    {
        if (Serve is not null)
        {
            await Serve.DisposeAsync();
        }

        Workspace?.Dispose();
    }
}

/// <summary>The export endpoints: queueing (the Bridge message), listing, validation, scoping, watermark deletion.</summary>
public sealed class ExportEndpointTests : IClassFixture<ExportFixture>
{
    private readonly ExportFixture _f;

    public ExportEndpointTests(ExportFixture fixture) => _f = fixture;

    [PostgresFact]
    public async Task SubmitExport_WithTheBridgeMessage_QueuesItOnce_AndAWorkerExportsIt()
    {
        using var client = _f.Serve.Client(_f.AcmeWrite);
        const string message = """
            {"endDateTime": "2026-01-02T00:00:00Z", "startDateTime": "2026-01-01T00:00:00Z", "exportType": "DAILY", "ignoreLastExportTime": "true", "tag": "test exporter"}
            """;

        var (status, queued, _) = await client.PostJsonAsync("/api/v1/pipelines/bridge/exports", message);
        var (again, same, _) = await client.PostJsonAsync("/api/v1/pipelines/bridge/exports", message);

        status.ShouldBe(202);
        queued.GetProperty("export_type").GetString().ShouldBe("daily");
        queued.GetProperty("ignore_last_export_time").GetBoolean().ShouldBeTrue();
        queued.GetProperty("created").GetBoolean().ShouldBeTrue();
        again.ShouldBe(200);
        same.GetProperty("created").GetBoolean().ShouldBeFalse();
        same.GetProperty("load_id").GetInt64().ShouldBe(queued.GetProperty("load_id").GetInt64());

        var loadId = queued.GetProperty("load_id").GetInt64();
        var final = "";
        for (var i = 0; i < 100 && final != "archived"; i++)
        {
            final = (await client.GetJsonAsync($"/api/v1/loads/{loadId}")).Body.GetProperty("load").GetProperty("status").GetString()!;
            if (final != "archived")
            {
                await Task.Delay(100);
            }
        }

        final.ShouldBe("archived");
        Directory.EnumerateFiles(Path.Combine(_f.Workspace.Root, ".intake", "store", "exports"), "*.ndjson.gz", SearchOption.AllDirectories).Count().ShouldBe(2);

        var (_, list, _) = await client.GetJsonAsync("/api/v1/exports?pipeline=bridge");
        list.GetProperty("items").EnumerateArray().ShouldContain(r => r.GetProperty("tag").GetString() == "test exporter");
    }

    [PostgresFact]
    public async Task SubmitExport_WithInvalidFields_IsAProblemNamingThem()
    {
        using var client = _f.Serve.Client(_f.AcmeWrite);

        var (status, problem, response) = await client.PostJsonAsync("/api/v1/pipelines/bridge/exports", """{"startDateTime": "2026-01-01T00:00:00Z", "colour": "red"}""");
        var (futureStatus, future, _) = await client.PostJsonAsync("/api/v1/pipelines/bridge/exports", """{"endDateTime": "2999-01-01T00:00:00Z"}""");

        status.ShouldBe(400);
        response.Content.Headers.ContentType!.MediaType.ShouldBe("application/problem+json");
        problem.GetProperty("errors").GetProperty("colour").ToString().ShouldContain("unknown field");
        futureStatus.ShouldBe(400);
        future.GetProperty("errors").GetProperty("end").ToString().ShouldContain("in the future");
    }

    [PostgresFact]
    public async Task AnotherCustomer_CannotSeeOrExportThePipeline()
    {
        using var globex = _f.Serve.Client(_f.GlobexWrite);
        using var reader = _f.Serve.Client(_f.AcmeRead);

        (await globex.PostJsonAsync("/api/v1/pipelines/bridge/exports", "{}")).Status.ShouldBe(404);
        (await globex.GetJsonAsync("/api/v1/exports")).Body.GetProperty("items").GetArrayLength().ShouldBe(0);
        (await reader.PostJsonAsync("/api/v1/pipelines/bridge/exports", "{}")).Status.ShouldBe(403);
    }

    [PostgresFact]
    public async Task DeleteWatermark_ForgetsTheDeletedPartition()
    {
        await using (var c = new NpgsqlConnection(_f.Connection))
        {
            await c.OpenAsync();
            await using var cmd = new NpgsqlCommand("INSERT INTO intake_watermarks VALUES ('bridge', 'gone', '2026-01-01T00:00:00.000Z', now()) ON CONFLICT DO NOTHING", c);
            await cmd.ExecuteNonQueryAsync();
        }

        using var acme = _f.Serve.Client(_f.AcmeWrite);
        using var globex = _f.Serve.Client(_f.GlobexWrite);

        (await globex.SendAsync(HttpMethod.Delete, "/api/v1/watermarks/bridge/gone")).Status.ShouldBe(404);
        (await acme.SendAsync(HttpMethod.Delete, "/api/v1/watermarks/bridge/gone")).Status.ShouldBe(204);
        (await acme.SendAsync(HttpMethod.Delete, "/api/v1/watermarks/bridge/gone")).Status.ShouldBe(404);
        var (_, marks, _) = await acme.GetJsonAsync("/api/v1/watermarks?pipeline=bridge");
        marks.GetProperty("items").EnumerateArray().ShouldNotContain(m => m.GetProperty("partition").GetString() == "gone");
    }
}
