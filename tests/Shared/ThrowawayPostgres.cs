using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Intake.Tests.Shared;

/// <summary>
/// A PostgreSQL cluster of one test's own, which the test may take down and bring up again: started by
/// <c>scripts/servers/postgres.sh</c> (the same commands as the shared test server) on a free loopback port, under a
/// temporary folder, and stopped and deleted on dispose. The shared server of <c>INTAKE_TEST_PG</c> must never be
/// restarted: other test projects use it at the same time.
/// </summary>
public sealed class ThrowawayPostgres : IAsyncDisposable
{
    private readonly string _dir;
    private readonly int _port;

    private ThrowawayPostgres(string dir, int port)
    {
        _dir = dir;
        _port = port;
    }

    /// <summary>Whether the PostgreSQL server programs (initdb, pg_ctl) are installed where the script looks for them.</summary>
    public static bool Installed =>
        Directory.Exists("/usr/lib/postgresql")
        && Directory.EnumerateDirectories("/usr/lib/postgresql").Any(d => File.Exists(Path.Combine(d, "bin", "pg_ctl")) && File.Exists(Path.Combine(d, "bin", "initdb")));

    /// <summary>The cluster's database <c>intake</c>, as superuser.</summary>
    public string ConnectionString => $"Host=127.0.0.1;Port={_port};Username=postgres;Database=intake";

    /// <summary>Creates and starts a fresh cluster with an empty database <c>intake</c>.</summary>
    public static async Task<ThrowawayPostgres> StartAsync()
    {
        var dir = Directory.CreateTempSubdirectory("intake-pg-").FullName;
        var server = new ThrowawayPostgres(dir, FreePort());
        try
        {
            await server.ScriptAsync("start");
            return server;
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
    }

    /// <summary>Stops the server as an outage does (sessions are cut), keeping its data.</summary>
    public Task DownAsync() => ScriptAsync("down");

    /// <summary>Starts the server <see cref="DownAsync"/> stopped, on the same data and port.</summary>
    public Task UpAsync() => ScriptAsync("up");

    /// <summary>A sub-second outage: down, then up at once.</summary>
    public Task RestartAsync() => ScriptAsync("restart");

    public async ValueTask DisposeAsync()
    {
        try
        {
            await ScriptAsync("stop");
        }
        finally
        {
            try
            {
                Directory.Delete(_dir, recursive: true);
            }
            catch (IOException)
            {
                // the server may still be writing its log for a moment; the temp folder is cleaned by the OS
            }
            catch (UnauthorizedAccessException)
            {
                // the same, for files owned by the postgres user
            }
        }
    }

    private async Task ScriptAsync(string command)
    {
        var psi = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(Path.Combine(TestRepo.Root, "scripts", "servers", "postgres.sh"));
        psi.ArgumentList.Add(command);
        psi.Environment["INTAKE_PG_PORT"] = _port.ToString(System.Globalization.CultureInfo.InvariantCulture);
        psi.Environment["INTAKE_SERVERS_DIR"] = _dir;
        using var process = Process.Start(psi)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"scripts/servers/postgres.sh {command} failed with {process.ExitCode}: {await stderr}{await stdout}");
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}

/// <summary>
/// A fact that needs a PostgreSQL cluster of its own (<see cref="ThrowawayPostgres"/>): skipped on a developer machine
/// without the server programs, but never in CI (<c>CI=true</c>), where their absence must fail the run.
/// </summary>
public sealed class ThrowawayPostgresFactAttribute : FactAttribute
{
    public ThrowawayPostgresFactAttribute() =>
        Skip = TestServers.SkipUnless(ThrowawayPostgres.Installed, "the PostgreSQL server programs are not installed (run scripts/servers/postgres.sh install as root)");
}
