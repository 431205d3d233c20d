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

    [Fact]
    public async Task TwoFilesOfOneName_RegisteredInTheSameSecond_EachLoadKeepsItsOwnOriginal()
    {
        // The default template (…/<received yyyyMMdd_HHmmss>/<name>) renders one key for x/a.csv and y/a.csv. Of one
        // size, so a fetch that finds "its" key taken would once have kept the other file as its original.
        _project.Pipeline("p", """
            name: p
            source: { kind: local, path: ../in, stable_for: 0s }
            steps: [fetch, validate, archive, load]
            load: { table: rows }
            """);
        Directory.CreateDirectory(_project.In("x"));
        Directory.CreateDirectory(_project.In("y"));
        File.WriteAllText(_project.In("x/a.csv"), "id,name\n1,xx\n");
        File.WriteAllText(_project.In("y/a.csv"), "id,name\n2,yy\n");
        var clock = new global::Intake.Tests.Shared.ManualTimeProvider(DateTimeOffset.UtcNow.AddMinutes(1)); // stopped: one second for both
        var runtime = await _project.OpenAsync(time: clock);

        await new Discovery(runtime).DiscoverAsync(runtime.Pipeline("p"), default);
        var worker = new Worker(runtime, Worker.DefaultSteps(runtime));
        while (await worker.RunOneAsync(null, default) is not null)
        {
        }

        var loads = await runtime.Catalog.ListLoadsAsync(new LoadQuery(), default);
        loads.Count.ShouldBe(2);
        loads.ShouldAllBe(l => l.Status == LoadStatus.Archived);
        loads.Select(l => l.InboxKey).Distinct().Count().ShouldBe(2);
        loads[0].InboxKey!.ShouldEndWith($"/{clock.GetUtcNow():yyyyMMdd_HHmmss}/a.csv");
        loads[1].InboxKey.ShouldBe(InboxKeys.WithLoadId(loads[0].InboxKey!, loads[1].Id));
        foreach (var load in loads)
        {
            var original = File.ReadAllText(_project.In(load.SourceKey));
            File.ReadAllText(_project.Stored("inbox/" + load.InboxKey)).ShouldBe(original);
            File.ReadAllText(_project.Stored("archive/" + load.InboxKey)).ShouldBe(original);
        }

        using var warehouse = _project.OpenWarehouse();
        using var rows = warehouse.CreateCommand();
        rows.CommandText = "SELECT name FROM rows ORDER BY id";
        using var reader = rows.ExecuteReader();
        var names = new List<string>();
        while (reader.Read())
        {
            names.Add(reader.GetString(0));
        }

        names.ShouldBe(["xx", "yy"]);
    }
}
