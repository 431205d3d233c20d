using Intake.Core.Model;
using System.IO.Compression;
using System.Text;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;

namespace Intake.Engine.Tests.Support;

/// <summary>
/// A project folder on the embedded default (SQLite catalog and warehouse, a local store) with a source folder
/// <c>in/</c>: tests write a pipeline, drop files and run them through discovery and a real worker. Disposing it
/// disposes every runtime it opened, then deletes the folder.
/// </summary>
internal sealed class EmbeddedProject : IAsyncDisposable
{
    private readonly List<IntakeRuntime> _opened = [];

    /// <param name="prefix">The temporary folder's name starts with it.</param>
    /// <param name="maxAttempts">The default <c>retry.max_attempts</c> (the backoff is a few milliseconds).</param>
    /// <param name="catalog">The <c>catalog</c> entry as flow YAML; the SQLite file <c>.intake/catalog.db</c> when null.</param>
    /// <param name="warehouse">The warehouse <c>main</c>'s entry as flow YAML; the SQLite file <c>.intake/warehouse.db</c> when null.</param>
    /// <param name="smallLoadsUpTo"><c>defaults.small_loads_up_to</c>; its default (1 MiB) when null, so a test's small files are small loads.</param>
    public EmbeddedProject(string prefix = "intake-project-", int maxAttempts = 2, string? catalog = null, string? warehouse = null, string? smallLoadsUpTo = null)
    {
        Root = Directory.CreateTempSubdirectory(prefix).FullName;
        File.WriteAllText(ConfigPath, $$"""
            catalog: {{catalog ?? "{ kind: sqlite, path: .intake/catalog.db }"}}
            stores: { local: { kind: local, root: .intake/store } }
            warehouses: { main: {{warehouse ?? "{ kind: sqlite, path: .intake/warehouse.db }"}} }
            defaults:
              retry: { max_attempts: {{maxAttempts}}, base_delay: 1ms, max_delay: 5ms }
            {{(smallLoadsUpTo is null ? "" : "  small_loads_up_to: " + smallLoadsUpTo)}}
            """);
        Directory.CreateDirectory(Path.Combine(Root, "pipelines"));
        Directory.CreateDirectory(Path.Combine(Root, "in"));
    }

    public string Root { get; }

    public string ConfigPath => Path.Combine(Root, "intake.yaml");

    /// <summary>A file's path in the source folder.</summary>
    public string In(string name) => Path.Combine(Root, "in", name);

    /// <summary>A path under the local store's root (<c>area/key</c>).</summary>
    public string Stored(string areaAndKey) => Path.Combine(Root, ".intake", "store", areaAndKey);

    /// <summary>Writes <c>pipelines/NAME.yaml</c>.</summary>
    public void Pipeline(string name, string yaml) => File.WriteAllText(Path.Combine(Root, "pipelines", name + ".yaml"), yaml);

    /// <summary>
    /// Pipeline <c>p</c>, every step of a file (fetch, decompress, validate, archive, load into table <c>rows</c>),
    /// with one file waiting in <c>in/</c>: <c>a.csv.gz</c>, two rows.
    /// </summary>
    public void GzipPipelineWithOneFile()
    {
        Pipeline("p", """
            name: p
            source: { kind: local, path: ../in, stable_for: 0s }
            steps: [fetch, decompress, validate, archive, load]
            load: { table: rows }
            """);
        WriteGzip(In("a.csv.gz"), "id,name\n1,a\n2,b\n");
    }

    /// <summary>The step records of <see cref="GzipPipelineWithOneFile"/>'s load when nothing failed: each step once, in order.</summary>
    public static readonly (string Step, int Attempt, StepOutcome Outcome)[] GzipPipelineStepsOnce =
    [
        ("fetch", 1, StepOutcome.Succeeded), ("decompress", 1, StepOutcome.Succeeded),
        ("validate", 1, StepOutcome.Succeeded), ("load", 1, StepOutcome.Succeeded),
        ("archive", 1, StepOutcome.Succeeded),
    ];

    /// <summary>Writes <paramref name="text"/> (UTF-8) gzipped to <paramref name="path"/>.</summary>
    public static void WriteGzip(string path, string text) => WriteGzip(path, Encoding.UTF8.GetBytes(text));

    /// <summary>Writes <paramref name="data"/> gzipped to <paramref name="path"/>.</summary>
    public static void WriteGzip(string path, byte[] data)
    {
        using var file = File.Create(path);
        using var gzip = new GZipStream(file, CompressionLevel.Fastest);
        gzip.Write(data);
    }

    /// <summary>The project's configuration as it is now.</summary>
    public IntakeConfig Config() => ConfigLoader.Load(ConfigPath);

    /// <summary>Opens the project as it is configured now; a command's runtime (an unreachable catalog fails at once) unless <paramref name="outage"/> says otherwise.</summary>
    public async Task<IntakeRuntime> OpenAsync(OutageOptions? outage = null, TimeProvider? time = null, ILoggerFactory? logs = null)
    {
        var runtime = await IntakeRuntime.OpenAsync(Config(), outage ?? OutageOptions.OneShot, time, logs, default);
        _opened.Add(runtime);
        return runtime;
    }

    /// <summary>
    /// Opens the project as it is configured now, lets <paramref name="before"/> act on it, discovers
    /// <paramref name="pipeline"/>, drains every load through a worker and returns the loads.
    /// </summary>
    public async Task<IReadOnlyList<Load>> RunAsync(string pipeline = "p", Func<IntakeRuntime, Task>? before = null)
    {
        await using var runtime = await OpenAsync();
        if (before is not null)
        {
            await before(runtime);
        }

        await new Discovery(runtime).DiscoverAsync(runtime.Pipeline(pipeline), default);
        var worker = new Worker(runtime, Worker.DefaultSteps(runtime));
        while (await worker.RunOneAsync(null, default) is not null)
        {
        }

        return await runtime.Catalog.ListLoadsAsync(new LoadQuery(), default);
    }

    /// <summary>
    /// Opens the project as it is configured now and runs it like <c>intake run --once</c> with one worker; returns the
    /// runtime, still open, for the test to look at the loads and steps.
    /// </summary>
    public async Task<IntakeRuntime> RunOnceAsync()
    {
        var runtime = await OpenAsync();
        await new Runner(runtime).RunAsync(new RunOptions { Once = true, Workers = 1 }, default);
        return runtime;
    }

    /// <summary>A connection to the SQLite warehouse, open, not pooled (so the file can be deleted afterwards).</summary>
    public SqliteConnection OpenWarehouse()
    {
        var connection = new SqliteConnection($"Data Source={Path.Combine(Root, ".intake", "warehouse.db")};Pooling=false");
        connection.Open();
        return connection;
    }

    /// <summary>Rows in a warehouse table (0 when it was never created).</summary>
    public long Rows(string table = "rows")
    {
        using var connection = OpenWarehouse();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT count(*) FROM sqlite_master WHERE name = $name";
        command.Parameters.AddWithValue("$name", table);
        if ((long)command.ExecuteScalar()! == 0)
        {
            return 0;
        }

        command.CommandText = $"SELECT count(*) FROM \"{table}\"";
        return (long)command.ExecuteScalar()!;
    }

    /// <summary>The steps recorded for a load.</summary>
    public async Task<IReadOnlyList<StepRecord>> StepsAsync(long loadId)
    {
        await using var runtime = await OpenAsync();
        return await runtime.Catalog.GetStepsAsync(loadId, default);
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var runtime in _opened)
        {
            await runtime.DisposeAsync();
        }

        SqliteConnection.ClearAllPools();
        Directory.Delete(Root, recursive: true);
    }
}
