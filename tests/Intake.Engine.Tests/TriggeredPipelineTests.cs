using Intake.Engine.Scheduling;
using Intake.Engine.Tests.Support;

namespace Intake.Engine.Tests;

/// <summary>
/// <c>schedule: triggered</c>: a pipeline whose files are loaded only when someone names them (an upload trigger, a
/// run with source keys), for the customer the trigger names; <c>intake run</c> never lists its source.
/// </summary>
public sealed class TriggeredPipelineTests
{
    [Fact]
    public async Task RunOnce_LeavesATriggeredPipelinesFilesAlone_UntilATriggerNamesOne_ForItsCustomer()
    {
        await using var project = new EmbeddedProject("intake-triggered-");
        project.Pipeline("uploads", """
            name: uploads
            customer: operator
            type: veritas2hview
            schedule: triggered
            source: { kind: local, path: ../in, stable_for: 0s }
            steps: [fetch, load]
            load: { table: rows }
            """);
        Directory.CreateDirectory(project.In("bobs"));
        File.WriteAllText(project.In("bobs/one.csv"), "id,name\n1,a\n");
        File.WriteAllText(project.In("bobs/two.csv"), "id,name\n2,b\n");

        var config = project.Config().FindPipeline("uploads")!;
        config.TriggeredOnly.ShouldBeTrue();
        config.Schedule.ShouldBeNull();

        await using (var runtime = await project.RunOnceAsync())
        {
            (await runtime.Catalog.ListLoadsAsync(new LoadQuery(), default)).ShouldBeEmpty();

            var run = await new PipelineRuns(runtime).RunAsync(config, ["bobs/two.csv"], "upload", "bobs", default);
            run.New.ShouldBe(1);
        }

        await using (var runtime = await project.RunOnceAsync())
        {
            var load = (await runtime.Catalog.ListLoadsAsync(new LoadQuery(), default)).ShouldHaveSingleItem();
            load.SourceKey.ShouldBe("bobs/two.csv");
            load.Customer.ShouldBe("bobs");
            load.Status.ShouldBe(LoadStatus.Archived);
        }

        project.Rows().ShouldBe(1);
    }
}
