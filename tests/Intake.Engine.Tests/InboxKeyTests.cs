using Intake.Core.Errors;
using Intake.Core.Model;
using Intake.Engine.Configuration;
using Intake.Engine.Runtime;

namespace Intake.Engine.Tests;

/// <summary>A load's facts are recorded, not recomputed: the inbox key is the one written when the original was fetched.</summary>
public sealed class InboxKeyTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("intake-inbox-key-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private async Task<Load> RunAsync(string keyTemplate, bool redrive)
    {
        File.WriteAllText(Path.Combine(_dir, "intake.yaml"), """
            catalog: { kind: sqlite, path: .intake/catalog.db }
            stores: { local: { kind: local, root: .intake/store } }
            warehouses: { main: { kind: sqlite, path: .intake/warehouse.db } }
            """);
        Directory.CreateDirectory(Path.Combine(_dir, "pipelines"));
        Directory.CreateDirectory(Path.Combine(_dir, "in"));
        File.WriteAllText(Path.Combine(_dir, "pipelines", "p.yaml"), $$"""
            name: p
            source: { kind: local, path: ../in, stable_for: 0s }
            steps: [fetch, decompress, archive, load]
            key_template: "{{keyTemplate}}"
            load: { table: rows }
            """);
        await using var runtime = await IntakeRuntime.OpenAsync(ConfigLoader.Load(Path.Combine(_dir, "intake.yaml")));
        await new Discovery(runtime).DiscoverAsync(runtime.Pipeline("p"), default);
        if (redrive)
        {
            var errored = (await runtime.Catalog.ListLoadsAsync(new LoadQuery(), default)).ShouldHaveSingleItem();
            (await runtime.Actions.RedriveAsync(errored, default)).Done.ShouldBeTrue();
        }

        var worker = new Worker(runtime, Worker.DefaultSteps(runtime));
        while (await worker.RunOneAsync(null, default) is not null)
        {
        }

        return (await runtime.Catalog.ListLoadsAsync(new LoadQuery(), default)).ShouldHaveSingleItem();
    }

    [Fact]
    public async Task AfterTheKeyTemplateChanges_ARedrivenLoad_StillReadsAndQuarantinesTheOriginalWhereItWasFetched()
    {
        File.WriteAllText(Path.Combine(Directory.CreateDirectory(Path.Combine(_dir, "in")).FullName, "a.zip"), "<html>not a zip</html>");

        var first = await RunAsync("first/{name}", redrive: false);
        first.Status.ShouldBe(LoadStatus.Errored);
        first.InboxKey.ShouldBe("first/a.zip");

        // The operator changes the layout, then re-drives: the original stays where it was fetched.
        var again = await RunAsync("second/{name}", redrive: true);

        again.Status.ShouldBe(LoadStatus.Errored);
        again.ErrorKind.ShouldBe(ErrorKind.Format); // the same failure, not "the original is missing"
        again.InboxKey.ShouldBe("first/a.zip");
        File.Exists(Path.Combine(_dir, ".intake", "store", "error", "first", "a.zip")).ShouldBeTrue();
        File.Exists(Path.Combine(_dir, ".intake", "store", "inbox", "second", "a.zip")).ShouldBeFalse();
    }
}
