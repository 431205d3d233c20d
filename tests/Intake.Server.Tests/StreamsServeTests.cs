using System.Collections.Concurrent;
using System.Globalization;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Intake.Catalog;
using Intake.Core.Ports;
using Intake.Server.Auth;
using Intake.Tests.Shared;
using Microsoft.Data.Sqlite;

namespace Intake.Server.Tests;

/// <summary>
/// Streams through the real <c>intake serve</c>: records posted are answered once on disk, batched into
/// <c>&lt;prefix&gt;/&lt;uuid&gt;.json</c> files of the pipeline's source and loaded into its table, each exactly once,
/// also when the server is killed with SIGKILL again and again while clients post.
/// </summary>
public sealed class StreamsServeTests
{
    private sealed record Keys(string AcmeWrite, string AcmeRead, string GlobexWrite, string Admin);

    /// <summary>A workspace whose pipeline 'events' (acme) reads NDJSON batch files from incoming/events into the table events, fed by stream 'clicks'.</summary>
    private static async Task<(Workspace Workspace, Keys Keys)> CreateAsync(string name, string stream)
    {
        var connection = await TestPostgres.CreateDatabaseAsync(name);
        var workspace = new Workspace(connection);
        File.AppendAllText(Path.Combine(workspace.Root, "intake.yaml"), "\nstreams:\n  clicks:\n" + stream);
        workspace.Incoming("events");
        File.WriteAllText(Path.Combine(workspace.Root, "pipelines", "events.yaml"), """
            name: events
            customer: acme
            source: { kind: local, path: ../incoming/events, stable_for: 0s }
            format: ndjson
            ndjson: { files: ["**/*.json"] }
            steps: [fetch, archive, load]
            load:
              table: events
              columns:
                id: bigint not null
                name: text
            """);
        workspace.WritePipeline("orders", "globex");
        await using var catalog = new PostgresCatalog(connection, TimeProvider.System);
        await catalog.MigrateAsync(default);
        var keys = new Keys(
            (await ApiKeys.CreateAsync(catalog, "acme", ApiKeyScope.Write, null, default)).Key,
            (await ApiKeys.CreateAsync(catalog, "acme", ApiKeyScope.Read, null, default)).Key,
            (await ApiKeys.CreateAsync(catalog, "globex", ApiKeyScope.Write, null, default)).Key,
            (await ApiKeys.CreateAsync(catalog, "*", ApiKeyScope.Admin, null, default)).Key);
        return (workspace, keys);
    }

    private static Task<Workspace.Serve> StartAsync(Workspace workspace) =>
        workspace.StartServeAsync("--poll", "200ms", "--sweep-every", "1s", "--rate-limit", "off", "--anonymous-rate-limit", "off");

    private static async Task<(int Status, JsonElement Body)> PostAsync(HttpClient client, string body, string mediaType = "application/x-ndjson", string stream = "clicks")
    {
        using var content = new StringContent(body, Encoding.UTF8);
        content.Headers.ContentType = new MediaTypeHeaderValue(mediaType);
        using var response = await client.PostAsync($"/api/v1/streams/{stream}/records", content);
        var text = await response.Content.ReadAsStringAsync();
        return ((int)response.StatusCode, text.Length > 0 ? JsonDocument.Parse(text).RootElement.Clone() : default);
    }

    private static string Ndjson(IEnumerable<long> ids) => string.Concat(ids.Select(i => $"{{\"id\":{i},\"name\":\"n{i}\"}}\n"));

    private static string BatchFolder(Workspace workspace) => Path.Combine(workspace.Root, "incoming", "events", "kafka", "sample");

    private static string[] Batches(Workspace workspace) =>
        Directory.Exists(BatchFolder(workspace)) ? [.. Directory.GetFiles(BatchFolder(workspace)).Where(f => !Path.GetFileName(f).StartsWith('.')).Order(StringComparer.Ordinal)] : [];

    private static long[] Ids(string file) => [.. File.ReadAllLines(file).Select(l => JsonDocument.Parse(l).RootElement.GetProperty("id").GetInt64())];

    /// <summary>The ids in the warehouse table, one entry per row.</summary>
    private static List<long> TableIds(Workspace workspace)
    {
        using var connection = new SqliteConnection($"Data Source={Path.Combine(workspace.Root, ".intake", "warehouse.db")};Pooling=false");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT id FROM events";
        using var reader = command.ExecuteReader();
        var ids = new List<long>();
        while (reader.Read())
        {
            ids.Add(reader.GetInt64(0));
        }

        return ids;
    }

    /// <summary>Waits until the stream's spool is empty and every batch file is a load of 'events', archived; returns the loads.</summary>
    private static async Task<List<JsonElement>> WaitLoadedAsync(Workspace workspace, Workspace.Serve serve, string adminKey, TimeSpan timeout)
    {
        using var admin = serve.Client(adminKey);
        var until = DateTime.UtcNow + timeout;
        string last = "";
        while (DateTime.UtcNow < until)
        {
            var (_, stream, _) = await admin.GetJsonAsync("/api/v1/streams/clicks");
            var (_, page, _) = await admin.GetJsonAsync("/api/v1/loads?pipeline=events&limit=1000");
            var loads = page.GetProperty("items").EnumerateArray().ToList();
            last = $"stream: {stream}; loads: {string.Join(", ", loads.Select(l => $"{l.GetProperty("source_key").GetString()} {l.GetProperty("status").GetString()} {l.GetProperty("error_message")}"))}";
            if (stream.GetProperty("pending_records").GetInt64() == 0 && stream.GetProperty("sealed_batches").GetInt32() == 0 &&
                loads.Count > 0 && loads.Count == Batches(workspace).Length && loads.All(l => l.GetProperty("status").GetString() == "archived"))
            {
                return loads;
            }

            await Task.Delay(250);
        }

        throw new TimeoutException($"the stream's records were not all loaded in {timeout}: {last}\n{serve.Output}");
    }

    [PostgresFact]
    public async Task RecordsPosted_AsNdjsonAndArrays_AreInTheBatchFilesExactlyOnce_SealedAtMaxRecordsAndMaxAge_AndLoaded()
    {
        var (workspace, keys) = await CreateAsync("streams_flow", "    pipeline: events\n    prefix: kafka/sample/\n    max_records: 4\n    max_age: 3s\n");
        using var project = workspace;
        await using var serve = await StartAsync(workspace);
        using var client = serve.Client(keys.AcmeWrite);

        var (first, accepted) = await PostAsync(client, "{\"id\":1,\"name\":\"a\"}\r\n\n{\"id\":2}\n{\"id\":3}");
        first.ShouldBe(200, accepted.ToString());
        accepted.GetProperty("accepted").GetInt64().ShouldBe(3);
        accepted.GetProperty("stream").GetString().ShouldBe("clicks");
        (await PostAsync(client, "[\n  {\"id\": 4},\n  {\n    \"id\": 5,\n    \"name\": \"e\"\n  },\n  {\"id\": 6}\n]", "application/json")).Status.ShouldBe(200);
        (await PostAsync(client, Ndjson([7, 8, 9, 10]), "application/json")).Status.ShouldBe(200);

        var loads = await WaitLoadedAsync(workspace, serve, keys.Admin, TimeSpan.FromSeconds(60));

        // Two batches sealed at max_records (4), the rest at max_age; named by uuid, in the order they were sealed.
        var batches = Batches(workspace);
        batches.Select(b => Ids(b).Length).ShouldBe([4, 4, 2]);
        batches.SelectMany(Ids).ShouldBe([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
        batches.ShouldAllBe(b => System.Text.RegularExpressions.Regex.IsMatch(Path.GetFileName(b), "^[0-9a-f]{32}\\.json$"));
        File.ReadAllLines(batches[1])[0].ShouldBe("{\"id\":5,\"name\":\"e\"}");
        loads.Select(l => l.GetProperty("source_key").GetString()).Order(StringComparer.Ordinal).ShouldBe(batches.Select(b => "kafka/sample/" + Path.GetFileName(b)));
        TableIds(workspace).Order().ShouldBe([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);

        using var admin = serve.Client(keys.Admin);
        var metrics = await admin.GetStringAsync("/metrics");
        metrics.ShouldContain("intake_stream_records_total{stream=\"clicks\"} 10");
        metrics.ShouldContain("intake_stream_batches_total{stream=\"clicks\"} 3");
    }

    [PostgresFact]
    public async Task BadRequests_AnswerTheirCode_AndKeepNothing()
    {
        var (workspace, keys) = await CreateAsync("streams_bad", "    pipeline: events\n    prefix: kafka/sample/\n    max_request_bytes: 1KiB\n");
        using var project = workspace;
        await using var serve = await StartAsync(workspace);
        using var acme = serve.Client(keys.AcmeWrite);

        var (status, problem) = await PostAsync(acme, "{\"id\":1}\n{\"id\":2,}\n[3]\n");
        status.ShouldBe(400);
        var errors = problem.GetProperty("errors").GetProperty("body").EnumerateArray().Select(e => e.GetString()!).ToList();
        errors.Count.ShouldBe(2);
        errors[0].ShouldStartWith("line 2 (record 2): not valid JSON at byte 9");
        errors[1].ShouldStartWith("line 3 (record 3): is a JSON array, not an object");

        (status, problem) = await PostAsync(acme, "[{\"id\":1}, \"two\"]", "application/json");
        status.ShouldBe(400);
        problem.GetProperty("detail").GetString()!.ShouldContain("item 2: is a JSON string, not an object");

        (status, problem) = await PostAsync(acme, Ndjson(Enumerable.Range(1, 100).Select(i => (long)i)));
        status.ShouldBe(413);
        problem.GetProperty("detail").GetString()!.ShouldContain("larger than stream 'clicks' takes (1024 bytes, its max_request_bytes)");

        // Without a length (chunked): counted as it arrives, refused with the same answer.
        using (var chunked = new HttpRequestMessage(HttpMethod.Post, "/api/v1/streams/clicks/records"))
        {
            chunked.Content = new StreamContent(new NoLengthStream(Encoding.UTF8.GetBytes(Ndjson(Enumerable.Range(1, 100).Select(i => (long)i)))));
            chunked.Content.Headers.ContentType = new MediaTypeHeaderValue("application/x-ndjson");
            using var response = await acme.SendAsync(chunked);
            ((int)response.StatusCode).ShouldBe(413);
            (await response.Content.ReadAsStringAsync()).ShouldContain("its max_request_bytes");
        }

        (status, problem) = await PostAsync(acme, Ndjson([1]), stream: "nope");
        status.ShouldBe(404);
        problem.GetProperty("detail").GetString()!.ShouldContain("no stream named 'nope'");

        (status, _) = await PostAsync(acme, Ndjson([1]), "application/x-www-form-urlencoded");
        status.ShouldBe(415);

        using (var globex = serve.Client(keys.GlobexWrite))
        {
            (status, problem) = await PostAsync(globex, Ndjson([1]));
            status.ShouldBe(404); // another customer's stream does not exist for this key
            problem.GetProperty("detail").GetString()!.ShouldContain("no stream named 'clicks'");
            (await globex.GetJsonAsync("/api/v1/streams")).Body.GetProperty("items").GetArrayLength().ShouldBe(0);
        }

        using (var reader = serve.Client(keys.AcmeRead))
        {
            (status, problem) = await PostAsync(reader, Ndjson([1]));
            status.ShouldBe(403);
            problem.GetProperty("detail").GetString()!.ShouldContain("scope read");
        }

        using (var nobody = serve.Client(null))
        {
            (await PostAsync(nobody, Ndjson([1]))).Status.ShouldBe(401);
        }

        // Nothing of the refused requests was kept: one good record is all the stream holds.
        (await PostAsync(acme, Ndjson([99]))).Status.ShouldBe(200);
        var (_, shown, _) = await acme.GetJsonAsync("/api/v1/streams/clicks");
        shown.GetProperty("pending_records").GetInt64().ShouldBe(1);
        shown.GetProperty("customer").GetString().ShouldBe("acme");
        var (flushed, _, _) = await acme.PostJsonAsync("/api/v1/streams/clicks/flush");
        flushed.ShouldBe(202);
        await WaitLoadedAsync(workspace, serve, keys.Admin, TimeSpan.FromSeconds(60));
        Ids(Batches(workspace).ShouldHaveSingleItem()).ShouldBe([99]);
        TableIds(workspace).ShouldBe([99]);
    }

    [PostgresFact]
    public async Task ServerKilledWithSigkillAgainAndAgain_WhileClientsPost_EveryAcknowledgedRecordIsLoadedExactlyOnce()
    {
        var (workspace, keys) = await CreateAsync("streams_kill", "    pipeline: events\n    prefix: kafka/sample/\n    max_records: 300\n    max_age: 1s\n");
        using var project = workspace;
        var acknowledged = new ConcurrentBag<long>();
        var unanswered = new ConcurrentBag<long>();
        long next = 0;

        for (var round = 0; round < 4; round++)
        {
            var serve = await StartAsync(workspace);
            using var stop = new CancellationTokenSource();
            var killed = false;
            var posters = Enumerable.Range(0, 4).Select(_ => Task.Run(async () =>
            {
                using var client = serve.Client(keys.AcmeWrite);
                while (!stop.IsCancellationRequested)
                {
                    var ids = Enumerable.Range(0, 25).Select(_ => Interlocked.Increment(ref next)).ToList();
                    try
                    {
                        var (status, body) = await PostAsync(client, Ndjson(ids));
                        if (status != 200)
                        {
                            throw new HttpRequestException($"answered {status}: {body}");
                        }

                        ids.ForEach(acknowledged.Add);
                    }
                    catch (Exception e) when (e is HttpRequestException or TaskCanceledException or IOException)
                    {
                        // The server died with the request in flight: never acknowledged, never sent again.
                        ids.ForEach(unanswered.Add);
                        if (Volatile.Read(ref killed))
                        {
                            return;
                        }
                    }
                }
            })).ToList();

            // Kill at a different moment each round: mid-append, mid-seal, mid-write of a batch, mid-load.
            await Task.Delay(TimeSpan.FromMilliseconds(1500 + (700 * round)));
            Volatile.Write(ref killed, true);
            await serve.DisposeAsync(); // Process.Kill: SIGKILL
            await stop.CancelAsync();
            await Task.WhenAll(posters);
        }

        acknowledged.Count.ShouldBeGreaterThan(100);
        await using (var last = await StartAsync(workspace))
        {
            await WaitLoadedAsync(workspace, last, keys.Admin, TimeSpan.FromSeconds(120));
            last.Output.ShouldContain("spool recovered");
        }

        var counts = TableIds(workspace).GroupBy(id => id).ToDictionary(g => g.Key, g => g.Count());
        var acked = acknowledged.ToHashSet();
        var sent = unanswered.ToHashSet();
        sent.UnionWith(acked);
        var missing = acked.Where(id => !counts.ContainsKey(id)).ToList();
        missing.ShouldBeEmpty($"{missing.Count} acknowledged records are not in the table (e.g. {string.Join(", ", missing.Take(10))})");
        var twice = counts.Where(c => c.Value > 1).Select(c => c.Key).ToList();
        twice.ShouldBeEmpty($"{twice.Count} records are in the table more than once (e.g. {string.Join(", ", twice.Take(10))})");
        counts.Keys.Where(id => !sent.Contains(id)).ShouldBeEmpty();
        Batches(workspace).SelectMany(Ids).Count().ShouldBe(counts.Count);
        Directory.GetFiles(BatchFolder(workspace), ".*").ShouldBeEmpty(); // no temp file of a cut write is left behind
    }

    [PostgresFact]
    public async Task StreamsCommand_ShowsWhatWaits_AndFlush_SealsItWithOrWithoutARunningServer()
    {
        var (workspace, keys) = await CreateAsync("streams_cli", "    pipeline: events\n    prefix: kafka/sample/\n");
        using var project = workspace;
        await using (var serve = await StartAsync(workspace))
        {
            using var client = serve.Client(keys.AcmeWrite);
            (await PostAsync(client, Ndjson([1, 2, 3]))).Status.ShouldBe(200);

            var list = await workspace.RunCliAsync("streams", "--json");
            list.ExitCode.ShouldBe(0, list.Stderr);
            var shown = JsonDocument.Parse(list.Stdout).RootElement.EnumerateArray().ShouldHaveSingleItem();
            shown.GetProperty("name").GetString().ShouldBe("clicks");
            shown.GetProperty("pending_records").GetInt64().ShouldBe(3);
            shown.GetProperty("served").GetBoolean().ShouldBeTrue();

            // The running server holds the spool: it is asked, and seals within a second.
            var flush = await workspace.RunCliAsync("streams", "flush", "clicks");
            flush.ExitCode.ShouldBe(0, flush.Stderr);
            flush.Stdout.ShouldContain("the running server sealed its open batch (3 records)");
            await WaitLoadedAsync(workspace, serve, keys.Admin, TimeSpan.FromSeconds(60));

            (await PostAsync(client, Ndjson([4, 5]))).Status.ShouldBe(200);
        } // killed: records 4 and 5 wait in the spool, acknowledged

        var waiting = JsonDocument.Parse((await workspace.RunCliAsync("streams", "--json")).Stdout).RootElement[0];
        (waiting.GetProperty("pending_records").GetInt64(), waiting.GetProperty("served").GetBoolean()).ShouldBe((2L, false));

        var alone = await workspace.RunCliAsync("streams", "flush", "clicks", "--json");
        alone.ExitCode.ShouldBe(0, alone.Stderr);
        var result = JsonDocument.Parse(alone.Stdout).RootElement;
        result.GetProperty("flushed_by").GetString().ShouldBe("this command");
        var written = result.GetProperty("batches_written").EnumerateArray().ShouldHaveSingleItem().GetString()!;
        Ids(Path.Combine(workspace.Root, "incoming", "events", written)).ShouldBe([4, 5]);

        // The command registered the batch's load; a server (or 'intake run') loads it.
        await using (var serve = await StartAsync(workspace))
        {
            await WaitLoadedAsync(workspace, serve, keys.Admin, TimeSpan.FromSeconds(60));
        }

        TableIds(workspace).Order().ShouldBe([1, 2, 3, 4, 5]);
        (await workspace.RunCliAsync("streams", "flush", "nope")).ExitCode.ShouldBe(5);
    }

    /// <summary>A body whose length the client does not know, so it is sent chunked.</summary>
    private sealed class NoLengthStream(byte[] content) : MemoryStream(content)
    {
        public override bool CanSeek => false;
    }
}
