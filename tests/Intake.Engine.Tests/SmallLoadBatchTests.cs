using Intake.Engine.Steps;

namespace Intake.Engine.Tests;

/// <summary>A small-load worker's batch: several small loads claimed at once and carried side by side, each on its own.</summary>
public sealed class SmallLoadBatchTests : IAsyncLifetime
{
    private readonly EmbeddedProject _project = new("intake-batch-");
    private IntakeRuntime _runtime = null!;

    public async Task InitializeAsync()
    {
        _project.Pipeline("p", """
            name: p
            source: { kind: local, path: ../in, stable_for: 0s }
            steps: [fetch, validate, archive, load]
            load:
              table: rows
              columns: { id: bigint not null, name: text }
            """);
        for (var i = 1; i <= 6; i++)
        {
            await File.WriteAllTextAsync(_project.In($"f{i}.csv"), i == 3 ? "id,name\n3,c\nthree,c\n" : $"id,name\n{i},n{i}\n{i + 100},m{i}\n");
        }

        _runtime = await _project.OpenAsync();
        await new Discovery(_runtime).DiscoverAsync(_runtime.Pipeline("p"), default);
    }

    public async Task DisposeAsync()
    {
        await _runtime.DisposeAsync();
        await _project.DisposeAsync();
    }

    [Fact]
    public async Task RunSome_TakesABatchOfSmallLoads_EachEndsOnItsOwn_ABadFileFailsAlone()
    {
        var worker = new Worker(_runtime) { MaxSourceSize = 1024 * 1024, Batch = 4 };

        var first = await worker.RunSomeAsync(null, default);
        var second = await worker.RunSomeAsync(null, default);
        var third = await worker.RunSomeAsync(null, default);

        first.Select(l => l.SourceKey).Order().ShouldBe(["f1.csv", "f2.csv", "f3.csv", "f4.csv"]); // the oldest four
        second.Select(l => l.SourceKey).Order().ShouldBe(["f3.csv", "f5.csv", "f6.csv"]); // the bad file's error stage first, then the rest
        third.ShouldBeEmpty();
        var loads = await _runtime.Catalog.ListLoadsAsync(new LoadQuery(), default);
        loads.Where(l => l.SourceKey != "f3.csv").ShouldAllBe(l => l.Status == LoadStatus.Archived);
        var bad = loads.Single(l => l.SourceKey == "f3.csv");
        bad.Status.ShouldBe(LoadStatus.Errored);
        bad.ErrorKind.ShouldBe(ErrorKind.Schema);
        bad.ErrorMessage.ShouldNotBeNull().ShouldContain("f3.csv");
        _project.Rows().ShouldBe(10); // two rows from each of the five good files, none of the bad one's
        foreach (var load in loads.Where(l => l.Status == LoadStatus.Archived))
        {
            (await _runtime.Catalog.GetStepsAsync(load.Id, default)).Select(s => (s.Step, s.Outcome))
                .ShouldBe([("fetch", StepOutcome.Succeeded), ("validate", StepOutcome.Succeeded), ("load", StepOutcome.Succeeded), ("archive", StepOutcome.Succeeded)]);
        }
    }

    [Fact]
    public async Task RunSome_AWorkerOfBatchOne_TakesOneLoadAtATime()
    {
        var worker = new Worker(_runtime) { MaxSourceSize = 1024 * 1024 };

        (await worker.RunSomeAsync(null, default)).ShouldHaveSingleItem().SourceKey.ShouldBe("f1.csv");
    }
}
