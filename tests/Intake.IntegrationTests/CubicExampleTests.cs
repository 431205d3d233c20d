using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Intake.Tests.Shared;

namespace Intake.IntegrationTests;

/// <summary>
/// Needs what examples/cubic/run.sh starts: PostgreSQL and s3rver from scripts/servers. Taken as installed where the
/// test servers run (scripts/test.sh starts them with the same scripts); skipped elsewhere, failing in CI.
/// </summary>
public sealed class CubicExampleFactAttribute : FactAttribute
{
    public CubicExampleFactAttribute() =>
        Skip = TestServers.SkipUnless(
            TestPostgres.IsReachable && TestServers.Settings("INTAKE_TEST_S3").ContainsKey("url"),
            "PostgreSQL and s3rver are not running (scripts/test.sh starts them); the Cubic example starts its own with the same scripts");
}

/// <summary>
/// The Cubic example's script, run as a user runs it (on a copy, with its own servers on free ports and the CLI of
/// this build): it checks its own results (the current-state tables against expected/*.csv, the stream's rows, the
/// held-then-released load, an empty incoming bucket, the audit) and exits 1 on any difference.
/// </summary>
public sealed class CubicExampleTests : IDisposable
{
    // Not CreateTempSubdirectory (mode 700): PostgreSQL runs as the postgres user when the tests run as root, and
    // must reach its data folder under this one.
    private readonly string _root = Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), "intake-cubic-example-" + Guid.NewGuid().ToString("N")[..8])).FullName;

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
            // PostgreSQL's data folder belongs to the postgres user when the tests run as root
        }
    }

    [CubicExampleFact]
    public async Task RunSh_OnRealServers_PrintsEveryCheckOk_AndExitsZero()
    {
        var example = Path.Combine(_root, "cubic");
        var source = Path.Combine(TestRepo.Root, "examples", "cubic");
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
        psi.Environment["INTAKE_PG_PORT"] = FreePort().ToString(System.Globalization.CultureInfo.InvariantCulture);
        psi.Environment["INTAKE_S3_PORT"] = FreePort().ToString(System.Globalization.CultureInfo.InvariantCulture);
        psi.Environment["INTAKE_S3_TLS_PORT"] = FreePort().ToString(System.Globalization.CultureInfo.InvariantCulture);
        psi.Environment["CUBIC_SERVE_PORT"] = FreePort().ToString(System.Globalization.CultureInfo.InvariantCulture);
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
            throw new TimeoutException("examples/cubic/run.sh did not finish in 6 minutes:\n" + output());
        }

        run.WaitForExit(); // the output's last lines
        var text = output();
        run.ExitCode.ShouldBe(0, text);
        text.Split('\n').Where(l => l.StartsWith("FAIL", StringComparison.Ordinal)).ShouldBeEmpty(text);
        text.ShouldContain("OK    the early change file is held");
        text.ShouldContain("OK    the early change file is archived");
        text.ShouldContain("OK    cubic__ods_qlik__edw_sample__current equals expected/cubic__ods_qlik__edw_sample__current.csv (5 rows)");
        text.ShouldContain("OK    cubic__ods_qlik__edw_card__current equals expected/cubic__ods_qlik__edw_card__current.csv (4 rows)");
        text.ShouldContain("OK    the stream's records are in cubic__kafka__sample once each");
        text.ShouldContain("OK    the incoming bucket is empty");
        text.ShouldContain("all checks passed");
    }

    /// <summary>Stops the servers the script started, by the PIDs their scripts keep under INTAKE_SERVERS_DIR.</summary>
    private static async Task StopServersAsync(ProcessStartInfo script)
    {
        foreach (var server in new[] { "postgres", "s3rver" })
        {
            var stop = new ProcessStartInfo("bash", [Path.Combine(TestRepo.Root, "scripts", "servers", server + ".sh"), "stop"]) { UseShellExecute = false };
            foreach (var name in new[] { "INTAKE_SERVERS_DIR", "INTAKE_PG_PORT", "INTAKE_S3_PORT", "INTAKE_S3_TLS_PORT" })
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
