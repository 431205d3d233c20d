using Intake.Core.Model;

namespace Intake.Catalog.Tests;

/// <summary>A worker's hand-over from one step to the next: the end of one record and the start of the next, one transaction.</summary>
public abstract partial class CatalogComplianceTests
{
    [CatalogFact]
    public async Task FinishAndStartStep_RecordsTheEndTheInboxKeyAndTheNextStartTogether()
    {
        var id = (await RegisterAsync("a.csv")).Load.Id;
        await ClaimAsync("w1");
        var fetch = await Catalog.StartStepAsync(id, "fetch", 1, "w1", None);
        Clock.Advance(TimeSpan.FromMilliseconds(250));

        var validate = await Catalog.FinishAndStartStepAsync(
            fetch, new StepResult { BytesIn = 42, Outputs = ["inbox:acme/x/a.csv"] },
            new NextStep { LoadId = id, Step = "validate", Attempt = 1, Worker = "w1", InboxKey = "acme/x/a.csv" }, None);

        var steps = await Catalog.GetStepsAsync(id, None);
        steps.Select(s => (s.Id, s.Step, s.Attempt, s.Outcome, s.Worker)).ShouldBe(
            [(fetch, "fetch", 1, StepOutcome.Succeeded, "w1"), (validate.ShouldNotBeNull(), "validate", 1, StepOutcome.Running, "w1")]);
        steps[0].BytesIn.ShouldBe(42);
        steps[0].Outputs.ShouldBe(["inbox:acme/x/a.csv"]);
        steps[0].FinishedAt.ShouldBe(steps[1].StartedAt);
        (await LoadAsync(id)).InboxKey.ShouldBe("acme/x/a.csv");
    }

    [CatalogFact]
    public async Task FinishAndStartStep_WithoutAnInboxKey_LeavesTheLoadAlone()
    {
        var id = (await RegisterAsync("a.csv")).Load.Id;
        var claimed = (await ClaimAsync("w1")).ShouldNotBeNull();
        var validate = await Catalog.StartStepAsync(id, "validate", 1, "w1", None);
        Clock.Advance(TimeSpan.FromSeconds(1));

        var load = await Catalog.FinishAndStartStepAsync(validate, new StepResult { RowsIn = 10 }, new NextStep { LoadId = id, Step = "load", Attempt = 1, Worker = "w1" }, None);

        (await Catalog.GetStepsAsync(id, None)).Select(s => (s.Id, s.Outcome)).ShouldBe([(validate, StepOutcome.Succeeded), (load.ShouldNotBeNull(), StepOutcome.Running)]);
        (await LoadAsync(id)).ShouldBe(claimed);
    }

    [CatalogFact]
    public async Task FinishAndStartStep_ByAWorkerThatNoLongerHoldsTheLoad_WritesNothing()
    {
        var id = (await RegisterAsync("a.csv")).Load.Id;
        await ClaimAsync("w1");
        var fetch = await Catalog.StartStepAsync(id, "fetch", 1, "w2", None);

        var next = await Catalog.FinishAndStartStepAsync(
            fetch, new StepResult(), new NextStep { LoadId = id, Step = "validate", Attempt = 1, Worker = "w2", InboxKey = "acme/x/a.csv" }, None);

        next.ShouldBeNull();
        (await Catalog.GetStepsAsync(id, None)).Select(s => (s.Id, s.Outcome)).ShouldBe([(fetch, StepOutcome.Running)]);
        (await LoadAsync(id)).InboxKey.ShouldBeNull();
    }

    [CatalogFact]
    public async Task FinishAndStartStep_OnARecordAlreadyFinished_ThrowsAndStartsNothing()
    {
        var id = (await RegisterAsync("a.csv")).Load.Id;
        await ClaimAsync("w1");
        var fetch = await Catalog.StartStepAsync(id, "fetch", 1, "w1", None);
        await Catalog.FinishStepAsync(fetch, StepResult.Failed(Core.Errors.ErrorKind.Transient, "interrupted"), None);

        await Should.ThrowAsync<InvalidOperationException>(() => Catalog.FinishAndStartStepAsync(
            fetch, new StepResult(), new NextStep { LoadId = id, Step = "validate", Attempt = 1, Worker = "w1", InboxKey = "acme/x/a.csv" }, None));

        (await Catalog.GetStepsAsync(id, None)).Select(s => (s.Id, s.Outcome, s.Message)).ShouldBe([(fetch, StepOutcome.Failed, "interrupted")]);
        (await LoadAsync(id)).InboxKey.ShouldBeNull();
    }
}
