using System.Diagnostics;
using Intake.Catalog;
using Intake.Core.Model;
using Intake.Engine.Configuration;
using Intake.Engine.Runtime;
using Intake.Engine.Scheduling;
using Intake.Tests.Shared;

namespace Intake.Server.Tests;

/// <summary>
/// <c>intake worker</c> and <c>intake serve</c> through an outage of a real PostgreSQL catalog (a cluster of the
/// test's own, never the shared one): they wait, log the outage once, answer not ready meanwhile, and carry on.
/// </summary>
public sealed class CatalogOutageTests
{
    private const string OutageBegan = "catalog outage:";
    private const string OutageEnded = "the catalog answers again";
    private const string RetriedPerFailure = "failed; retrying after"; // the per-failure line of the loops before

    [ThrowawayPostgresFact]
    public async Task Worker_ThroughACatalogOutage_StaysUp_LogsItOnce_AndProcessesALoadRegisteredAfterwards()
    {
        await using var pg = await ThrowawayPostgres.StartAsync();
        using var workspace = new Workspace(pg.ConnectionString);
        workspace.WritePipeline("orders", "acme");
        using var worker = StartWorker(workspace);
        var output = ProcessOutput.Collect(worker);
        try
        {
            await WaitForAsync(output, "intake worker started", worker);

            await pg.DownAsync();
            await WaitForAsync(output, OutageBegan, worker, orFailOn: RetriedPerFailure);
            // Let the two workers and the sweeper try again a few times (waits of 200 ms, 400 ms, 800 ms...): a line per
            // try or per loop would show now.
            await Task.Delay(1500);
            await pg.UpAsync();
            await WaitForAsync(output, OutageEnded, worker);

            var id = await RegisterAsync(workspace, "a.csv");
            await WaitArchivedAsync(pg, id, worker, output);
            worker.HasExited.ShouldBeFalse();
            Count(output(), OutageBegan).ShouldBe(1, output());
            Count(output(), OutageEnded).ShouldBe(1, output());
            Count(output(), RetriedPerFailure).ShouldBe(0, output());
        }
        finally
        {
            worker.Kill(entireProcessTree: true);
            await worker.WaitForExitAsync();
        }
    }

    [ThrowawayPostgresFact]
    public async Task Worker_StartedWhileTheCatalogIsDown_WaitsForIt_AndComesUpWhenItAnswers()
    {
        await using var pg = await ThrowawayPostgres.StartAsync();
        using var workspace = new Workspace(pg.ConnectionString);
        workspace.WritePipeline("orders", "acme");
        await pg.DownAsync();
        using var worker = StartWorker(workspace);
        var output = ProcessOutput.Collect(worker);
        try
        {
            await WaitForAsync(output, OutageBegan, worker);
            await pg.UpAsync();
            await WaitForAsync(output, "intake worker started", worker);

            var id = await RegisterAsync(workspace, "a.csv");
            await WaitArchivedAsync(pg, id, worker, output);
            Count(output(), OutageBegan).ShouldBe(1, output());
        }
        finally
        {
            worker.Kill(entireProcessTree: true);
            await worker.WaitForExitAsync();
        }
    }

    [ThrowawayPostgresFact]
    public async Task Serve_ThroughACatalogOutage_AnswersNotReady_ThenReadyAgain_AndStaysUp()
    {
        await using var pg = await ThrowawayPostgres.StartAsync();
        using var workspace = new Workspace(pg.ConnectionString);
        workspace.WritePipeline("orders", "acme");
        await using var serve = await workspace.StartServeAsync("--poll", "200ms", "--sweep-every", "200ms", "--discover-every", "1s");
        using var client = serve.Client(null);
        (await client.GetJsonAsync("/readyz")).Status.ShouldBe(200);

        await pg.DownAsync();
        var (status, body, _) = await client.GetJsonAsync("/readyz");
        status.ShouldBe(503);
        body.GetProperty("status").GetString().ShouldBe("not_ready");
        body.GetProperty("checks").GetProperty("catalog").GetString()!.ShouldStartWith("failed");
        await WaitForAsync(() => serve.Output, OutageBegan, null, orFailOn: RetriedPerFailure);
        serve.HasExited.ShouldBeFalse();

        await pg.UpAsync();
        for (var i = 0; i < 600 && (await client.GetJsonAsync("/readyz")).Status != 200; i++)
        {
            await Task.Delay(100);
        }

        (await client.GetJsonAsync("/readyz")).Status.ShouldBe(200);
        File.WriteAllText(Path.Combine(workspace.Incoming("orders"), "b.csv"), "id,name\n2,y\n");
        await using var catalog = new PostgresCatalog(pg.ConnectionString, TimeProvider.System);
        for (var i = 0; i < 600 && await ArchivedAsync(catalog) < 1; i++)
        {
            await Task.Delay(100);
        }

        (await ArchivedAsync(catalog)).ShouldBe(1, serve.Output);
        serve.HasExited.ShouldBeFalse();
        Count(serve.Output, OutageBegan).ShouldBe(1, serve.Output);
    }

    private static Process StartWorker(Workspace workspace)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = workspace.Root };
        foreach (var a in new[] { Workspace.CliDll, "worker", "--poll", "200ms", "--sweep-every", "200ms", "--config", workspace.Root })
        {
            psi.ArgumentList.Add(a);
        }

        return Process.Start(psi)!;
    }

    /// <summary>Registers a file as a load from another process (as <c>intake serve</c> or a run-now would); returns its id.</summary>
    private static async Task<long> RegisterAsync(Workspace workspace, string file)
    {
        File.WriteAllText(Path.Combine(workspace.Incoming("orders"), file), "id,name\n1,x\n");
        await using var runtime = await IntakeRuntime.OpenAsync(ConfigLoader.Load(Path.Combine(workspace.Root, "intake.yaml")));
        return (await new PipelineRuns(runtime).RunAsync(runtime.Pipeline("orders"), [file], "test", default)).NewLoadIds.ShouldHaveSingleItem();
    }

    private static async Task WaitArchivedAsync(ThrowawayPostgres pg, long id, Process worker, Func<string> output)
    {
        await using var catalog = new PostgresCatalog(pg.ConnectionString, TimeProvider.System);
        var status = LoadStatus.Ready;
        for (var i = 0; i < 600 && status != LoadStatus.Archived && !worker.HasExited; i++)
        {
            await Task.Delay(100);
            status = (await catalog.GetLoadAsync(id, default))!.Status;
        }

        status.ShouldBe(LoadStatus.Archived, output());
    }

    private static async Task<long> ArchivedAsync(PostgresCatalog catalog)
    {
        try
        {
            return (await catalog.CountByStatusAsync(null, default)).GetValueOrDefault(LoadStatus.Archived);
        }
        catch (Core.Errors.IntakeException e) when (e.IsTransient)
        {
            return -1;
        }
    }

    /// <summary>Log lines (one JSON object each) that contain <paramref name="what"/>.</summary>
    private static int Count(string text, string what) => text.Split('\n').Count(l => l.Contains(what, StringComparison.Ordinal));


    /// <summary>
    /// Waits (a generous bound, no timing asserted) until the output holds <paramref name="what"/>; fails early when
    /// the process exits or writes <paramref name="orFailOn"/>.
    /// </summary>
    private static async Task WaitForAsync(Func<string> output, string what, Process? process, string? orFailOn = null)
    {
        for (var i = 0; i < 1200; i++)
        {
            var text = output();
            if (text.Contains(what, StringComparison.Ordinal))
            {
                return;
            }

            if (orFailOn is not null && text.Contains(orFailOn, StringComparison.Ordinal))
            {
                throw new ShouldAssertException($"wrote '{orFailOn}' while waiting for '{what}':\n{text}");
            }

            if (process is { HasExited: true })
            {
                throw new ShouldAssertException($"the process exited with {process.ExitCode} while waiting for '{what}':\n{text}");
            }

            await Task.Delay(100);
        }

        throw new ShouldAssertException($"gave up waiting for '{what}':\n{output()}");
    }
}
