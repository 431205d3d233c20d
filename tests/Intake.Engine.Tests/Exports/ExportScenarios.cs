using System.Data.Common;
using System.IO.Compression;
using System.Text.Json;
using Intake.Core.Ports;
using Intake.Engine.Exports;
using Intake.Tests.Shared;

namespace Intake.Engine.Tests.Exports;

/// <summary>
/// The Bridge exporter's test cases (spec test cases 1 to 9), written once and run against a SQLite and a PostgreSQL
/// source. The table is the spec's: records with a study (the partition) and an uploadedOn time.
/// Now is 2026-03-10 12:00 UTC, so the default start (start of yesterday) is 2026-03-09 00:00.
/// </summary>
public abstract class ExportScenarios : IAsyncLifetime
{
    protected static readonly DateTimeOffset Now = At("2026-03-10T12:00:00Z");
    private readonly string _dir = Directory.CreateTempSubdirectory("intake-export-").FullName;
    private readonly ManualTimeProvider _time = new(Now);
    private IntakeRuntime _runtime = null!;

    protected string Dir => _dir;
    protected IntakeRuntime Runtime => _runtime;
    protected IExportStore Exports => _runtime.Ports.Exports;
    protected ManualTimeProvider Time => _time;

    protected static DateTimeOffset At(string text) => DateTimeOffset.Parse(text, System.Globalization.CultureInfo.InvariantCulture).ToUniversalTime();

    /// <summary>The database: source YAML (kind + path/connection) for the pipeline.</summary>
    protected abstract Task<string> CreateSourceAsync();

    protected abstract Task<string> CatalogYamlAsync();

    protected abstract DbConnection OpenSource();

    /// <summary>A float literal no JSON can hold.</summary>
    protected abstract string InfinityLiteral { get; }

    protected abstract string TimeType { get; }

    public async Task InitializeAsync()
    {
        var database = await CreateSourceAsync();
        await ExecAsync($"CREATE TABLE records (id integer PRIMARY KEY, study text NOT NULL, uploadedOn {TimeType} NOT NULL, payload text, score double precision)");
        await InsertAsync(1, "s1", "2026-03-08T10:00:00.000Z");
        await InsertAsync(2, "s1", "2026-03-09T10:00:00.000Z");
        await InsertAsync(3, "s1", "2026-03-09T23:30:00.000Z");
        await InsertAsync(4, "s1", "2026-03-10T01:00:00.000Z");
        await InsertAsync(5, "s2", "2026-03-09T05:00:00.000Z");
        await InsertAsync(6, "s2", "2026-03-10T00:30:00.000Z");

        File.WriteAllText(Path.Combine(_dir, "intake.yaml"), $$"""
            catalog: {{await CatalogYamlAsync()}}
            stores: { local: { kind: local, root: .intake/store } }
            defaults:
              retry: { max_attempts: 1, base_delay: 1ms, max_delay: 5ms }
            """);
        Directory.CreateDirectory(Path.Combine(_dir, "pipelines"));
        File.WriteAllText(Path.Combine(_dir, "pipelines", "bridge.yaml"), $$"""
            name: bridge
            source:
              kind: database
              database: {{database}}
              table: records
              partition_column: study
              time_column: uploadedOn
              id_column: id
            steps: [export]
            export:
              format: ndjson
              redrive: { max: 2, delay: 5m }
            """);
        _runtime = await IntakeRuntime.OpenAsync(ConfigLoader.Load(Path.Combine(_dir, "intake.yaml")), _time);
    }

    public async Task DisposeAsync()
    {
        await _runtime.DisposeAsync();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(_dir, recursive: true);
    }

    protected async Task ExecAsync(string sql)
    {
        await using var c = OpenSource();
        await c.OpenAsync();
        await using var cmd = c.CreateCommand();
#pragma warning disable CA2100 // test SQL
        cmd.CommandText = sql;
#pragma warning restore CA2100
        await cmd.ExecuteNonQueryAsync();
    }

    protected Task InsertAsync(int id, string study, string uploadedOn, string score = "1.5") =>
        ExecAsync($"INSERT INTO records (id, study, uploadedOn, payload, score) VALUES ({id}, '{study}', '{uploadedOn}', 'p{id}', {score})");

    protected PipelineConfig Pipeline => _runtime.Pipeline("bridge");

    /// <summary>Queues the request and lets a worker run everything waiting; returns the request's load and its export step.</summary>
    protected async Task<(ExportQueued Queued, Load Load, StepRecord? Step)> ExportAsync(ExportSubmission submission)
    {
        var queued = await new ExportQueue(_runtime).SubmitAsync(Pipeline, submission, default);
        await DrainAsync();
        var load = (await _runtime.Catalog.GetLoadAsync(queued.Load!.Id, default))!;
        var step = (await _runtime.Catalog.GetStepsAsync(load.Id, default)).LastOrDefault(s => s.Step == "export");
        return (queued, load, step);
    }

    protected async Task DrainAsync()
    {
        await new Discovery(_runtime).DiscoverAsync(Pipeline, default);
        var worker = new Worker(_runtime);
        while (await worker.RunOneAsync(null, default) is not null)
        {
        }
    }

    protected Task<DateTimeOffset?> WatermarkAsync(string study) => Exports.GetWatermarkAsync("bridge", study, default);

    protected Task SetWatermarkAsync(string study, string value) => Exports.RecordExportPartitionAsync(
        new ExportPartitionResult { Pipeline = "bridge", RequestKey = "setup-" + study + value, Partition = study, Succeeded = true }, At(value), default);

    /// <summary>The ids in every export object of a study written by the request, read back from the gzipped NDJSON.</summary>
    protected async Task<List<long>> ExportedIdsAsync(ExportQueued queued, string study)
    {
        var ids = new List<long>();
        var results = await Exports.GetExportResultsAsync("bridge", queued.Request.RequestKey, default);
        foreach (var r in results.Where(r => r.Partition == study && r.ObjectKey is not null))
        {
            var path = Path.Combine(_dir, ".intake", "store", "exports", r.ObjectKey!);
            await using var gz = new GZipStream(File.OpenRead(path), CompressionMode.Decompress);
            using var reader = new StreamReader(gz);
            while (await reader.ReadLineAsync() is { } line)
            {
                ids.Add(JsonDocument.Parse(line).RootElement.GetProperty("id").GetInt64());
            }
        }

        ids.Sort();
        return ids;
    }

    // ------------------------------------------------------------------------------------------------------------
    // Two different requests on one partition at once (beyond the spec): the second reads the watermark the first
    // leaves, so no row is exported by both.
    // ------------------------------------------------------------------------------------------------------------
    protected async Task ConcurrentRequestsOnOnePartitionAsync()
    {
        var locks = Runtime.Ports.Locks;
        await SetWatermarkAsync("s1", "2026-03-09T00:00:00Z");
        // Another process's daily export holds s1: it read the watermark and is exporting up to 2026-03-10.
        (await locks.TryAcquireLockAsync("export:bridge:s1", "load:other", TimeSpan.FromMinutes(2), default)).ShouldBeTrue();

        var instant = Task.Run(() => ExportAsync(new ExportSubmission { Type = "instant", Partitions = ["s1"] }));
        await Task.Delay(300); // the instant request reaches the lock and waits there
        instant.IsCompleted.ShouldBeFalse();
        await SetWatermarkAsync("s1", "2026-03-10T00:00:00Z"); // the daily export succeeds
        await locks.ReleaseLockAsync("export:bridge:s1", "load:other", default);
        var (queued, load, _) = await instant;

        load.Status.ShouldBe(LoadStatus.Archived);
        // Records 2 and 3 (2026-03-09) were the daily export's; the instant one starts where it ended.
        (await ExportedIdsAsync(queued, "s1")).ShouldBe([4]);
        (await WatermarkAsync("s1")).ShouldBe(At("2026-03-10T11:59:00Z"));
    }

    // ------------------------------------------------------------------------------------------------------------
    // An export request has no original: its load names no inbox key (the database kind does not write the inbox).
    // ------------------------------------------------------------------------------------------------------------
    protected async Task ExportLoadNamesNoInboxKeyAsync()
    {
        var (_, load, _) = await ExportAsync(new ExportSubmission { Type = "daily" });

        load.Status.ShouldBe(LoadStatus.Archived, load.ErrorMessage);
        load.InboxKey.ShouldBeNull();
    }

    // ------------------------------------------------------------------------------------------------------------
    // Spec test case 1: daily export without ignoreLastExportTime.
    // ------------------------------------------------------------------------------------------------------------
    protected async Task Case1Async()
    {
        await SetWatermarkAsync("s1", "2026-03-09T12:00:00Z");

        var (queued, load, step) = await ExportAsync(new ExportSubmission { Type = "daily" });

        load.Status.ShouldBe(LoadStatus.Archived, load.ErrorMessage);
        // 1.1: a daily request ends at the start of the current UTC day, and its objects are named by date and time.
        queued.Request.End.ShouldBe(At("2026-03-10T00:00:00Z"));
        step!.Outputs.ShouldContain(o => o.Contains("bridge/s1/20260309T120000-20260310T000000-", StringComparison.Ordinal));
        // 1.2: the watermark is used when present (record 2, before it, is not exported again).
        (await ExportedIdsAsync(queued, "s1")).ShouldBe([3]);
        // 1.3: without one the window starts at the default start, the start of yesterday (record of 03-08 not taken).
        (await ExportedIdsAsync(queued, "s2")).ShouldBe([5]);
        (await WatermarkAsync("s1")).ShouldBe(At("2026-03-10T00:00:00Z"));
        (await WatermarkAsync("s2")).ShouldBe(At("2026-03-10T00:00:00Z"));
    }

    // Spec test case 2: one-time (instant) export without ignoreLastExportTime.
    protected async Task Case2Async()
    {
        await SetWatermarkAsync("s1", "2026-03-09T12:00:00Z");

        var (queued, load, _) = await ExportAsync(new ExportSubmission { Type = "instant" });

        load.Status.ShouldBe(LoadStatus.Archived, load.ErrorMessage);
        queued.Request.End.ShouldBe(At("2026-03-10T11:59:00Z")); // now minus a minute, for clock skew
        (await ExportedIdsAsync(queued, "s1")).ShouldBe([3, 4]);
        (await ExportedIdsAsync(queued, "s2")).ShouldBe([5, 6]);
        (await WatermarkAsync("s1")).ShouldBe(At("2026-03-10T11:59:00Z"));
        (await WatermarkAsync("s2")).ShouldBe(At("2026-03-10T11:59:00Z"));
    }

    // Spec test case 3: hourly export without ignoreLastExportTime.
    protected async Task Case3Async()
    {
        Time.Set(At("2026-03-10T00:45:00Z"));
        await SetWatermarkAsync("s1", "2026-03-09T12:00:00Z");

        var (queued, load, _) = await ExportAsync(new ExportSubmission { Type = "hourly" });

        load.Status.ShouldBe(LoadStatus.Archived, load.ErrorMessage);
        queued.Request.End.ShouldBe(At("2026-03-10T00:00:00Z")); // the start of the current hour
        (await ExportedIdsAsync(queued, "s1")).ShouldBe([3]);
        (await ExportedIdsAsync(queued, "s2")).ShouldBe([5]); // default start 03-09 00:00; record 6 (00:30) is after the end
        (await WatermarkAsync("s2")).ShouldBe(At("2026-03-10T00:00:00Z"));
    }

    // Spec test case 4: daily export with ignoreLastExportTime.
    protected async Task Case4Async()
    {
        await SetWatermarkAsync("s1", "2026-03-09T12:00:00Z");

        var (queued, load, _) = await ExportAsync(new ExportSubmission
        {
            Type = "daily", IgnoreLastExportTime = true, Start = At("2026-03-08T00:00:00Z"), End = At("2026-03-10T00:00:00Z"), Tag = "re-export",
        });

        load.Status.ShouldBe(LoadStatus.Archived, load.ErrorMessage);
        (await ExportedIdsAsync(queued, "s1")).ShouldBe([1, 2, 3]); // the given start, not the watermark
        (await WatermarkAsync("s1")).ShouldBe(At("2026-03-09T12:00:00Z")); // untouched
        (await WatermarkAsync("s2")).ShouldBeNull();

        // Without a start, a daily re-export covers the day before its end.
        var (dayBefore, _, _) = await ExportAsync(new ExportSubmission { Type = "daily", IgnoreLastExportTime = true, End = At("2026-03-10T00:00:00Z") });
        dayBefore.Request.Start.ShouldBe(At("2026-03-09T00:00:00Z"));
        (await ExportedIdsAsync(dayBefore, "s1")).ShouldBe([2, 3]);
        (await WatermarkAsync("s2")).ShouldBeNull();
    }

    // Spec test case 5: hourly export with ignoreLastExportTime.
    protected async Task Case5Async()
    {
        await SetWatermarkAsync("s1", "2026-03-10T06:00:00Z");

        var (queued, load, _) = await ExportAsync(new ExportSubmission
        {
            Type = "hourly", IgnoreLastExportTime = true, Start = At("2026-03-09T23:00:00Z"), End = At("2026-03-10T01:00:00Z"),
        });

        load.Status.ShouldBe(LoadStatus.Archived, load.ErrorMessage);
        (await ExportedIdsAsync(queued, "s1")).ShouldBe([3]); // record 4 is at the end: windows are half-open
        (await ExportedIdsAsync(queued, "s2")).ShouldBe([6]);
        (await WatermarkAsync("s1")).ShouldBe(At("2026-03-10T06:00:00Z"));
        (await WatermarkAsync("s2")).ShouldBeNull();
    }

    // Spec test case 6: record override ("s3-override").
    protected async Task Case6Async()
    {
        await SetWatermarkAsync("s1", "2026-03-09T12:00:00Z");

        var (queued, load, _) = await ExportAsync(new ExportSubmission { Type = "instant", RecordIds = ["1", "6"] });

        load.Status.ShouldBe(LoadStatus.Archived, load.ErrorMessage);
        (await ExportedIdsAsync(queued, "s1")).ShouldBe([1]); // before the watermark, but named
        (await ExportedIdsAsync(queued, "s2")).ShouldBe([6]);
        (await WatermarkAsync("s1")).ShouldBe(At("2026-03-09T12:00:00Z"));
        (await WatermarkAsync("s2")).ShouldBeNull();
    }

    // Spec test case 7.1: re-driving records.
    protected async Task Case7RecordsAsync()
    {
        await InsertAsync(7, "s1", "2026-03-09T11:00:00.000Z", InfinityLiteral);

        var (queued, load, step) = await ExportAsync(new ExportSubmission { Type = "daily" });

        load.Status.ShouldBe(LoadStatus.Archived, load.ErrorMessage);
        step!.RowsRejected.ShouldBe(1);
        (await ExportedIdsAsync(queued, "s1")).ShouldBe([2, 3]); // record 7 cannot be JSON: left out, not half-written
        (await WatermarkAsync("s1")).ShouldBe(At("2026-03-10T00:00:00Z"));
        var redrive = (await Exports.ListExportRequestsAsync("bridge", null, 10, default)).Where(r => r.RedriveOf == queued.Request.RequestKey).ShouldHaveSingleItem();
        redrive.RedriveCount.ShouldBe(1);
        redrive.RecordsKey.ShouldNotBeNull();
        File.ReadAllText(Path.Combine(Dir, ".intake", "store", "exports", redrive.RecordsKey)).Trim().ShouldBe("7");
        redrive.NotBefore.ShouldBe(Now + TimeSpan.FromMinutes(5));

        // The record is fixed; the re-drive waits for its delay, then exports it without touching the watermark.
        await ExecAsync("UPDATE records SET score = 2.5 WHERE id = 7");
        await DrainAsync();
        (await Exports.GetExportRequestAsync("bridge", redrive.RequestKey, default))!.LoadId.ShouldBeNull();
        Time.Advance(TimeSpan.FromMinutes(5));
        await DrainAsync();

        var ran = (await Exports.GetExportRequestAsync("bridge", redrive.RequestKey, default))!;
        (await Runtime.Catalog.GetLoadAsync(ran.LoadId!.Value, default))!.Status.ShouldBe(LoadStatus.Archived);
        (await ExportedIdsAsync(new ExportQueued(ran, null, false), "s1")).ShouldBe([7]);
        (await WatermarkAsync("s1")).ShouldBe(At("2026-03-10T00:00:00Z"));
    }

    // Spec test case 7.2: re-driving tables (partitions).
    protected async Task Case7PartitionsAsync()
    {
        await SetWatermarkAsync("s1", "2026-03-09T12:00:00Z");
        // A file where the partition's folder must go: the store refuses s2's object.
        var blocker = Path.Combine(Dir, ".intake", "store", "exports", "bridge", "s2");
        Directory.CreateDirectory(Path.GetDirectoryName(blocker)!);
        File.WriteAllText(blocker, "in the way");

        var (queued, load, _) = await ExportAsync(new ExportSubmission { Type = "daily" });

        load.Status.ShouldBe(LoadStatus.Errored);
        load.ErrorMessage!.ShouldContain("partition 's2'");
        (await WatermarkAsync("s1")).ShouldBe(At("2026-03-10T00:00:00Z"));
        (await WatermarkAsync("s2")).ShouldBeNull(); // failed: no watermark
        var redrive = (await Exports.ListExportRequestsAsync("bridge", null, 10, default)).Where(r => r.RedriveOf == queued.Request.RequestKey).ShouldHaveSingleItem();
        redrive.Partitions.ShouldBe(["s2"]);
        redrive.IgnoreLastExportTime.ShouldBeTrue();
        redrive.Start.ShouldBe(At("2026-03-09T00:00:00Z")); // its original window
        redrive.End.ShouldBe(At("2026-03-10T00:00:00Z"));
        redrive.RedriveCount.ShouldBe(1);

        File.Delete(blocker);
        await InsertAsync(8, "s2", "2026-03-08T12:00:00.000Z"); // before the window: not taken
        Time.Advance(TimeSpan.FromMinutes(5));
        await DrainAsync();

        var ran = (await Exports.GetExportRequestAsync("bridge", redrive.RequestKey, default))!;
        (await Runtime.Catalog.GetLoadAsync(ran.LoadId!.Value, default))!.Status.ShouldBe(LoadStatus.Archived);
        (await ExportedIdsAsync(new ExportQueued(ran, null, false), "s2")).ShouldBe([5]);
        (await WatermarkAsync("s2")).ShouldBeNull(); // a re-drive of a table ignores the last export time: not modified
        (await WatermarkAsync("s1")).ShouldBe(At("2026-03-10T00:00:00Z"));
    }

    // Spec test case 8: endDateTime before lastExportDateTime.
    protected async Task Case8Async()
    {
        await SetWatermarkAsync("s1", "2026-03-10T00:00:00Z");

        var (queued, load, _) = await ExportAsync(new ExportSubmission { Type = "instant", End = At("2026-03-09T12:00:00Z") });

        load.Status.ShouldBe(LoadStatus.Archived, load.ErrorMessage);
        (await ExportedIdsAsync(queued, "s1")).ShouldBeEmpty();
        // Our rule: the watermark never moves back, so it is NOT set to the end.
        (await WatermarkAsync("s1")).ShouldBe(At("2026-03-10T00:00:00Z"));
        // s2 had none: its window [default start, end) is exported and its watermark set to the end.
        (await ExportedIdsAsync(queued, "s2")).ShouldBe([5]);
        (await WatermarkAsync("s2")).ShouldBe(At("2026-03-09T12:00:00Z"));
    }

    // Spec test case 9: a failed export writes no watermark, and the next export covers the gap.
    protected async Task Case9Async()
    {
        var (_, first, _) = await ExportAsync(new ExportSubmission { Type = "daily" });
        first.Status.ShouldBe(LoadStatus.Archived, first.ErrorMessage);
        (await WatermarkAsync("s1")).ShouldBe(At("2026-03-10T00:00:00Z"));

        await InsertAsync(10, "s1", "2026-03-10T06:00:00.000Z");
        await InsertAsync(11, "s1", "2026-03-11T06:00:00.000Z");
        await ExecAsync("ALTER TABLE records RENAME TO records_away");
        Time.Set(At("2026-03-11T12:00:00Z"));
        var (_, failed, _) = await ExportAsync(new ExportSubmission { Type = "daily" });
        failed.Status.ShouldBe(LoadStatus.Errored);
        (await WatermarkAsync("s1")).ShouldBe(At("2026-03-10T00:00:00Z"));

        await ExecAsync("ALTER TABLE records_away RENAME TO records");
        Time.Set(At("2026-03-12T12:00:00Z"));
        var (next, load, _) = await ExportAsync(new ExportSubmission { Type = "daily" });

        load.Status.ShouldBe(LoadStatus.Archived, load.ErrorMessage);
        (await ExportedIdsAsync(next, "s1")).ShouldBe([4, 10, 11]); // the failed day's records included
        (await WatermarkAsync("s1")).ShouldBe(At("2026-03-12T00:00:00Z"));
    }

    protected async Task IdenticalRequestsAsync()
    {
        var queue = new ExportQueue(Runtime);
        var submission = new ExportSubmission { Type = "daily", Partitions = ["s1"], Tag = "t" };
        var both = await Task.WhenAll(queue.SubmitAsync(Pipeline, submission, default), queue.SubmitAsync(Pipeline, submission, default));

        both.Count(q => q.Created).ShouldBe(1);
        both[0].Load!.Id.ShouldBe(both[1].Load!.Id);
        await DrainAsync();
        (await Runtime.Catalog.ListLoadsAsync(new LoadQuery(), default)).ShouldHaveSingleItem().Status.ShouldBe(LoadStatus.Archived);
    }
}
