using System.IO.Compression;
using System.Text;
using Intake.Core.Errors;
using Intake.Core.Model;
using Intake.Engine.Configuration;
using Intake.Engine.Runtime;
using Intake.Tests.Shared;
using Microsoft.Data.Sqlite;

namespace Intake.IntegrationTests;

/// <summary>A whole pipeline over SFTP against the real OpenSSH server: discovery, fetch, streamed load, archive.</summary>
/// <remarks>On the embedded default: SQLite catalog, local store, SQLite warehouse.</remarks>
public sealed class SftpPipelineTests : IDisposable
{
    private readonly TestWorkspace _ws = new();
    private readonly string _folder = "sftp-" + Guid.NewGuid().ToString("N")[..8];

    private static TestSftp.Settings Server => TestSftp.Server;

    private string Remote => Path.Combine(Server.Home, _folder);

    public void Dispose()
    {
        _ws.Dispose();
        if (Directory.Exists(Remote))
        {
            Directory.Delete(Remote, recursive: true);
        }
    }

    private void Configure(string knownHosts)
    {
        File.WriteAllText(Path.Combine(_ws.Root, "pipelines", "known_hosts"), knownHosts); // relative paths in a pipeline are from its own folder
        File.WriteAllText(Path.Combine(_ws.Root, "intake.yaml"), """
            catalog: { kind: sqlite, path: .intake/catalog.db }
            stores: { local: { kind: local, root: .intake/store } }
            warehouses: { main: { kind: sqlite, path: .intake/warehouse.db } }
            defaults:
              warehouse: main
              retry: { max_attempts: 2, base_delay: 10ms, max_delay: 50ms }
            """);
        File.WriteAllText(Path.Combine(_ws.Root, "pipelines", "readings.yaml"), $"""
            name: readings
            source:
              kind: sftp
              host: {Server.Host}
              port: {Server.Port}
              user: {Server.User}
              key_file: {Server.PrivateKey}
              known_hosts: known_hosts
              path: {Remote}
              include: ["*.csv.gz"]
              stable_for: 0s
              timeout: 5s
            steps: [fetch, validate, archive, load]
            load: {"{"} table: readings, columns: {"{"} id: bigint not null, value: decimal {"}"} {"}"}
            """);
    }

    /// <summary>A pipeline that logs in by password through a relay (pinned host key) and removes each file once archived.</summary>
    private void ConfigureByPassword(int port)
    {
        File.WriteAllText(Path.Combine(_ws.Root, ".env"), $"SFTP_PASSWORD={Server.Password}\n");
        File.WriteAllText(Path.Combine(_ws.Root, "intake.yaml"), """
            catalog: { kind: sqlite, path: .intake/catalog.db }
            stores: { local: { kind: local, root: .intake/store } }
            warehouses: { main: { kind: sqlite, path: .intake/warehouse.db } }
            defaults:
              warehouse: main
              retry: { max_attempts: 2, base_delay: 10ms, max_delay: 50ms }
            """);
        File.WriteAllText(Path.Combine(_ws.Root, "pipelines", "readings.yaml"), $$"""
            name: readings
            source:
              kind: sftp
              host: {{Server.Host}}
              port: {{port}}
              user: {{Server.User}}
              password: ${SFTP_PASSWORD}
              host_key_fingerprint: "{{Server.HostKeyFingerprint()}}"
              path: {{Remote}}
              include: ["*.csv.gz"]
              stable_for: 0s
              timeout: 5s
              remove_after: true
            steps: [fetch, validate, archive, load]
            load: { table: readings, columns: { id: bigint not null, value: decimal } }
            """);
    }

    private void PutCsv(string name, int start, int rows)
    {
        Directory.CreateDirectory(Remote);
        var text = new StringBuilder("id,value\n");
        for (var i = start; i < start + rows; i++)
        {
            text.Append(i).Append(',').Append(i % 100).Append(".25\n");
        }

        using (var f = File.Create(Path.Combine(Remote, name)))
        using (var gz = new GZipStream(f, CompressionLevel.Fastest))
        {
            gz.Write(Encoding.UTF8.GetBytes(text.ToString()));
        }
    }

    private async Task<(RunSummary Summary, IReadOnlyList<Load> Loads)> RunOnceAsync()
    {
        await using var runtime = await IntakeRuntime.OpenAsync(ConfigLoader.Load(Path.Combine(_ws.Root, "intake.yaml")));
        var summary = await new Runner(runtime).RunAsync(new RunOptions { Once = true, Workers = 2 }, default);
        return (summary, await runtime.Catalog.ListLoadsAsync(new LoadQuery(), default));
    }

    private long WarehouseRows(string sql = "SELECT count(*) FROM readings")
    {
        using var c = new SqliteConnection($"Data Source={_ws.WarehousePath};Pooling=false");
        c.Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = sql;
        return (long)cmd.ExecuteScalar()!;
    }

    [SftpFact]
    public async Task FilesOnTheSftpServer_AreFetchedAndLoadedOnce_AndASecondRunLoadsNothing()
    {
        Configure(Server.KnownHostsLine() + "\n");
        PutCsv("2024-01.csv.gz", 1, 30_000);
        PutCsv("2024-02.csv.gz", 30_001, 20_000);

        var (summary, loads) = await RunOnceAsync();

        summary.Discovered.ShouldHaveSingleItem().Error.ShouldBeNull(summary.Discovered[0].Error?.Message);
        loads.Count.ShouldBe(2);
        loads.ShouldAllBe(l => l.Status == LoadStatus.Archived);
        WarehouseRows().ShouldBe(50_000);
        WarehouseRows("SELECT count(DISTINCT id) FROM readings").ShouldBe(50_000);
        Directory.EnumerateFiles(Path.Combine(_ws.StoreRoot, "archive"), "*.csv.gz", SearchOption.AllDirectories).Count().ShouldBe(2);

        var (again, loadsAgain) = await RunOnceAsync();

        again.Discovered.Sum(d => d.New).ShouldBe(0);
        loadsAgain.Count.ShouldBe(2);
        WarehouseRows().ShouldBe(50_000);
    }

    [SftpFact]
    public async Task ServerWhoseHostKeyIsNotTheKnownOne_IsRefusedAsSecurity_AndNothingIsFetched()
    {
        // A known_hosts entry for the right address but another key: a man in the middle, as far as Intake can tell.
        Configure($"[{Server.Host}]:{Server.Port} ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n");
        PutCsv("2024-01.csv.gz", 1, 10);

        var (summary, loads) = await RunOnceAsync();

        var error = summary.Discovered.ShouldHaveSingleItem().Error.ShouldNotBeNull();
        error.Kind.ShouldBe(ErrorKind.Security);
        loads.ShouldBeEmpty();
        Directory.Exists(Path.Combine(_ws.StoreRoot, "inbox")).ShouldBeFalse();
    }

    [SftpPasswordFact]
    public async Task PasswordLogin_DownloadDroppedMidway_IsResumed_LoadedOnce_AndTheFileLeavesTheServer()
    {
        PutCsv("2024-03.csv.gz", 1, 400_000); // over a MB compressed: the relay cuts the download part-way
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(Remote, (UnixFileMode)0b111_111_111); // the server's user deletes it after the archive
        }

        var size = new FileInfo(Path.Combine(Remote, "2024-03.csv.gz")).Length;
        await using var proxy = new TcpProxy(Server.Host, Server.Port) { CutOnceAfterServerBytes = 64 * 1024 + (size / 2) };
        ConfigureByPassword(proxy.Port);

        var (summary, loads) = await RunOnceAsync();

        summary.Discovered.ShouldHaveSingleItem().Error.ShouldBeNull(summary.Discovered[0].Error?.Message);
        proxy.Cuts.ShouldBe(1, "the download was to be cut once");
        var load = loads.ShouldHaveSingleItem();
        load.Status.ShouldBe(LoadStatus.Archived, load.ErrorMessage);

        // Resumed where it stopped, not fetched again from the start (which would send half the file once more).
        proxy.BytesFromServer.ShouldBeLessThan(size + (size / 4) + (256 * 1024));
        WarehouseRows().ShouldBe(400_000);
        WarehouseRows("SELECT count(DISTINCT id) FROM readings").ShouldBe(400_000);
        File.Exists(Path.Combine(Remote, "2024-03.csv.gz")).ShouldBeFalse("remove_after deletes the archived file on the server");
        Directory.EnumerateFiles(Path.Combine(_ws.StoreRoot, "archive"), "*.csv.gz", SearchOption.AllDirectories).ShouldHaveSingleItem();
    }
}
