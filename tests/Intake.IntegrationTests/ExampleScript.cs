using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Intake.Tests.Shared;

namespace Intake.IntegrationTests;

/// <summary>
/// Runs an example's <c>run.sh</c> as a user runs it: on a copy of its folder, with its own servers (started by the
/// script from scripts/servers) on free ports, and the CLI of this build. The examples check their own results and
/// exit 1 on any difference; the tests assert the exit code, no FAIL line and the OK lines they care about.
/// </summary>
internal sealed class ExampleScript : IDisposable
{
    private readonly string _name;
    private readonly string _folder;
    private readonly IReadOnlyList<string> _servers;
    private readonly IReadOnlyList<string> _ports;
    private readonly IReadOnlyDictionary<string, string> _settings;

    // Not CreateTempSubdirectory (mode 700): PostgreSQL runs as the postgres user when the tests run as root, and
    // Postfix's pipe as its own user; both must reach their folders under this one.
    private readonly string _root;

    /// <param name="name">The folder under examples/.</param>
    /// <param name="servers">The scripts/servers the example starts, to stop them if it has to be killed.</param>
    /// <param name="ports">The environment variables that choose the example's ports: each gets a free port.</param>
    /// <param name="folder">The folder of the repository that holds <paramref name="name"/>: examples, or bench for a benchmark's script.</param>
    /// <param name="settings">More environment variables for the script (a benchmark's short size).</param>
    public ExampleScript(string name, IReadOnlyList<string> servers, IReadOnlyList<string> ports, string folder = "examples", IReadOnlyDictionary<string, string>? settings = null)
    {
        _name = name;
        _folder = folder;
        _servers = servers;
        _ports = ports;
        _settings = settings ?? new Dictionary<string, string>();
        _root = Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), $"intake-{name}-example-" + Guid.NewGuid().ToString("N")[..8])).FullName;
    }

    /// <summary>Copies the example, runs its script and answers its output, after asserting exit 0 and no FAIL line.</summary>
    public async Task<string> RunAsync(TimeSpan timeout)
    {
        var example = Path.Combine(_root, _name);
        var source = Path.Combine(TestRepo.Root, _folder, _name);
        foreach (var file in Directory.EnumerateFiles(source, "*", SearchOption.AllDirectories).Where(f => !f.Contains("/.intake/", StringComparison.Ordinal)))
        {
            var target = Path.Combine(example, Path.GetRelativePath(source, file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target);
        }

        var psi = new ProcessStartInfo("bash", [Path.Combine(example, "run.sh")])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = _root,
        };
        psi.Environment["INTAKE_REPO"] = TestRepo.Root;
        psi.Environment["INTAKE_CLI"] = "dotnet " + TestRepo.CliDll;
        psi.Environment["INTAKE_SERVERS_DIR"] = Directory.CreateDirectory(Path.Combine(_root, "servers")).FullName;
        foreach (var port in _ports)
        {
            psi.Environment[port] = FreePort().ToString(CultureInfo.InvariantCulture);
        }

        foreach (var (name, value) in _settings)
        {
            psi.Environment[name] = value;
        }

        psi.Environment.Remove("KEEP");

        using var run = Process.Start(psi)!;
        var output = ProcessOutput.Collect(run);
        using var cancel = new CancellationTokenSource(timeout);
        try
        {
            await run.WaitForExitAsync(cancel.Token);
        }
        catch (OperationCanceledException)
        {
            run.Kill(entireProcessTree: true);
            await run.WaitForExitAsync();
            await StopServersAsync(psi); // the script's EXIT trap did not run, and the servers are not its children
            throw new TimeoutException($"{_folder}/{_name}/run.sh did not finish in {timeout.TotalMinutes} minutes:\n" + output());
        }

        run.WaitForExit(); // the output's last lines
        var text = output();
        run.ExitCode.ShouldBe(0, text);
        text.Split('\n').Where(l => l.StartsWith("FAIL", StringComparison.Ordinal)).ShouldBeEmpty(text);
        return text;
    }

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

    /// <summary>Stops the servers the script started, by the PIDs their scripts keep under INTAKE_SERVERS_DIR.</summary>
    private async Task StopServersAsync(ProcessStartInfo script)
    {
        foreach (var server in _servers)
        {
            var stop = new ProcessStartInfo("bash", [Path.Combine(TestRepo.Root, "scripts", "servers", server + ".sh"), "stop"]) { UseShellExecute = false };
            foreach (var name in _ports.Append("INTAKE_SERVERS_DIR"))
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
