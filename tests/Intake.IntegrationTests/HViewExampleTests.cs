using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Intake.Tests.Shared;

namespace Intake.IntegrationTests;

/// <summary>
/// Needs what examples/hview/run.sh starts: Postfix (started as root), PostgreSQL and s3rver from scripts/servers. Taken
/// as installed where the test servers run (scripts/test.sh starts them with the same scripts); skipped elsewhere,
/// failing in CI.
/// </summary>
public sealed class HViewExampleFactAttribute : FactAttribute
{
    public HViewExampleFactAttribute() =>
        Skip = TestServers.SkipUnless(
            TestPostfix.IsReachable && TestPostgres.IsReachable && TestServers.Settings("INTAKE_TEST_S3").ContainsKey("url") && Environment.UserName == "root",
            "Postfix, PostgreSQL or s3rver is not running, or the tests do not run as root (scripts/test.sh starts them as root); the HView example starts its own with the same scripts");
}

/// <summary>
/// The HView example's script, run as a user runs it (on a copy, with its own servers on free ports and the CLI of this
/// build): mail through Postfix's pipe into <c>intake mail</c> and straight to <c>intake serve --smtp</c>, an upload
/// announced with HView's trigger; it checks its own results (the modules' tables against expected/*.csv, the unroutable
/// mail errored with kind config, the jobs, the archive's layout, the audit) and exits 1 on any difference.
/// </summary>
public sealed class HViewExampleTests : IDisposable
{
    private static readonly string[] Servers = ["postgres", "s3rver", "postfix"];
    private static readonly string[] Ports = ["INTAKE_PG_PORT", "INTAKE_S3_PORT", "INTAKE_S3_TLS_PORT", "INTAKE_SMTP_PORT", "HVIEW_SMTP_PORT", "HVIEW_SERVE_PORT"];

    // Not CreateTempSubdirectory (mode 700): PostgreSQL runs as the postgres user and Postfix's pipe as its own user;
    // both must reach their folders under this one (the pipe reads the example's configuration).
    private readonly string _root = Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), "intake-hview-example-" + Guid.NewGuid().ToString("N")[..8])).FullName;

    public void Dispose()
    {
        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
            // a server stopping may still hold a file for a moment; the temp folder is cleaned by the OS
        }
        catch (UnauthorizedAccessException)
        {
            // PostgreSQL's data folder belongs to the postgres user
        }
    }

    [HViewExampleFact]
    public async Task RunSh_OnRealPostfixS3rverAndPostgres_PrintsEveryCheckOk_AndExitsZero()
    {
        var example = Path.Combine(_root, "hview");
        var source = Path.Combine(TestRepo.Root, "examples", "hview");
        foreach (var file in Directory.EnumerateFiles(source, "*", SearchOption.AllDirectories).Where(f => !f.Contains("/.intake/", StringComparison.Ordinal)))
        {
            var target = Path.Combine(example, Path.GetRelativePath(source, file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target);
        }

        var servers = Path.Combine(_root, "servers");
        Directory.CreateDirectory(servers);
        var psi = new ProcessStartInfo("bash", [Path.Combine(example, "run.sh")])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = _root,
        };
        psi.Environment["INTAKE_REPO"] = TestRepo.Root;
        psi.Environment["INTAKE_CLI"] = "dotnet " + TestRepo.CliDll;
        psi.Environment["INTAKE_SERVERS_DIR"] = servers;
        foreach (var port in Ports)
        {
            psi.Environment[port] = FreePort().ToString(System.Globalization.CultureInfo.InvariantCulture);
        }

        psi.Environment.Remove("KEEP");

        using var run = Process.Start(psi)!;
        var output = ProcessOutput.Collect(run);
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(6));
        try
        {
            await run.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            run.Kill(entireProcessTree: true);
            await run.WaitForExitAsync();
            await StopServersAsync(psi); // the script's EXIT trap did not run, and the servers are not its children
            throw new TimeoutException("examples/hview/run.sh did not finish in 6 minutes:\n" + output());
        }

        run.WaitForExit(); // the output's last lines
        var text = output();
        run.ExitCode.ShouldBe(0, text);
        text.Split('\n').Where(l => l.StartsWith("FAIL", StringComparison.Ordinal)).ShouldBeEmpty(text);
        text.ShouldContain("OK    the same message again: 250, received before, not registered again");
        text.ShouldContain("OK    hydrastor_system_reports equals expected/hydrastor_system_reports.csv (1 rows)");
        text.ShouldContain("OK    hydrastor_nodes equals expected/hydrastor_nodes.csv (2 rows)");
        text.ShouldContain("OK    hydrastor_alerts equals expected/hydrastor_alerts.csv (1 rows)");
        text.ShouldContain("OK    veritas_jobs equals expected/veritas_jobs.csv (3 rows)");
        text.ShouldContain("OK    veritas_policies equals expected/veritas_policies.csv (2 rows)");
        text.ShouldContain("OK    ... with kind config");
        text.ShouldContain("OK    every other job completed");
        text.ShouldContain("OK    every archived object lies under <customer>/<category>/<type>/<group>/<yyyyMMdd_HHmmss>");
        text.ShouldContain("OK    intake audit: rows parsed = rows written = rows in the tables, for every load");
        text.ShouldContain("all checks passed");
    }

    /// <summary>Stops the servers the script started, by the PIDs their scripts keep under INTAKE_SERVERS_DIR.</summary>
    private static async Task StopServersAsync(ProcessStartInfo script)
    {
        foreach (var server in Servers)
        {
            var stop = new ProcessStartInfo("bash", [Path.Combine(TestRepo.Root, "scripts", "servers", server + ".sh"), "stop"]) { UseShellExecute = false };
            foreach (var name in Ports.Append("INTAKE_SERVERS_DIR"))
            {
                stop.Environment[name] = script.Environment[name];
            }

            using var p = Process.Start(stop)!;
            await p.WaitForExitAsync();
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
