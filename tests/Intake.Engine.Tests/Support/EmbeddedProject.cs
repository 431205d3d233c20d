using Intake.Core.Model;
using Intake.Engine.Configuration;
using Intake.Engine.Runtime;
using Microsoft.Data.Sqlite;

namespace Intake.Engine.Tests.Support;

/// <summary>
/// A project folder on the embedded default (SQLite catalog and warehouse, a local store) with a source folder
/// <c>in/</c>: tests write a pipeline, drop files and run them through discovery and a real worker.
/// </summary>
internal sealed class EmbeddedProject : IAsyncDisposable
{
    public EmbeddedProject(string prefix = "intake-project-")
    {
        Root = Directory.CreateTempSubdirectory(prefix).FullName;
        File.WriteAllText(Path.Combine(Root, "intake.yaml"), """
            catalog: { kind: sqlite, path: .intake/catalog.db }
            stores: { local: { kind: local, root: .intake/store } }
            warehouses: { main: { kind: sqlite, path: .intake/warehouse.db } }
            defaults:
              retry: { max_attempts: 2, base_delay: 1ms, max_delay: 5ms }
            """);
        Directory.CreateDirectory(Path.Combine(Root, "pipelines"));
        Directory.CreateDirectory(Path.Combine(Root, "in"));
    }

    public string Root { get; }

    /// <summary>A file's path in the source folder.</summary>
    public string In(string name) => Path.Combine(Root, "in", name);

    /// <summary>A path under the local store's root (<c>area/key</c>).</summary>
    public string Stored(string areaAndKey) => Path.Combine(Root, ".intake", "store", areaAndKey);

    /// <summary>Writes <c>pipelines/NAME.yaml</c>.</summary>
    public void Pipeline(string name, string yaml) => File.WriteAllText(Path.Combine(Root, "pipelines", name + ".yaml"), yaml);

    /// <summary>
    /// Opens the project as it is configured now, lets <paramref name="before"/> act on it, discovers
    /// <paramref name="pipeline"/>, drains every load through a worker and returns the loads.
    /// </summary>
    public async Task<IReadOnlyList<Load>> RunAsync(string pipeline = "p", Func<IntakeRuntime, Task>? before = null)
    {
        await using var runtime = await IntakeRuntime.OpenAsync(ConfigLoader.Load(Path.Combine(Root, "intake.yaml")));
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

    /// <summary>The steps recorded for a load.</summary>
    public async Task<IReadOnlyList<StepRecord>> StepsAsync(long loadId)
    {
        await using var runtime = await IntakeRuntime.OpenAsync(ConfigLoader.Load(Path.Combine(Root, "intake.yaml")));
        return await runtime.Catalog.GetStepsAsync(loadId, default);
    }

    public ValueTask DisposeAsync()
    {
        SqliteConnection.ClearAllPools();
        Directory.Delete(Root, recursive: true);
        return ValueTask.CompletedTask;
    }
}
