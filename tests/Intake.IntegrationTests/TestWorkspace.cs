using System.Diagnostics;
using System.IO.Compression;
using System.Text;
using Intake.Tests.Shared;
using Microsoft.Data.Sqlite;

namespace Intake.IntegrationTests;

/// <summary>A throwaway project folder: intake.yaml, pipelines/, a drop folder, and a way to run the real CLI on it.</summary>
public sealed class TestWorkspace : IDisposable
{
    public TestWorkspace()
    {
        Root = Directory.CreateTempSubdirectory("intake-it-").FullName;
        Directory.CreateDirectory(Incoming);
        Directory.CreateDirectory(Path.Combine(Root, "pipelines"));
    }

    public string Root { get; }
    public string Incoming => Path.Combine(Root, "incoming");
    public string StoreRoot => Path.Combine(Root, ".intake", "store");
    public string CatalogPath => Path.Combine(Root, ".intake", "catalog.db");
    public string WarehousePath => Path.Combine(Root, ".intake", "warehouse.db");

    public void Dispose()
    {
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
            // a killed child may still hold a file for a moment; the temp folder is cleaned by the OS
        }
    }

    public static string RepoRoot => TestRepo.Root;

    public static string CliDll => TestRepo.CliDll;

    /// <summary>The embedded default: SQLite catalog and warehouse, a local store under .intake/.</summary>
    public void WriteConfig(string? catalog = null, string? warehouse = null, string retry = "{ max_attempts: 2, base_delay: 50ms, max_delay: 100ms }", string lease = "30s")
    {
        File.WriteAllText(Path.Combine(Root, "intake.yaml"), $"""
            catalog:
            {catalog ?? "  kind: sqlite\n  path: .intake/catalog.db"}
            stores:
              local: {"{"} kind: local, root: .intake/store {"}"}
            warehouses:
              main:
            {warehouse ?? "    kind: sqlite\n    path: .intake/warehouse.db"}
            defaults:
              retry: {retry}
              lease: {lease}
            """);
    }

    public void WritePipeline(string name, string table = "rows", string include = "\"**/*\"", string extra = "", string columns = "")
    {
        File.WriteAllText(Path.Combine(Root, "pipelines", name + ".yaml"), $"""
            name: {name}
            customer: acme
            source:
              kind: local
              path: ../incoming
              include: [{include}]
              stable_for: 0s
            steps: [fetch, decompress, validate, archive, load]
            load:
              table: {table}
            {columns}
            {extra}
            """);
    }

    public static string Csv(int rows, int startId = 1)
    {
        var sb = new StringBuilder("id,name,amount\n");
        for (var i = startId; i < startId + rows; i++)
        {
            sb.Append(i).Append(",name ").Append(i).Append(',').Append(i % 1000).Append(".25\n");
        }

        return sb.ToString();
    }

    public string AddGzip(string name, string content)
    {
        var path = Path.Combine(Incoming, name);
        using var f = File.Create(path);
        using var gz = new GZipStream(f, CompressionLevel.Fastest);
        gz.Write(Encoding.UTF8.GetBytes(content));
        return path;
    }

    public string AddZip(string name, params (string Entry, byte[] Content)[] entries)
    {
        var path = Path.Combine(Incoming, name);
        using var z = ZipFile.Open(path, ZipArchiveMode.Create);
        foreach (var (entry, content) in entries)
        {
            using var s = z.CreateEntry(entry, CompressionLevel.Optimal).Open();
            s.Write(content);
        }

        return path;
    }

    public sealed record CliResult(int ExitCode, string Stdout, string Stderr);

    public Process StartCli(params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = Root };
        psi.ArgumentList.Add(CliDll);
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        psi.ArgumentList.Add("--config");
        psi.ArgumentList.Add(Root);
        return Process.Start(psi)!;
    }

    public async Task<CliResult> RunCliAsync(params string[] args)
    {
        using var p = StartCli(args);
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        await p.WaitForExitAsync(timeout.Token);
        return new CliResult(p.ExitCode, await stdout, await stderr);
    }

    public long Scalar(string dbPath, string sql)
    {
        using var c = new SqliteConnection($"Data Source={dbPath};Mode=ReadOnly;Pooling=False");
        c.Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = sql;
        return Convert.ToInt64(cmd.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>Every file under the workspace except the drop folder and the catalog/warehouse databases, relative.</summary>
    public IReadOnlyList<string> FilesOutsideOf(params string[] allowedPrefixes) =>
        Directory.EnumerateFiles(Root, "*", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(Root, f).Replace('\\', '/'))
            .Where(f => !allowedPrefixes.Any(a => f.StartsWith(a, StringComparison.Ordinal)))
            .ToList();
}
