using System.Collections.Concurrent;
using System.Globalization;
using System.IO.Compression;
using System.Text;
using System.Text.Json;
using Intake.Catalog;
using Intake.Core.Model;
using Intake.Core.Ports;
using Intake.Server.Auth;
using Intake.TestApi;
using Intake.Tests.Shared;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace Intake.Server.Tests;

/// <summary>
/// Which real servers the matrix can use: PostgreSQL (every host's catalog, and the database source) always, and
/// per kind vsftpd (<c>INTAKE_TEST_FTP</c>), OpenSSH (<c>INTAKE_TEST_SFTP</c>) or s3rver (<c>INTAKE_TEST_S3</c>).
/// </summary>
public static class MatrixServers
{
    public static readonly string[] Kinds = ["local", "ftp", "sftp", "s3", "http", "database"];

    public static Dictionary<string, string> Ftp => TestServers.Settings("INTAKE_TEST_FTP");

    public static Dictionary<string, string> S3 => TestServers.Settings("INTAKE_TEST_S3");

    private static readonly Lazy<bool> FtpReachable = new(() =>
        Ftp.TryGetValue("host", out var host) && Ftp.ContainsKey("home") && Directory.Exists(Ftp["home"])
        && TestServers.Answers(host, int.Parse(Ftp.GetValueOrDefault("port", "21"), CultureInfo.InvariantCulture)));

    private static readonly Lazy<bool> S3Reachable = new(() =>
        S3.TryGetValue("url", out var url) && new Uri(url) is var uri && TestServers.Answers(uri.Host, uri.Port));

    public static bool Available(string kind) => TestPostgres.IsReachable && kind switch
    {
        "ftp" => FtpReachable.Value,
        "sftp" => TestSftp.IsReachable,
        "s3" => S3Reachable.Value,
        _ => true,
    };
}

/// <summary>
/// A fact of the source-kind matrix: skipped on a developer machine without PostgreSQL or the kind's server, never in
/// CI (<see cref="TestServers.SkipUnless"/>), where the missing server fails the run.
/// </summary>
public sealed class MatrixFactAttribute : FactAttribute
{
    public MatrixFactAttribute(string kind) =>
        Skip = TestServers.SkipUnless(MatrixServers.Available(kind), $"PostgreSQL or the {kind} test server is not reachable (scripts/servers/*.sh start, then export INTAKE_TEST_*)");
}

/// <summary>
/// One project with a pipeline of every source kind (m_local, m_ftp, m_sftp, m_s3, m_http, m_db) on the same source
/// data, run by three hosts, each with a catalog and a warehouse of its own: <c>intake run --once</c>, a real
/// <c>intake serve</c> asked <c>POST /api/v1/pipelines/{name}/run</c> for each pipeline, and a real <c>intake serve</c>
/// whose schedule ticks every two seconds. Each host's loads (source keys, statuses, steps and their row counts),
/// warehouse rows and export objects are written down as text, for the facts to compare with what the data must give.
/// </summary>
public sealed class SourceKindMatrixFixture : IAsyncLifetime
{
    public const string Run = "intake run --once";
    public const string RunNow = "POST /pipelines/{name}/run";
    public const string Tick = "schedule tick";
    public static readonly string[] Hosts = [Run, RunNow, Tick];

    /// <summary>Records per event type and day in the test API; its pages hold 10, so a day is three pages.</summary>
    public const int HttpRecords = 25;
    public static readonly string[] HttpEvents = ["charge", "refund"];

    private readonly List<IAsyncDisposable> _cleanup = [];
    private readonly List<Workspace> _workspaces = [];
    private string _localFolder = "";
    private string _ftpFolder = "";
    private string _sftpFolder = "";
    private string _bucket = "";
    private TestApiServer? _api;

    /// <summary>The kinds whose servers were there, so the project has their pipeline.</summary>
    public IReadOnlyList<string> Kinds { get; private set; } = [];

    /// <summary>Per host and pipeline: what it left behind, as text (written by CollectAsync).</summary>
    public ConcurrentDictionary<string, Dictionary<string, string>> Results { get; } = [];

    /// <summary>The source key of each host's export load (compared across hosts; the text has its hash replaced).</summary>
    public ConcurrentDictionary<string, string> ExportKeys { get; } = [];

    /// <summary>Per pipeline: the run-now answer's status and its count of new loads.</summary>
    public Dictionary<string, (int Status, int New, string Body)> RunNowAnswers { get; } = [];

    /// <summary>What a host said besides its loads (the CLI's exit codes and output, a serve's log), for failure messages.</summary>
    public ConcurrentDictionary<string, string> Notes { get; } = [];

    /// <summary>The day an HTTP pipeline's run pulls: yesterday (UTC), the last complete day.</summary>
    public DateOnly HttpDay { get; private set; }

    /// <summary>The end of the daily export the runs queue: the start of today (UTC).</summary>
    public DateTimeOffset ExportEnd { get; private set; }

    public static string Pipeline(string kind) => kind == "database" ? "m_db" : "m_" + kind;

    /// <summary>The loads each kind's pipeline must end with.</summary>
    public static int ExpectedLoads(string kind) => kind switch
    {
        "http" => HttpEvents.Length,
        "database" => 1,
        _ => 2,
    };

    public async Task InitializeAsync()
    {
        if (!TestPostgres.IsReachable)
        {
            return;
        }

        Kinds = MatrixServers.Kinds.Where(MatrixServers.Available).ToList();
        var now = DateTimeOffset.UtcNow;
        HttpDay = DateOnly.FromDateTime(now.UtcDateTime).AddDays(-1);
        ExportEnd = new DateTimeOffset(now.UtcDateTime.Date, TimeSpan.Zero);

        var sources = await WriteSourcesAsync();
        var hosts = new List<(string Host, Workspace Workspace, string Catalog)>();
        foreach (var host in Hosts)
        {
            var catalog = await TestPostgres.CreateDatabaseAsync("mx_cat");
            var workspace = new Workspace(catalog);
            _workspaces.Add(workspace);
            WritePipelines(workspace, sources, host switch
            {
                // A schedule that does not fire during the test, so serve's polling of unscheduled pipelines (at its
                // start) cannot discover the sources before the run-now request does.
                RunNow => "schedule: \"0 0 1 1 *\"",
                Tick => "schedule: \"*/2 * * * * *\"",
                _ => "",
            });
            await using (var c = new PostgresCatalog(catalog, TimeProvider.System))
            {
                await c.MigrateAsync(default);
            }

            hosts.Add((host, workspace, catalog));
        }

        // The three hosts run at the same time: each has its own catalog, warehouse and store.
        await Task.WhenAll(hosts.Select(h => h.Host switch
        {
            Run => RunOnceAsync(h.Workspace, h.Catalog),
            RunNow => RunNowAsync(h.Workspace, h.Catalog),
            _ => TickAsync(h.Workspace, h.Catalog),
        }));
    }

    public async Task DisposeAsync()
    {
        // The serves first (they were added last), then the API they read.
        foreach (var d in Enumerable.Reverse(_cleanup))
        {
            await d.DisposeAsync();
        }

        foreach (var w in _workspaces)
        {
            w.Dispose();
        }

        foreach (var folder in new[] { _localFolder, _ftpFolder, _sftpFolder })
        {
            if (folder.Length > 0 && Directory.Exists(folder))
            {
                Directory.Delete(folder, recursive: true);
            }
        }

        if (_bucket.Length > 0)
        {
            using var http = new HttpClient();
            foreach (var (name, _) in Files("s3"))
            {
                await http.DeleteAsync($"{MatrixServers.S3["url"]}/{_bucket}/{name}");
            }

            await http.DeleteAsync($"{MatrixServers.S3["url"]}/{_bucket}");
        }
    }

    /// <summary>Each file kind's two files: a plain CSV of three rows and a gzipped one of two, names saying the kind.</summary>
    public static IReadOnlyList<(string Name, byte[] Content)> Files(string kind)
    {
        var plain = Encoding.UTF8.GetBytes($"id,name\n1,{kind} one\n2,{kind} two\n3,{kind} three\n");
        using var gz = new MemoryStream();
        using (var z = new GZipStream(gz, CompressionLevel.Fastest, leaveOpen: true))
        {
            z.Write(Encoding.UTF8.GetBytes($"id,name\n4,{kind} four\n5,{kind} five\n"));
        }

        return [("a.csv", plain), ("b.csv.gz", gz.ToArray())];
    }

    private sealed record Sources(string Database, string KnownHosts);

    private async Task<Sources> WriteSourcesAsync()
    {
        var suffix = Guid.NewGuid().ToString("N")[..8];
        if (Kinds.Contains("local"))
        {
            _localFolder = Directory.CreateTempSubdirectory("intake-matrix-").FullName;
            WriteFiles(_localFolder, "local");
        }

        if (Kinds.Contains("ftp"))
        {
            _ftpFolder = Path.Combine(MatrixServers.Ftp["home"], "mx-" + suffix);
            WriteFiles(_ftpFolder, "ftp");
        }

        var knownHosts = "";
        if (Kinds.Contains("sftp"))
        {
            _sftpFolder = Path.Combine(TestSftp.Server.Home, "mx-" + suffix);
            WriteFiles(_sftpFolder, "sftp");
            knownHosts = TestSftp.Server.KnownHostsLine();
        }

        if (Kinds.Contains("s3"))
        {
            _bucket = "mx-" + suffix;
            using var http = new HttpClient();
            (await http.PutAsync($"{MatrixServers.S3["url"]}/{_bucket}", null)).EnsureSuccessStatusCode(); // s3rver takes unsigned requests
            foreach (var (name, content) in Files("s3"))
            {
                (await http.PutAsync($"{MatrixServers.S3["url"]}/{_bucket}/{name}", new ByteArrayContent(content))).EnsureSuccessStatusCode();
            }
        }

        if (Kinds.Contains("http"))
        {
            _api = await TestApiServer.StartAsync(new TestApiOptions { RecordsPerDay = HttpRecords });
            _cleanup.Add(_api);
        }

        // Two partitions (studies) in the window [default_start, start of today); the row uploaded after the window's
        // end must not be exported by any host.
        var database = await TestPostgres.CreateDatabaseAsync("mx_src");
        await using (var c = new NpgsqlConnection(database))
        {
            await c.OpenAsync();
            await using var cmd = new NpgsqlCommand("""
                CREATE TABLE records (id bigint PRIMARY KEY, study text NOT NULL, uploaded_on timestamptz NOT NULL);
                INSERT INTO records VALUES
                  (1, 's1', '2024-06-01T10:00:00Z'), (2, 's1', '2024-06-02T11:00:00Z'), (3, 's2', '2024-06-01T12:00:00Z'),
                  (4, 's2', now() + interval '2 days');
                """, c);
            await cmd.ExecuteNonQueryAsync();
        }

        return new Sources(database, knownHosts);
    }

    private static void WriteFiles(string folder, string kind)
    {
        Directory.CreateDirectory(folder);
        foreach (var (name, content) in Files(kind))
        {
            File.WriteAllBytes(Path.Combine(folder, name), content);
        }
    }

    private void WritePipelines(Workspace workspace, Sources sources, string schedule)
    {
        var pipelines = Path.Combine(workspace.Root, "pipelines");
        const string fileSteps = """
            steps: [fetch, decompress, validate, archive, load]
            load: { table: TABLE, columns: { id: bigint not null, name: text } }
            """;
        void Write(string kind, string source, string rest)
        {
            var name = Pipeline(kind);
            File.WriteAllText(Path.Combine(pipelines, name + ".yaml"), $"name: {name}\ncustomer: acme\nsource:\n{source}\n{rest.Replace("TABLE", name, StringComparison.Ordinal)}\n{schedule}\n");
        }

        if (Kinds.Contains("local"))
        {
            Write("local", $"""
                  kind: local
                  path: {_localFolder}
                  stable_for: 0s
                """, fileSteps);
        }

        if (Kinds.Contains("ftp"))
        {
            var ftp = MatrixServers.Ftp;
            Write("ftp", $"""
                  kind: ftp
                  host: {ftp["host"]}
                  port: {ftp.GetValueOrDefault("port", "21")}
                  user: {ftp["user"]}
                  password: {ftp["password"]}
                  path: /{Path.GetFileName(_ftpFolder)}
                  stable_for: 0s
                  timeout: 5s
                """, fileSteps);
        }

        if (Kinds.Contains("sftp"))
        {
            File.WriteAllText(Path.Combine(pipelines, "known_hosts"), sources.KnownHosts);
            var sftp = TestSftp.Server;
            Write("sftp", $"""
                  kind: sftp
                  host: {sftp.Host}
                  port: {sftp.Port}
                  user: {sftp.User}
                  key_file: {sftp.PrivateKey}
                  known_hosts: known_hosts
                  path: {_sftpFolder}
                  stable_for: 0s
                  timeout: 5s
                """, fileSteps);
        }

        if (Kinds.Contains("s3"))
        {
            var s3 = MatrixServers.S3;
            Write("s3", $"""
                  kind: s3
                  url: {s3["url"]}
                  bucket: {_bucket}
                  region: {s3.GetValueOrDefault("region", "us-east-1")}
                  access_key: {s3["access_key"]}
                  secret_key: {s3["secret_key"]}
                """, fileSteps);
        }

        if (Kinds.Contains("http"))
        {
            Write("http", $$"""
                  kind: http
                  url: {{_api!.BaseUrl}}/v1/events
                  query: { type: "{event}", day: "{day}", limit: "{limit}" }
                  auth: { header: X-Api-Key, key: test-key }
                  events: [{{string.Join(", ", HttpEvents)}}]
                  page_size: 10
                  pagination: { style: cursor, has_more: has_more }
                """, "steps: [pull, load]\nload: { table: m_http }");
        }

        Write("database", $"""
              kind: database
              database: {"{"} kind: postgres, connection: "{sources.Database}" {"}"}
              table: records
              partition_column: study
              time_column: uploaded_on
              id_column: id
              default_start: 2020-01-01T00:00:00Z
            """, "steps: [export]\nexport: { format: ndjson, type: daily }");
    }

    private IEnumerable<string> PipelineNames => Kinds.Select(Pipeline);

    // (a) The CLI: the database pipeline's loads are export requests, queued from the CLI (here the one a scheduled
    // run queues: the pipeline's export.type, tagged "schedule") and run by 'intake run --once' with every other load.
    private async Task RunOnceAsync(Workspace workspace, string catalog)
    {
        var export = await workspace.RunCliAsync("export", "m_db", "--type", "daily", "--tag", "schedule");
        var run = await workspace.RunCliAsync("run", "--once", "--workers", "2");
        Notes[Run] = $"intake export: exit {export.ExitCode}\n{export.Stdout}{export.Stderr}\nintake run --once: exit {run.ExitCode}\n{run.Stdout}{run.Stderr}";
        await CollectAsync(Run, workspace, catalog, TimeSpan.FromSeconds(5));
    }

    // (b) A real intake serve, each pipeline run from the API.
    private async Task RunNowAsync(Workspace workspace, string catalog)
    {
        string key;
        await using (var c = new PostgresCatalog(catalog, TimeProvider.System))
        {
            key = (await ApiKeys.CreateAsync(c, "*", ApiKeyScope.Admin, null, default)).Key;
        }

        var serve = await workspace.StartServeAsync("--schedule-every", "200ms", "--discover-every", "1h", "--poll", "200ms");
        _cleanup.Add(serve);
        using var client = serve.Client(key);
        foreach (var name in PipelineNames)
        {
            var (status, body, _) = await client.PostJsonAsync($"/api/v1/pipelines/{name}/run");
            RunNowAnswers[name] = (status, status == 202 ? body.GetProperty("new").GetInt32() : -1, body.ToString());
        }

        await CollectAsync(RunNow, workspace, catalog, TimeSpan.FromSeconds(45));
        Notes[RunNow] = serve.Output;
    }

    // (c) A real intake serve whose schedules tick within two seconds of its start.
    private async Task TickAsync(Workspace workspace, string catalog)
    {
        var serve = await workspace.StartServeAsync("--schedule-every", "200ms", "--discover-every", "1h", "--poll", "200ms");
        _cleanup.Add(serve);
        await CollectAsync(Tick, workspace, catalog, TimeSpan.FromSeconds(45));
        Notes[Tick] = serve.Output;
    }

    /// <summary>Waits (up to <paramref name="limit"/>) until every pipeline has its loads and each has ended, then writes down what the host left.</summary>
    private async Task CollectAsync(string host, Workspace workspace, string catalog, TimeSpan limit)
    {
        await using var reader = new PostgresCatalog(catalog, TimeProvider.System);
        var deadline = DateTime.UtcNow + limit;
        IReadOnlyList<Load> loads;
        while (true)
        {
            loads = await reader.ListLoadsAsync(new LoadQuery(), default);
            var settled = Kinds.All(k => loads.Count(l => l.Pipeline == Pipeline(k)) >= ExpectedLoads(k))
                && loads.All(l => l.Status is LoadStatus.Archived or LoadStatus.Errored or LoadStatus.Held);
            if (settled || DateTime.UtcNow > deadline)
            {
                break;
            }

            await Task.Delay(200);
        }

        var results = new Dictionary<string, string>();
        foreach (var kind in Kinds)
        {
            var name = Pipeline(kind);
            var text = new StringBuilder();
            foreach (var load in loads.Where(l => l.Pipeline == name).OrderBy(l => l.SourceKey, StringComparer.Ordinal))
            {
                var sourceKey = load.SourceKey;
                if (kind == "database")
                {
                    ExportKeys[host] = sourceKey;
                    sourceKey = Hashless(sourceKey);
                }

                var steps = (await reader.GetStepsAsync(load.Id, default))
                    .Where(s => s.Outcome == StepOutcome.Succeeded)
                    .Select(s => s.RowsOut is { } rows ? $"{s.Step}={rows}" : s.Step);
                text.Append(CultureInfo.InvariantCulture, $"load {sourceKey} {load.Status.ToWord()} {string.Join(' ', steps)}");
                text.Append(load.ErrorMessage is { } error ? $" error: {error}\n" : "\n");
            }

            text.Append(kind switch
            {
                "database" => Exports(workspace),
                "http" => Rows(workspace, "select id, amount from m_http order by id"),
                _ => Rows(workspace, $"select id, name from {name} order by id"),
            });
            results[name] = text.ToString();
        }

        Results[host] = results;
    }

    /// <summary>A request key with its 12-hex content hash replaced, so the text can be written down before the run.</summary>
    public static string Hashless(string requestKey) => requestKey.Length > 13 ? requestKey[..^12] + "{hash}" : requestKey;

    private static string Rows(Workspace workspace, string sql)
    {
        var path = Path.Combine(workspace.Root, ".intake", "warehouse.db");
        if (!File.Exists(path))
        {
            return "no warehouse\n";
        }

        using var c = new SqliteConnection($"Data Source={path};Mode=ReadOnly;Pooling=False");
        c.Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = sql;
        var text = new StringBuilder();
        try
        {
            using var r = cmd.ExecuteReader();
            while (r.Read())
            {
                text.Append(CultureInfo.InvariantCulture, $"row {r.GetValue(0)}|{r.GetValue(1)}\n");
            }
        }
        catch (SqliteException e)
        {
            text.Append("no table: ").Append(e.Message).Append('\n');
        }

        return text.ToString();
    }

    /// <summary>Each export object in the store (key with the request hash replaced) and the record ids it holds.</summary>
    private static string Exports(Workspace workspace)
    {
        var root = Path.Combine(workspace.Root, ".intake", "store", "exports");
        if (!Directory.Exists(root))
        {
            return "no exports\n";
        }

        var text = new StringBuilder();
        foreach (var file in Directory.EnumerateFiles(root, "*.ndjson.gz", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
        {
            using var gz = new GZipStream(File.OpenRead(file), CompressionMode.Decompress);
            using var lines = new StreamReader(gz);
            var ids = new List<long>();
            while (lines.ReadLine() is { } line)
            {
                ids.Add(JsonDocument.Parse(line).RootElement.GetProperty("id").GetInt64());
            }

            var key = Path.GetRelativePath(root, file).Replace(Path.DirectorySeparatorChar, '/');
            // The default key template ends in -{request}.ndjson.gz: the request's 12-hex hash.
            var hash = key.LastIndexOf('-') + 1;
            text.Append(CultureInfo.InvariantCulture, $"object {key[..hash]}{{hash}}{key[(hash + 12)..]} ids {string.Join(',', ids)}\n");
        }

        return text.ToString();
    }
}

/// <summary>
/// Issue 11: a pipeline of every source kind run through <c>intake run --once</c>, through
/// <c>POST /api/v1/pipelines/{name}/run</c> on a real <c>intake serve</c>, and through a schedule tick of a real
/// <c>intake serve</c> gives the same loads, the same row counts and the same warehouse rows (or export objects), and
/// they are the ones the source data must give.
/// </summary>
public sealed class SourceKindMatrixTests : IClassFixture<SourceKindMatrixFixture>
{
    private readonly SourceKindMatrixFixture _f;

    public SourceKindMatrixTests(SourceKindMatrixFixture fixture) => _f = fixture;

    [MatrixFact("local")]
    public void LocalFolder_ThroughRunOnce_RunNow_AndATick_LoadTheSameTwoFiles() => AssertSameOnEveryHost("local", FileKindExpected("local"));

    [MatrixFact("ftp")]
    public void Ftp_ThroughRunOnce_RunNow_AndATick_LoadTheSameTwoFiles() => AssertSameOnEveryHost("ftp", FileKindExpected("ftp"));

    [MatrixFact("sftp")]
    public void Sftp_ThroughRunOnce_RunNow_AndATick_LoadTheSameTwoFiles() => AssertSameOnEveryHost("sftp", FileKindExpected("sftp"));

    [MatrixFact("s3")]
    public void S3_ThroughRunOnce_RunNow_AndATick_LoadTheSameTwoObjects() => AssertSameOnEveryHost("s3", FileKindExpected("s3"));

    [MatrixFact("http")]
    public void HttpApi_ThroughRunOnce_RunNow_AndATick_PullAndLoadTheSameDay()
    {
        var expected = new StringBuilder();
        var day = _f.HttpDay.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);
        foreach (var e in SourceKindMatrixFixture.HttpEvents)
        {
            expected.Append(CultureInfo.InvariantCulture, $"load {e}/{day} archived pull={SourceKindMatrixFixture.HttpRecords} load={SourceKindMatrixFixture.HttpRecords}\n");
        }

        // The API's own records of that day, every one once: ids and amounts as it serves them.
        var rows = SourceKindMatrixFixture.HttpEvents
            .SelectMany(e => Enumerable.Range(0, SourceKindMatrixFixture.HttpRecords).Select(i => (Id: Records.Id(e, _f.HttpDay, i), Amount: i * 7919L % 100_000)))
            .OrderBy(r => r.Id, StringComparer.Ordinal);
        foreach (var (id, amount) in rows)
        {
            expected.Append(CultureInfo.InvariantCulture, $"row {id}|{amount}\n");
        }

        AssertSameOnEveryHost("http", expected.ToString());
    }

    [MatrixFact("database")]
    public void Database_ThroughRunOnce_RunNow_AndATick_ExportTheSameDailyWindow()
    {
        var end = _f.ExportEnd.UtcDateTime;
        var request = $"export-daily-{end:yyyyMMdd'T'HHmmss'Z'}-{{hash}}";
        var window = $"20200101T000000-{end:yyyyMMdd'T'HHmmss}";
        // Rows 1-3 are in [default_start, start of today); row 4 is uploaded after the window's end.
        var expected =
            $"load {request} archived export=3\n"
            + $"object m_db/s1/{window}-{{hash}}.ndjson.gz ids 1,2\n"
            + $"object m_db/s2/{window}-{{hash}}.ndjson.gz ids 3\n";

        AssertSameOnEveryHost("database", expected);
        _f.ExportKeys.Values.Distinct().ShouldHaveSingleItem("every host queued and ran the same request");
    }

    private static string FileKindExpected(string kind) => $"""
        load a.csv archived fetch decompress validate load=3 archive
        load b.csv.gz archived fetch decompress validate load=2 archive
        row 1|{kind} one
        row 2|{kind} two
        row 3|{kind} three
        row 4|{kind} four
        row 5|{kind} five

        """;

    private void AssertSameOnEveryHost(string kind, string expected)
    {
        _f.Kinds.ShouldContain(kind, $"the {kind} test server is not reachable");
        var pipeline = SourceKindMatrixFixture.Pipeline(kind);

        // Run now registered the loads itself (serve's polling could not, the pipeline being scheduled yearly).
        var (status, created, body) = _f.RunNowAnswers[pipeline];
        status.ShouldBe(202, body);
        created.ShouldBe(SourceKindMatrixFixture.ExpectedLoads(kind), $"{SourceKindMatrixFixture.RunNow} of {pipeline} answered {body}");

        // The tick host's loads came from its schedule (its pipelines have one, so serve does not poll them).
        _f.Notes[SourceKindMatrixFixture.Tick].ShouldContain($"scheduled run of {pipeline} for");

        foreach (var host in SourceKindMatrixFixture.Hosts)
        {
            _f.Results[host][pipeline].ShouldBe(expected, $"{pipeline} through {host}:\n{_f.Notes.GetValueOrDefault(host)}");
        }
    }
}
