namespace Intake.Engine.Tests;

/// <summary>A load's facts are recorded, not recomputed: the inbox key is the one written when the original was fetched.</summary>
public sealed class InboxKeyTests : IAsyncLifetime
{
    private readonly EmbeddedProject _project = new("intake-inbox-key-");

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync() => await _project.DisposeAsync();

    private async Task<Load> RunAsync(string keyTemplate, bool redrive)
    {
        _project.Pipeline("p", $$"""
            name: p
            source: { kind: local, path: ../in, stable_for: 0s }
            steps: [fetch, decompress, archive, load]
            key_template: "{{keyTemplate}}"
            load: { table: rows }
            """);
        var loads = await _project.RunAsync(before: async runtime =>
        {
            if (redrive)
            {
                var errored = (await runtime.Catalog.ListLoadsAsync(new LoadQuery(), default)).ShouldHaveSingleItem();
                (await runtime.Actions.RedriveAsync(errored, default)).Done.ShouldBeTrue();
            }
        });
        return loads.ShouldHaveSingleItem();
    }

    [Fact]
    public async Task AfterTheKeyTemplateChanges_ARedrivenLoad_StillReadsAndQuarantinesTheOriginalWhereItWasFetched()
    {
        File.WriteAllText(_project.In("a.zip"), "<html>not a zip</html>");

        var first = await RunAsync("first/{name}", redrive: false);
        first.Status.ShouldBe(LoadStatus.Errored);
        first.InboxKey.ShouldBe("first/a.zip");

        // The operator changes the layout, then re-drives: the original stays where it was fetched.
        var again = await RunAsync("second/{name}", redrive: true);

        again.Status.ShouldBe(LoadStatus.Errored);
        again.ErrorKind.ShouldBe(ErrorKind.Format); // the same failure, not "the original is missing"
        again.InboxKey.ShouldBe("first/a.zip");
        File.Exists(_project.Stored("error/first/a.zip")).ShouldBeTrue();
        File.Exists(_project.Stored("inbox/second/a.zip")).ShouldBeFalse();
    }
}
