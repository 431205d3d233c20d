using System.Diagnostics;
using Intake.Core.Model;
using Intake.Engine.Audit;
using Intake.Engine.Configuration;
using Intake.Engine.Runtime;
using Intake.Engine.Steps;
using Intake.Tests.Shared;

namespace Intake.IntegrationTests;

/// <summary>
/// A real PostgreSQL catalog (a cluster of the test's own, never the shared one) restarting while Intake works: step
/// histories stay whole, the audit stays clean, and a polling run carries on by itself.
/// </summary>
public sealed class CatalogOutageTests : IDisposable
{
    private const int Rows = 500;
    private readonly TestWorkspace _ws = new();

    public void Dispose() => _ws.Dispose();

    private void WriteProject(ThrowawayPostgres pg)
    {
        _ws.WriteConfig(catalog: $"  kind: postgres\n  connection: \"{pg.ConnectionString}\"", retry: "{ max_attempts: 3, base_delay: 10ms, max_delay: 50ms }");
        _ws.WritePipeline("orders", table: "orders");
    }

    /// <summary>The load step of a worker, held on its first run until the test lets it go.</summary>
    private sealed class HeldStep(IStep real) : IStep
    {
        public TaskCompletionSource Entered { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public TaskCompletionSource Released { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public string Name => real.Name;

        public async Task<StepResult> RunAsync(StepContext context, CancellationToken cancellationToken)
        {
            if (Entered.TrySetResult())
            {
                await Released.Task.WaitAsync(cancellationToken);
            }

            return await real.RunAsync(context, cancellationToken);
        }
    }

    /// <summary>
    /// Runs one load through a worker of a daemon (as in <c>intake worker</c>) with its load step held, applies
    /// <paramref name="outage"/> while the step runs, and checks the history and the audit afterwards.
    /// </summary>
    private async Task StepHistoryThroughAsync(Func<ThrowawayPostgres, IntakeRuntime, HeldStep, Task> outage)
    {
        await using var pg = await ThrowawayPostgres.StartAsync();
        WriteProject(pg);
        File.WriteAllText(Path.Combine(_ws.Incoming, "a.csv"), TestWorkspace.Csv(Rows));
        await using var runtime = await IntakeRuntime.OpenAsync(ConfigLoader.Load(Path.Combine(_ws.Root, "intake.yaml")), OutageOptions.Daemon, TimeProvider.System, null, default);
        await new Discovery(runtime).DiscoverAsync(runtime.Pipeline("orders"), default);
        var held = new HeldStep(new LoadStep());
        var worker = new Worker(runtime, Worker.DefaultSteps(runtime).Select(s => s.Name == held.Name ? held : s));

        var ingest = worker.RunOneAsync(null, default);
        await held.Entered.Task.WaitAsync(TimeSpan.FromMinutes(2));
        await outage(pg, runtime, held);
        (await ingest.WaitAsync(TimeSpan.FromMinutes(2)))!.Status.ShouldBe(LoadStatus.Archived); // ingested, carried on, archived
        while (await worker.RunOneAsync(null, default) is not null)
        {
        }

        var load = (await runtime.Catalog.ListLoadsAsync(new LoadQuery(), default)).ShouldHaveSingleItem();
        load.Status.ShouldBe(LoadStatus.Archived);
        var steps = await runtime.Catalog.GetStepsAsync(load.Id, default);
        steps.ShouldAllBe(s => s.Outcome != StepOutcome.Running, "every attempt is closed");
        foreach (var step in steps.GroupBy(s => s.Step))
        {
            step.Select(s => s.Attempt).ShouldBe(Enumerable.Range(1, step.Count()), $"attempts of {step.Key} without gaps");
        }

        var audits = new List<LoadAudit>();
        await foreach (var audit in new Auditor(runtime).AuditAsync(null, default))
        {
            audits.Add(audit);
        }

        audits.ShouldHaveSingleItem().Problems.ShouldBeEmpty(); // what 'intake audit' checks; it exits 6 otherwise
        audits[0].RowsInWarehouse.ShouldBe(Rows);
        _ws.Scalar(_ws.WarehousePath, "select count(distinct id) from orders").ShouldBe(Rows);
    }

    [ThrowawayPostgresFact]
    public Task Worker_PostgresRestartsWhileAStepRuns_EveryAttemptIsClosed_AttemptsHaveNoGaps_AndTheAuditIsClean() =>
        StepHistoryThroughAsync(async (pg, _, held) =>
        {
            // pg_ctl restart -m fast: every session of the catalog is cut, the server is back within a second.
            await pg.RestartAsync();
            held.Released.SetResult();
        });

    [ThrowawayPostgresFact]
    public Task Worker_PostgresDownWhenAStepEnds_RecordsTheOutcomeOnceItIsBack_AndTheAuditIsClean() =>
        StepHistoryThroughAsync(async (pg, runtime, held) =>
        {
            await pg.DownAsync();
            held.Released.SetResult();
            // The step ends while the catalog is down: the worker waits for it instead of retrying the step.
            await WaitUntilAsync(() => runtime.Outage.DownSince is not null, "the worker to meet the outage");
            await pg.UpAsync();
        });

    [ThrowawayPostgresFact]
    public async Task RunWithInterval_PostgresRestarts_TheRunStaysUp_LogsTheOutageOnce_AndLoadsAFileDroppedAfterwards()
    {
        await using var pg = await ThrowawayPostgres.StartAsync();
        WriteProject(pg);
        File.WriteAllText(Path.Combine(_ws.Incoming, "a.csv"), TestWorkspace.Csv(10));
        using var run = _ws.StartCli("run", "--interval", "200ms");
        var output = ProcessOutput.Collect(run);
        await using var catalog = new Catalog.PostgresCatalog(pg.ConnectionString, TimeProvider.System);
        try
        {
            await WaitUntilAsync(async () => await ArchivedAsync(catalog) == 1, "the first file to be archived", run, output);

            await pg.RestartAsync();
            File.WriteAllText(Path.Combine(_ws.Incoming, "b.csv"), TestWorkspace.Csv(10, startId: 11));

            await WaitUntilAsync(async () => await ArchivedAsync(catalog) == 2, "the file dropped after the restart to be archived", run, output);
            run.HasExited.ShouldBeFalse();
            var lines = output().Split('\n');
            lines.Count(l => l.Contains("catalog outage:", StringComparison.Ordinal)).ShouldBeLessThanOrEqualTo(1, output());
            lines.ShouldNotContain(l => l.Contains("intake: unavailable", StringComparison.Ordinal));
        }
        finally
        {
            run.Kill(entireProcessTree: true);
            await run.WaitForExitAsync();
        }
    }


    [ThrowawayPostgresFact]
    public async Task RunOnce_CatalogDown_GivesUpWithExit4()
    {
        await using var pg = await ThrowawayPostgres.StartAsync();
        WriteProject(pg);
        File.WriteAllText(Path.Combine(_ws.Incoming, "a.csv"), TestWorkspace.Csv(10));
        await pg.DownAsync();

        var run = await _ws.RunCliAsync("run", "--once");

        run.ExitCode.ShouldBe(4, run.Stderr);
        run.Stderr.ShouldContain("unavailable");
    }

    /// <summary>
    /// Archived loads, or -1 while the catalog cannot tell: not migrated yet by the process under test, or not answering
    /// (the test's own reads meet the outage too).
    /// </summary>
    private static async Task<long> ArchivedAsync(Catalog.PostgresCatalog catalog)
    {
        try
        {
            return (await catalog.CountByStatusAsync(null, default)).GetValueOrDefault(LoadStatus.Archived);
        }
        catch (Exception e) when (e is Core.Errors.IntakeException { IsTransient: true } or System.Data.Common.DbException)
        {
            return -1;
        }
    }

    private static Task WaitUntilAsync(Func<bool> done, string what) => WaitUntilAsync(() => Task.FromResult(done()), what, null, null);

    /// <summary>
    /// Polls <paramref name="done"/> (a generous bound, no timing asserted); fails early, with what it wrote, when
    /// <paramref name="process"/> exits.
    /// </summary>
    private static async Task WaitUntilAsync(Func<Task<bool>> done, string what, Process? process, Func<string>? output)
    {
        for (var i = 0; i < 1200; i++)
        {
            if (await done())
            {
                return;
            }

            if (process is { HasExited: true })
            {
                throw new ShouldAssertException($"the process exited with {process.ExitCode} while waiting for {what}:\n{output?.Invoke()}");
            }

            await Task.Delay(100);
        }

        throw new ShouldAssertException($"gave up waiting for {what}:\n{output?.Invoke()}");
    }
}
