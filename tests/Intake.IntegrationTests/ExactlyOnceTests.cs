using System.Collections.Concurrent;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Intake.Core.Errors;
using Intake.Core.Model;
using Intake.Engine.Configuration;
using Intake.Engine.Runtime;
using Intake.Tests.Shared;
using Npgsql;

namespace Intake.IntegrationTests;

/// <summary>Needs s3rver (INTAKE_TEST_S3) and PostgreSQL: skipped on a machine without them, failing in CI.</summary>
public sealed class S3AndPostgresFactAttribute : FactAttribute
{
    public S3AndPostgresFactAttribute() =>
        Skip = TestServers.SkipUnless(
            ColdServers.S3.TryGetValue("url", out var url) && Uri.TryCreate(url, UriKind.Absolute, out var u) && TestServers.Answers(u.Host, u.Port) && TestPostgres.IsReachable,
            "s3rver and PostgreSQL are not both running (scripts/test.sh starts them; INTAKE_TEST_S3 and INTAKE_TEST_PG say where)");
}

/// <summary>
/// Exactly once under load: a storm of small files across several table prefixes (tables_from_prefix), all of the same
/// modification second, more appearing between and during listings, and some rewritten under the same key at the same
/// size (a new version, so a new load). Whatever the interleaving, each version a listing saw is one load; each archived
/// load holds exactly the rows of its own version, once; a load whose version was rewritten before it was fetched ends
/// errored (integrity) without a row; and each table's warehouse table holds the sum of its loaded versions' rows.
/// The catalog and the warehouse are PostgreSQL, as for several workers on several machines.
/// </summary>
public sealed class ExactlyOnceTests : IDisposable
{
    private static readonly string[] Prefixes =
    [
        "cubic/ods_qlik/EDW.SAMPLE", "cubic/ods_qlik/EDW.SAMPLE__ct", "cubic/ods_qlik/EDW.RIDES",
        "cubic/ods_qlik/EDW.FARES", "cubic/dmap/agg_sample", "cubic/dmap/agg_daily",
    ];

    private readonly TestWorkspace _ws = new();

    // Every version written, per key, in order: version n is the n-th content the key had.
    private readonly ConcurrentDictionary<string, List<string>> _versions = new(StringComparer.Ordinal);
    private int _next;
    private string _warehouse = "";

    public void Dispose() => _ws.Dispose();

    private static string TableOf(string key) => Engine.SourceKinds.TablesFromPrefix.NameOf(key[..(key.LastIndexOf('/') + 1)]);

    /// <summary>Rows per file depend on the key only, so a rewrite of a key keeps its size: only the version digit differs.</summary>
    private static int RowsOf(string key) => 1 + (key.Length + key[^5]) % 4;

    private static string Content(string key, int version)
    {
        var id = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)))[..12];
        var csv = new StringBuilder("rid,key,version,n\n");
        for (var i = 0; i < RowsOf(key); i++)
        {
            csv.Append(CultureInfo.InvariantCulture, $"{id}-{version}-{i},{key},{version},{i}\n");
        }

        return csv.ToString();
    }

    /// <summary>A new key in the next table, in turn.</summary>
    private string NewKey()
    {
        var n = Interlocked.Increment(ref _next);
        return $"{Prefixes[n % Prefixes.Length]}/{n:D5}.csv";
    }

    /// <summary>Records and returns the next version of <paramref name="key"/> (single digits: the size stays).</summary>
    private (int Version, string Content) NextVersion(string key)
    {
        var versions = _versions.GetOrAdd(key, _ => []);
        lock (versions)
        {
            versions.Add(Content(key, versions.Count + 1));
            return (versions.Count, versions[^1]);
        }
    }

    private async Task WriteConfigAsync(string source)
    {
        var catalog = await TestPostgres.CreateDatabaseAsync("once_cat");
        _warehouse = await TestPostgres.CreateDatabaseAsync("once_wh");
        _ws.WriteConfig(
            catalog: $"  kind: postgres\n  connection: \"{catalog}\"",
            warehouse: $"    kind: postgres\n    connection: \"{_warehouse}\"",
            retry: "{ max_attempts: 2, base_delay: 10ms, max_delay: 50ms }");
        File.WriteAllText(Path.Combine(_ws.Root, "pipelines", "cubic.yaml"), $"""
            name: cubic
            customer: acme
            source:
            {source}
              tables_from_prefix: {"{"} root: cubic/, depth: 3 {"}"}
            steps: [fetch, load]
            """);
    }

    [S3AndPostgresFact]
    public async Task S3_AStormOfObjects_NewOnesDuringListings_AndRewritesDuringFetches_EachVersionIsLoadedExactlyOnce()
    {
        var s3 = ColdServers.S3;
        var bucket = "storm-" + Guid.NewGuid().ToString("N")[..10];
        using var http = new HttpClient { BaseAddress = new Uri(s3["url"].TrimEnd('/') + "/") };
        (await http.PutAsync(bucket, null)).EnsureSuccessStatusCode(); // s3rver takes unsigned requests

        // The ETag the server gave each version: the S3 source's fingerprint names the version by it.
        var etags = new ConcurrentDictionary<(string Key, string Etag), int>();
        async Task PutAsync(string key, (int Version, string Content) version)
        {
            using var response = (await http.PutAsync($"{bucket}/{key}", new ByteArrayContent(Encoding.UTF8.GetBytes(version.Content)))).EnsureSuccessStatusCode();
            etags[(key, response.Headers.ETag.ShouldNotBeNull().Tag.Trim('"'))] = version.Version;
        }

        async Task WriteAsync(int newObjects, int rewrites, Random random)
        {
            var keys = Enumerable.Range(0, newObjects).Select(_ => NewKey()).ToList();
            var known = _versions.Keys.ToList();
            keys.AddRange(Enumerable.Range(0, Math.Min(rewrites, known.Count)).Select(_ => known[random.Next(known.Count)]).Distinct());
            await Parallel.ForEachAsync(keys, new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (key, _) => await PutAsync(key, NextVersion(key)));
        }

        await WriteAsync(1000, 0, new Random(1)); // the storm: within a few seconds, second-resolution times alike
        await WriteConfigAsync($"""
              kind: s3
              url: {s3["url"]}
              bucket: {bucket}
              access_key: {s3["access_key"]}
              secret_key: {s3["secret_key"]}
            """);
        await using var runtime = await IntakeRuntime.OpenAsync(ConfigLoader.Load(Path.Combine(_ws.Root, "intake.yaml")));
        var pipeline = runtime.Pipeline("cubic");
        var discovery = new Discovery(runtime);
        var runner = new Runner(runtime);
        var random = new Random(2);

        // Objects appear and are rewritten while discovery lists and while the workers fetch and load.
        for (var round = 0; round < 4; round++)
        {
            var writing = WriteAsync(100, 40, random);
            await discovery.DiscoverAsync(pipeline, default);
            await Task.WhenAll(writing, runner.DrainAsync(["cubic"], 2, default));
        }

        await discovery.DiscoverAsync(pipeline, default);
        await runner.DrainAsync(["cubic"], 2, default);
        (await discovery.DiscoverAsync(pipeline, default)).New.ShouldBe(0); // nothing is registered twice

        var loads = await AllLoadsAsync(runtime);
        VerifyExactlyOnce(loads, load => etags[(load.SourceKey, load.Fingerprint[(load.Fingerprint.IndexOf(";etag:", StringComparison.Ordinal) + 6)..])], "was rewritten after it was listed");
    }

    [PostgresFact]
    public async Task LocalFolder_AStormOfFilesOfOneSecond_NewOnesDuringListings_AndSameSizeRewritesOfThatSecond_EachVersionIsLoadedExactlyOnce()
    {
        // Every file carries the same modification second, and the clock stays within it: a same-size rewrite under that
        // time changes neither size nor time, so only the content tells the versions apart.
        var second = new DateTimeOffset(2026, 3, 1, 12, 0, 0, TimeSpan.Zero);
        var clock = new ManualTimeProvider(second + TimeSpan.FromMilliseconds(500));
        var folder = Path.Combine(_ws.Incoming, "bucket");

        void Put(string key, string content, bool inPlace)
        {
            var path = Path.Combine(folder, key);
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            if (inPlace)
            {
                File.WriteAllText(path, content);
                File.SetLastWriteTimeUtc(path, second.UtcDateTime);
                return;
            }

            // A new file appears whole and already of that second: written under a hidden name, then renamed.
            var hidden = Path.Combine(Path.GetDirectoryName(path)!, "." + Path.GetFileName(path));
            File.WriteAllText(hidden, content);
            File.SetLastWriteTimeUtc(hidden, second.UtcDateTime);
            File.Move(hidden, path);
        }

        void WriteNew(int count)
        {
            for (var i = 0; i < count; i++)
            {
                var key = NewKey();
                Put(key, NextVersion(key).Content, inPlace: false);
            }
        }

        WriteNew(1000);
        await WriteConfigAsync("""
              kind: local
              path: ../incoming/bucket
              stable_for: 0s
            """);
        await using var runtime = await IntakeRuntime.OpenAsync(ConfigLoader.Load(Path.Combine(_ws.Root, "intake.yaml")), clock);
        var pipeline = runtime.Pipeline("cubic");
        var discovery = new Discovery(runtime); // one for the life of the process, as 'intake run' and 'intake serve' keep it
        var runner = new Runner(runtime);

        for (var round = 0; round < 4; round++)
        {
            var writing = Task.Run(() => WriteNew(100)); // new files appear while discovery lists and workers load
            await discovery.DiscoverAsync(pipeline, default);
            await Task.WhenAll(writing, runner.DrainAsync(["cubic"], 2, default));
        }

        await discovery.DiscoverAsync(pipeline, default);
        await runner.DrainAsync(["cubic"], 2, default);

        // Same-size rewrites under the very same time, twice for some keys: each a new version, so a new load.
        var random = new Random(3);
        var keys = _versions.Keys.Order(StringComparer.Ordinal).ToList();
        foreach (var round in new[] { 150, 50 })
        {
            foreach (var key in Enumerable.Range(0, round).Select(_ => keys[random.Next(120)]).Distinct())
            {
                Put(key, NextVersion(key).Content, inPlace: true);
            }

            (await discovery.DiscoverAsync(pipeline, default)).New.ShouldBeGreaterThan(0);
            await runner.DrainAsync(["cubic"], 2, default);
        }

        // Once the second is past, and after a restart, nothing is registered again.
        clock.Advance(TimeSpan.FromSeconds(5));
        (await discovery.DiscoverAsync(pipeline, default)).New.ShouldBe(0);
        (await new Discovery(runtime).DiscoverAsync(pipeline, default)).New.ShouldBe(0);

        var loads = await AllLoadsAsync(runtime);
        var bySha = _versions.SelectMany(kv => kv.Value.Select((content, i) => (kv.Key, Version: i + 1, Sha: Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(content))))))
            .ToDictionary(v => (v.Key, v.Sha), v => v.Version);
        VerifyExactlyOnce(
            loads,
            load => load.Fingerprint.IndexOf(";sha256:", StringComparison.Ordinal) is var at and >= 0 ? bySha[(load.SourceKey, load.Fingerprint[(at + 8)..])] : 1,
            "changed after it was listed");
        loads.ShouldAllBe(l => l.Status == LoadStatus.Archived); // no rewrite raced a fetch here
        loads.Count(l => l.Fingerprint.Contains(";sha256:", StringComparison.Ordinal)).ShouldBe(_versions.Values.Sum(v => v.Count - 1));
    }

    private static async Task<List<Load>> AllLoadsAsync(IntakeRuntime runtime)
    {
        var loads = new List<Load>();
        long? after = null;
        while (await runtime.Catalog.ListLoadsAsync(new LoadQuery { Pipeline = "cubic", AfterId = after }, default) is { Count: > 0 } page)
        {
            loads.AddRange(page);
            after = page[^1].Id;
        }

        return loads;
    }

    /// <param name="loads">Every load of the pipeline.</param>
    /// <param name="versionOf">The version (1, 2, …) of its key that a load stands for, from its fingerprint.</param>
    /// <param name="superseded">What the message of a load whose version was rewritten before its fetch says.</param>
    private void VerifyExactlyOnce(List<Load> loads, Func<Load, int> versionOf, string superseded)
    {
        // Every load is archived, or errored (integrity, no row loaded) because the file changed after it was listed.
        foreach (var load in loads.Where(l => l.Status != LoadStatus.Archived))
        {
            (load.Status, load.ErrorKind).ShouldBe((LoadStatus.Errored, ErrorKind.Integrity), $"{load.SourceKey}: {load.ErrorMessage}");
            load.ErrorMessage.ShouldNotBeNull().ShouldMatch($"{superseded}|the file changed while it was read");
        }

        // Each (key, version) is at most one archived load, and the last version of every key is one.
        var archived = loads.Where(l => l.Status == LoadStatus.Archived).ToDictionary(l => l.Id);
        archived.Values.GroupBy(l => (l.SourceKey, versionOf(l))).ShouldAllBe(g => g.Count() == 1);
        foreach (var (key, versions) in _versions)
        {
            archived.Values.Count(l => l.SourceKey == key && versionOf(l) == versions.Count).ShouldBe(1, key);
        }

        loads.ShouldAllBe(l => l.Table == TableOf(l.SourceKey));

        // The warehouse: per table, exactly the rows of its archived loads' versions, each row once, under its own load.
        using var warehouse = new NpgsqlConnection(_warehouse);
        warehouse.Open();
        foreach (var table in Prefixes.Select(p => TableOf(p + "/x.csv")))
        {
            var groups = new List<(long LoadId, string Key, int Version, long Count, long Distinct)>();
            using (var rows = new NpgsqlCommand($"SELECT _intake_load_id, key, version, count(*), count(DISTINCT rid) FROM {table} GROUP BY 1, 2, 3", warehouse))
            using (var reader = rows.ExecuteReader())
            {
                while (reader.Read())
                {
                    groups.Add((reader.GetInt64(0), reader.GetString(1), Convert.ToInt32(reader.GetValue(2), CultureInfo.InvariantCulture), reader.GetInt64(3), reader.GetInt64(4)));
                }
            }

            foreach (var (loadId, key, version, count, distinct) in groups)
            {
                var load = archived.GetValueOrDefault(loadId).ShouldNotBeNull($"rows of load {loadId}, which is not archived");
                (load.SourceKey, versionOf(load)).ShouldBe((key, version), $"load {loadId} holds another version's rows");
                (count, distinct).ShouldBe((RowsOf(key), RowsOf(key)), $"{key} version {version}");
            }

            var expected = archived.Values.Where(l => l.Table == table).ToList();
            groups.Select(g => g.LoadId).Distinct().Count().ShouldBe(groups.Count, $"{table}: a load holds rows of more than one version");
            groups.Count.ShouldBe(expected.Count, table);
            groups.Sum(g => g.Count).ShouldBe(expected.Sum(l => (long)RowsOf(l.SourceKey)), table);

            using var duplicates = new NpgsqlCommand($"SELECT count(*) - count(DISTINCT rid) FROM {table}", warehouse);
            ((long)duplicates.ExecuteScalar()!).ShouldBe(0, table);
        }
    }
}
