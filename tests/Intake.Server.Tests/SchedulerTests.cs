using System.Globalization;
using System.Text.RegularExpressions;
using Intake.Catalog;
using Intake.Core.Ports;
using Intake.Engine.Configuration;
using Intake.Engine.Runtime;
using Intake.Engine.Scheduling;
using Intake.Server.Auth;
using Intake.Tests.Shared;
using Npgsql;

namespace Intake.Server.Tests;

/// <summary>Cron runs: exactly once per tick across processes, once after downtime, not while paused.</summary>
public sealed partial class SchedulerTests
{
    [PostgresFact]
    public async Task TwoServeProcesses_OnOneCatalog_FireEachTickExactlyOnce()
    {
        var connection = await TestPostgres.CreateDatabaseAsync("sched");
        using var workspace = new Workspace(connection);
        workspace.WritePipeline("ticker", "acme", "schedule: \"*/2 * * * * *\"");
        string key;
        await using (var catalog = new PostgresCatalog(connection, TimeProvider.System))
        {
            await catalog.MigrateAsync(default);
            key = (await ApiKeys.CreateAsync(catalog, "acme", ApiKeyScope.Write, null, default)).Key;
        }

        var options = new[] { "--schedule-every", "200ms", "--discover-every", "1h" };
        await using var first = await workspace.StartServeAsync(options);
        await using var second = await workspace.StartServeAsync(options);

        // Several ticks with both processes up, then pause so no run is in flight when we count.
        await WaitForRowsAsync(connection, 4);
        using var client = first.Client(key);
        (await client.PostJsonAsync("/api/v1/pipelines/ticker/pause")).Status.ShouldBe(200);
        await Task.Delay(2500);

        var rows = await ScheduledForAsync(connection);
        rows.Count.ShouldBeGreaterThanOrEqualTo(4);
        // No tick missed between the first and the last run...
        for (var i = 1; i < rows.Count; i++)
        {
            (rows[i] - rows[i - 1]).ShouldBe(TimeSpan.FromSeconds(2));
        }

        // ...and none fired twice: the runs the two processes say they fired add up to one per tick.
        var fired = Fired(first.Output).Concat(Fired(second.Output)).ToList();
        fired.Count.ShouldBe(rows.Count);
        fired.Distinct().Count().ShouldBe(rows.Count);
    }

    private static IEnumerable<string> Fired(string output) =>
        FiredPattern().Matches(output).Select(m => m.Groups[1].Value);

    [GeneratedRegex(@"scheduled run of ticker for (\S+) taken by")]
    private static partial Regex FiredPattern();

    private static async Task<List<DateTimeOffset>> ScheduledForAsync(string connection)
    {
        await using var conn = new NpgsqlConnection(connection);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand("SELECT scheduled_for FROM intake_schedule_runs WHERE pipeline = 'ticker' ORDER BY scheduled_for", conn);
        var list = new List<DateTimeOffset>();
        await using var reader = await cmd.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            list.Add(reader.GetFieldValue<DateTimeOffset>(0));
        }

        return list;
    }

    private static async Task WaitForRowsAsync(string connection, int count)
    {
        for (var i = 0; i < 200; i++)
        {
            if ((await ScheduledForAsync(connection)).Count >= count)
            {
                return;
            }

            await Task.Delay(100);
        }

        throw new TimeoutException($"fewer than {count} scheduled runs after 20 s");
    }

    private static async Task<(IntakeRuntime Runtime, ManualTimeProvider Clock, Workspace Workspace)> OpenAsync(string schedule, DateTimeOffset start, string? connection = null)
    {
        connection ??= await TestPostgres.CreateDatabaseAsync("sched");
        var workspace = new Workspace(connection);
        workspace.WritePipeline("daily", "acme", $"schedule: \"{schedule}\"");
        var clock = new ManualTimeProvider(start);
        var runtime = await IntakeRuntime.OpenAsync(ConfigLoader.Load(Path.Combine(workspace.Root, "intake.yaml")), clock);
        return (runtime, clock, workspace);
    }

    private static Scheduler SchedulerFor(IntakeRuntime runtime, string owner) =>
        new(runtime, runtime.Ports.Schedules, new PipelineRuns(runtime), owner);

    private static DateTimeOffset At(string text) => DateTimeOffset.Parse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal);

    [PostgresFact]
    public async Task AfterDowntime_TheMissedRunHappensOnce_NotOncePerMissedTick()
    {
        var (runtime, clock, workspace) = await OpenAsync("0 7 * * *", At("2026-03-01T06:59:00Z"));
        await using var _ = runtime;
        using var __ = workspace;
        var scheduler = SchedulerFor(runtime, "a");
        (await scheduler.TickAsync(default)).ShouldBeEmpty();
        clock.Set(At("2026-03-01T07:00:00.300Z"));
        (await scheduler.TickAsync(default)).Select(r => r.ScheduledFor).ShouldBe([At("2026-03-01T07:00:00Z")]);

        // Down for three days and an hour: the 2nd, 3rd and 4th were missed; one run, for the latest.
        var restarted = SchedulerFor(runtime, "b");
        clock.Set(At("2026-03-04T08:00:00Z"));
        (await restarted.TickAsync(default)).Select(r => r.ScheduledFor).ShouldBe([At("2026-03-04T07:00:00Z")]);
        (await restarted.TickAsync(default)).ShouldBeEmpty();
        clock.Set(At("2026-03-05T06:59:59Z"));
        (await restarted.TickAsync(default)).ShouldBeEmpty();
        clock.Set(At("2026-03-05T07:00:01Z"));
        (await restarted.TickAsync(default)).Select(r => r.ScheduledFor).ShouldBe([At("2026-03-05T07:00:00Z")]);

        var runs = await runtime.Ports.Schedules.ListScheduledRunsAsync("daily", 10, default);
        runs.Select(r => r.ScheduledFor).ShouldBe([At("2026-03-05T07:00:00Z"), At("2026-03-04T07:00:00Z"), At("2026-03-01T07:00:00Z")]);
    }

    [PostgresFact]
    public async Task TwoSchedulers_AtTheSameInstant_OnlyOneTakesTheRun()
    {
        var (runtime, clock, workspace) = await OpenAsync("*/10 * * * * *", At("2026-03-01T07:00:05Z"));
        await using var _ = runtime;
        using var __ = workspace;
        var a = SchedulerFor(runtime, "a");
        var b = SchedulerFor(runtime, "b");
        await a.TickAsync(default);
        await b.TickAsync(default);
        for (var i = 0; i < 5; i++)
        {
            clock.Advance(TimeSpan.FromSeconds(10));
            var fired = (await Task.WhenAll(a.TickAsync(default), b.TickAsync(default))).SelectMany(r => r).ToList();
            fired.Count.ShouldBe(1);
        }
    }

    [PostgresFact]
    public async Task FirstStart_DoesNotRunForTicksBeforeIt_AndPausedPipelineWaitsForResume()
    {
        // Deployed at 08:00: the 07:00 run of that day is not run; the next one is tomorrow's.
        var (runtime, clock, workspace) = await OpenAsync("0 7 * * *", At("2026-03-01T08:00:00Z"));
        await using var _ = runtime;
        using var __ = workspace;
        var store = runtime.Ports.Schedules;
        var scheduler = SchedulerFor(runtime, "a");
        (await scheduler.TickAsync(default)).ShouldBeEmpty();

        await store.PausePipelineAsync("daily", "test", default);
        clock.Set(At("2026-03-03T09:00:00Z"));
        (await scheduler.TickAsync(default)).ShouldBeEmpty();

        await store.ResumePipelineAsync("daily", default);
        (await scheduler.TickAsync(default)).Select(r => r.ScheduledFor).ShouldBe([At("2026-03-03T07:00:00Z")]);
    }

    [PostgresFact]
    public async Task ScheduledRun_DiscoversTheSource()
    {
        var (runtime, clock, workspace) = await OpenAsync("*/5 * * * *", At("2026-03-01T07:01:00Z"));
        await using var _ = runtime;
        using var __ = workspace;
        var scheduler = SchedulerFor(runtime, "a");
        await scheduler.TickAsync(default);
        File.WriteAllText(Path.Combine(workspace.Incoming("daily"), "x.csv"), "id,name\n1,a\n");
        File.SetLastWriteTimeUtc(Path.Combine(workspace.Incoming("daily"), "x.csv"), new DateTime(2026, 2, 1, 0, 0, 0, DateTimeKind.Utc));
        (await runtime.Catalog.CountByStatusAsync("daily", default)).Values.Sum().ShouldBe(0);
        clock.Set(At("2026-03-01T07:05:00Z"));
        (await scheduler.TickAsync(default)).Count.ShouldBe(1);
        (await runtime.Catalog.CountByStatusAsync("daily", default))[Core.Model.LoadStatus.Ready].ShouldBe(1);
    }
}
