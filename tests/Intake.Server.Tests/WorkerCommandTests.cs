using System.Diagnostics;
using Intake.Catalog;
using Intake.Core.Model;
using Intake.Engine.Configuration;
using Intake.Engine.Runtime;
using Intake.Engine.Scheduling;
using Intake.Tests.Shared;

namespace Intake.Server.Tests;

/// <summary><c>intake worker</c>: no API, but it carries loads registered by anyone through their steps.</summary>
public sealed class WorkerCommandTests
{
    [PostgresFact]
    public async Task Worker_ProcessesLoadsRegisteredElsewhere()
    {
        var connection = await TestPostgres.CreateDatabaseAsync("worker");
        using var workspace = new Workspace(connection);
        workspace.WritePipeline("orders", "acme");
        File.WriteAllText(Path.Combine(workspace.Incoming("orders"), "a.csv"), "id,name\n1,x\n");

        // Registered by another process (here: this test), as `intake serve` or a run-now would.
        long id;
        await using (var runtime = await IntakeRuntime.OpenAsync(ConfigLoader.Load(Path.Combine(workspace.Root, "intake.yaml"))))
        {
            id = (await new PipelineRuns(runtime).RunAsync(runtime.Pipeline("orders"), null, "test", default)).NewLoadIds.ShouldHaveSingleItem();
        }

        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = workspace.Root };
        foreach (var a in new[] { Workspace.CliDll, "worker", "--poll", "200ms", "--config", workspace.Root })
        {
            psi.ArgumentList.Add(a);
        }

        using var worker = Process.Start(psi)!;
        try
        {
            await using var catalog = new PostgresCatalog(connection, TimeProvider.System);
            LoadStatus status = LoadStatus.Ready;
            for (var i = 0; i < 150 && status != LoadStatus.Archived; i++)
            {
                await Task.Delay(100);
                status = (await catalog.GetLoadAsync(id, default))!.Status;
            }

            status.ShouldBe(LoadStatus.Archived);
        }
        finally
        {
            worker.Kill(entireProcessTree: true);
            await worker.WaitForExitAsync();
        }
    }
}
