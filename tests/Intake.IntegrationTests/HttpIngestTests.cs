using System.Diagnostics;
using System.IO.Compression;
using System.Text.Json;
using Intake.TestApi;

namespace Intake.IntegrationTests;

/// <summary>The real CLI pulling from the local test API: a kill in the middle of a day, then a resume.</summary>
public sealed class HttpIngestTests : IAsyncLifetime
{
    private const int Total = 30_000;
    private readonly TestWorkspace _ws = new();
    private TestApiServer _api = null!;

    public async Task InitializeAsync() =>
        _api = await TestApiServer.StartAsync(new TestApiOptions { RecordsPerDay = Total, Latency = TimeSpan.FromMilliseconds(2), Fail502Every = 13 });

    public async Task DisposeAsync()
    {
        await _api.DisposeAsync();
        _ws.Dispose();
    }

    [Fact]
    public async Task Backfill_KilledInTheMiddleOfADay_ResumesFromTheCheckpointAndWritesEveryRecordOnce()
    {
        _ws.WriteConfig();
        File.WriteAllText(Path.Combine(_ws.Root, ".env"), "API_KEY=test-key\n");
        File.WriteAllText(Path.Combine(_ws.Root, "pipelines", "events.yaml"), $$"""
            name: events
            source:
              kind: http
              url: {{_api.BaseUrl}}/v1/events
              query: { type: "{event}", day: "{day}", limit: "{limit}" }
              auth: { header: X-Api-Key, key: "${API_KEY}" }
              events: [charge]
              page_size: 100
              page_size_min: 10
              page_size_max: 100
              pagination: { style: cursor, has_more: has_more }
              roll_every: 1000
              checkpoint_interval: 0
              retry: { max_attempts: 6, base_delay: 1ms, max_delay: 5ms }
            steps: [pull]
            """);

        using (var child = _ws.StartCli("backfill", "events", "--from", "2024-01-10", "--to", "2024-01-10"))
        {
            var sw = Stopwatch.StartNew();
            var killed = false;
            while (sw.Elapsed < TimeSpan.FromMinutes(2) && !child.HasExited)
            {
                // kill -9 once a few parts are closed and the first pages of the next one are checkpointed: early in
                // the part, so the pull cannot close it (and clear the open part) between this look and the kill
                if (File.Exists(_ws.CatalogPath) && EarlyInAnOpenPart())
                {
                    child.Kill(entireProcessTree: true);
                    killed = true;
                    break;
                }

                await Task.Delay(10);
            }

            await child.WaitForExitAsync();
            killed.ShouldBeTrue("the pull finished before it could be interrupted; make the day larger");
        }

        var servedBefore = _api.Served.Count;
        Count("select count(*) from intake_loads where status = 'ingesting'").ShouldBe(1);
        // where the last checkpoint says the open part ends: the page after its last completed page
        using var checkpoint = JsonDocument.Parse(Text("select state from intake_checkpoints"));
        var open = checkpoint.RootElement.GetProperty("Open");
        var next = open.GetProperty("Next").GetProperty("Cursor").GetString();
        open.GetProperty("Records").GetInt64().ShouldBeGreaterThan(0);

        var rerun = await _ws.RunCliAsync("backfill", "events", "--from", "2024-01-10", "--to", "2024-01-10", "--json");

        rerun.ExitCode.ShouldBe(0, rerun.Stderr);
        Count("select count(*) from intake_loads where status = 'archived'").ShouldBe(1);
        var ids = ReadIds();
        ids.Count.ShouldBe(Total);
        ids.ShouldBe(Enumerable.Range(0, Total).Select(i => Records.Id("charge", new DateOnly(2024, 1, 10), i)).ToList());
        // resumed from the last checkpointed page, not from the start of the open part (nor of the day)
        _api.Served.Skip(servedBefore).First().ShouldBe($"charge 2024-01-10 after={next}");
        // the spool file survived the kill (or the resume could not have started there) and is gone once published
        Directory.GetFiles(Path.Combine(_ws.Root, ".intake", "spool"), "*", SearchOption.AllDirectories).ShouldBeEmpty();
        Count("select count(*) from intake_checkpoints").ShouldBe(0);
    }

    private List<string> ReadIds()
    {
        var dir = Path.Combine(_ws.StoreRoot, "raw", "charge", "date=2024-01-10");
        var ids = new List<string>();
        foreach (var f in Directory.GetFiles(dir).Order(StringComparer.Ordinal))
        {
            using var gz = new GZipStream(File.OpenRead(f), CompressionMode.Decompress);
            using var reader = new StreamReader(gz);
            while (reader.ReadLine() is { } line)
            {
                ids.Add(JsonDocument.Parse(line).RootElement.GetProperty("id").GetString()!);
            }
        }

        return ids;
    }

    /// <summary>The checkpoint shows three or more closed parts and an open one holding at most five pages.</summary>
    private bool EarlyInAnOpenPart()
    {
        try
        {
            if (Text("select state from intake_checkpoints") is not { } state)
            {
                return false;
            }

            using var json = JsonDocument.Parse(state);
            return json.RootElement.GetProperty("Parts").GetInt32() >= 3
                && json.RootElement.TryGetProperty("Open", out var open) && open.ValueKind == JsonValueKind.Object
                && open.GetProperty("Records").GetInt64() <= 500;
        }
        catch (Microsoft.Data.Sqlite.SqliteException)
        {
            return false; // the catalog is being created or written this moment
        }
    }

    private string Text(string sql)
    {
        using var c = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={_ws.CatalogPath};Mode=ReadOnly;Pooling=False");
        c.Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = sql;
        return (string)cmd.ExecuteScalar()!;
    }

    private long Count(string sql)
    {
        try
        {
            return _ws.Scalar(_ws.CatalogPath, sql);
        }
        catch (Microsoft.Data.Sqlite.SqliteException)
        {
            return -1;
        }
    }
}
