using Intake.Core.Model;

namespace Intake.Catalog.Tests;

/// <summary>The end of a worker's stage: the last step's end, the status change and the claim into the next stage, one transaction.</summary>
public abstract partial class CatalogComplianceTests
{
    [CatalogFact]
    public async Task EndStage_RecordsTheLastStepsEndTheInboxKeyAndTheStatusTogether()
    {
        var id = (await RegisterAsync("a.csv")).Load.Id;
        await ClaimAsync("w1");
        var load = await Catalog.StartStepAsync(id, "load", 1, "w1", None);
        Clock.Advance(TimeSpan.FromMilliseconds(250));

        var now = await Catalog.EndStageAsync(new StageEnd
        {
            LoadId = id, From = LoadStatus.Ingesting, To = LoadStatus.ReadyForArchiving, Worker = "w1",
            StepId = load, Result = new StepResult { RowsIn = 10, RowsOut = 10 }, Details = new TransitionDetails { InboxKey = "acme/x/a.csv" },
        }, None);

        now.ShouldBe(LoadStatus.ReadyForArchiving);
        var step = (await Catalog.GetStepsAsync(id, None)).ShouldHaveSingleItem();
        (step.Id, step.Outcome, step.RowsOut).ShouldBe((load, StepOutcome.Succeeded, 10L));
        var after = await LoadAsync(id);
        (after.Status, after.LeaseOwner, after.LeaseExpiresAt, after.InboxKey).ShouldBe((LoadStatus.ReadyForArchiving, null, null, "acme/x/a.csv"));
        after.UpdatedAt.ShouldBe(step.FinishedAt!.Value);
        (await ClaimAsync("w2", LoadStatus.ReadyForArchiving)).ShouldNotBeNull().Id.ShouldBe(id); // waiting for any worker
    }

    [CatalogFact]
    public async Task EndStage_CarryingOn_TheSameWorkerHoldsTheLoadInTheNextStageWithAFreshLease()
    {
        var id = (await RegisterAsync("a.csv")).Load.Id;
        var claimed = (await ClaimAsync("w1")).ShouldNotBeNull();
        var load = await Catalog.StartStepAsync(id, "load", 1, "w1", None);
        Clock.Advance(TimeSpan.FromMinutes(2));

        var now = await Catalog.EndStageAsync(new StageEnd
        {
            LoadId = id, From = LoadStatus.Ingesting, To = LoadStatus.ReadyForArchiving, Worker = "w1",
            StepId = load, Result = new StepResult(), CarryOnLease = TimeSpan.FromMinutes(3),
        }, None);

        now.ShouldBe(LoadStatus.Archiving);
        var after = await LoadAsync(id);
        (after.Status, after.LeaseOwner, after.Attempts).ShouldBe((LoadStatus.Archiving, "w1", claimed.Attempts)); // an archive claim is no attempt
        after.LeaseExpiresAt.ShouldBe(Clock.GetUtcNow() + TimeSpan.FromMinutes(3));
        after.UpdatedAt.ShouldBe(Clock.GetUtcNow()); // the job timeout counts the time in archiving from here
        (await Catalog.GetStepsAsync(id, None)).ShouldHaveSingleItem().Outcome.ShouldBe(StepOutcome.Succeeded);
        (await ClaimAsync("w2", LoadStatus.ReadyForArchiving)).ShouldBeNull();
        (await Catalog.HeartbeatAsync(id, "w1", Lease, None)).ShouldBeTrue();
        (await Catalog.TransitionAsync(id, LoadStatus.Archiving, LoadStatus.Archived, new TransitionDetails { LeaseOwner = "w1" }, None)).ShouldBeTrue();
    }

    [CatalogFact]
    public async Task EndStage_WithoutAStepRecord_MovesTheLoadOnly()
    {
        var id = (await RegisterAsync("a.csv")).Load.Id;
        await ClaimAsync("w1");
        await Catalog.TransitionAsync(id, LoadStatus.Ingesting, LoadStatus.ReadyForArchiving, new TransitionDetails { LeaseOwner = "w1" }, None);
        await ClaimAsync("w1", LoadStatus.ReadyForArchiving);

        var now = await Catalog.EndStageAsync(new StageEnd { LoadId = id, From = LoadStatus.Archiving, To = LoadStatus.Archived, Worker = "w1" }, None);

        now.ShouldBe(LoadStatus.Archived);
        (await LoadAsync(id)).Status.ShouldBe(LoadStatus.Archived);
        (await Catalog.GetStepsAsync(id, None)).ShouldBeEmpty();
    }

    [CatalogFact]
    public async Task EndStage_ByAWorkerThatNoLongerHoldsTheLoad_WritesNothing()
    {
        var id = (await RegisterAsync("a.csv")).Load.Id;
        var claimed = (await ClaimAsync("w1")).ShouldNotBeNull();
        var load = await Catalog.StartStepAsync(id, "load", 1, "w2", None);

        var now = await Catalog.EndStageAsync(new StageEnd
        {
            LoadId = id, From = LoadStatus.Ingesting, To = LoadStatus.ReadyForArchiving, Worker = "w2",
            StepId = load, Result = new StepResult(), Details = new TransitionDetails { InboxKey = "acme/x/a.csv" }, CarryOnLease = Lease,
        }, None);

        now.ShouldBeNull();
        (await Catalog.GetStepsAsync(id, None)).ShouldHaveSingleItem().Outcome.ShouldBe(StepOutcome.Running);
        (await LoadAsync(id)).ShouldBe(claimed);
    }

    [CatalogFact]
    public async Task EndStage_OnARecordAlreadyFinished_ThrowsAndMovesNothing()
    {
        var id = (await RegisterAsync("a.csv")).Load.Id;
        var claimed = (await ClaimAsync("w1")).ShouldNotBeNull();
        var load = await Catalog.StartStepAsync(id, "load", 1, "w1", None);
        await Catalog.FinishStepAsync(load, StepResult.Failed(Core.Errors.ErrorKind.Transient, "interrupted"), None);

        await Should.ThrowAsync<InvalidOperationException>(() => Catalog.EndStageAsync(new StageEnd
        {
            LoadId = id, From = LoadStatus.Ingesting, To = LoadStatus.ReadyForArchiving, Worker = "w1", StepId = load, Result = new StepResult(), CarryOnLease = Lease,
        }, None));

        (await Catalog.GetStepsAsync(id, None)).ShouldHaveSingleItem().Message.ShouldBe("interrupted");
        (await LoadAsync(id)).ShouldBe(claimed);
    }

    [CatalogFact]
    public async Task EndStage_WithAttemptsDoneBeforeAnyRecord_WritesEachWholeWithItsOwnTimes_InOrder()
    {
        var id = (await RegisterAsync("a.csv")).Load.Id;
        await ClaimAsync("w1");
        var t0 = Clock.GetUtcNow();
        Clock.Advance(TimeSpan.FromSeconds(1));
        FinishedStep[] done =
        [
            new("fetch", 1, t0, t0.AddMilliseconds(10), new StepResult { BytesIn = 155, Outputs = ["inbox:acme/x/a.csv"] }),
            new("validate", 1, t0.AddMilliseconds(10), t0.AddMilliseconds(20), StepResult.Failed(Core.Errors.ErrorKind.Transient, "disk busy")),
            new("validate", 2, t0.AddMilliseconds(30), t0.AddMilliseconds(40), new StepResult { RowsIn = 10, RowsOut = 10 }),
            new("load", 1, t0.AddMilliseconds(40), t0.AddMilliseconds(60), new StepResult { RowsIn = 10, RowsOut = 10 }),
        ];

        var now = await Catalog.EndStageAsync(new StageEnd
        {
            LoadId = id, From = LoadStatus.Ingesting, To = LoadStatus.ReadyForArchiving, Worker = "w1",
            Details = new TransitionDetails { InboxKey = "acme/x/a.csv" }, Done = done, CarryOnLease = Lease,
        }, None);

        now.ShouldBe(LoadStatus.Archiving);
        var steps = await Catalog.GetStepsAsync(id, None);
        steps.Select(s => (s.Step, s.Attempt, s.Outcome, s.Worker)).ShouldBe(
            [("fetch", 1, StepOutcome.Succeeded, "w1"), ("validate", 1, StepOutcome.Failed, "w1"), ("validate", 2, StepOutcome.Succeeded, "w1"), ("load", 1, StepOutcome.Succeeded, "w1")]);
        steps.Select(s => (s.StartedAt, s.FinishedAt)).ShouldBe(done.Select(d => (d.StartedAt, (DateTimeOffset?)d.FinishedAt)));
        steps[0].Outputs.ShouldBe(["inbox:acme/x/a.csv"]);
        (steps[1].ErrorKind, steps[1].Message, steps[2].RowsOut).ShouldBe((Core.Errors.ErrorKind.Transient, "disk busy", 10L));
        (await LoadAsync(id)).InboxKey.ShouldBe("acme/x/a.csv");
        // Counted in the hourly rollup like a record finished on its own: the rows the load step wrote.
        (await Catalog.GetRowsPerHourAsync(null, t0.AddHours(-1), None)).Sum(h => h.Rows).ShouldBe(10);
    }

    [CatalogFact]
    public async Task EndStage_WithAttemptsDone_ByAWorkerThatNoLongerHoldsTheLoad_WritesNoneOfThem()
    {
        var id = (await RegisterAsync("a.csv")).Load.Id;
        var claimed = (await ClaimAsync("w1")).ShouldNotBeNull();

        var now = await Catalog.EndStageAsync(new StageEnd
        {
            LoadId = id, From = LoadStatus.Ingesting, To = LoadStatus.ReadyForErroring, Worker = "w2",
            Done = [new("fetch", 1, Clock.GetUtcNow(), Clock.GetUtcNow(), new StepResult())],
        }, None);

        now.ShouldBeNull();
        (await Catalog.GetStepsAsync(id, None)).ShouldBeEmpty();
        (await LoadAsync(id)).ShouldBe(claimed);
    }

    [CatalogFact]
    public async Task RecordSteps_WritesTheAttemptsAndTheInboxKey_OnlyWhileTheWorkerHoldsTheLoad()
    {
        var id = (await RegisterAsync("a.csv")).Load.Id;
        await ClaimAsync("w1");
        var at = Clock.GetUtcNow();
        FinishedStep[] done = [new("fetch", 1, at, at, new StepResult { BytesIn = 1 })];

        (await Catalog.RecordStepsAsync(id, "w2", done, "acme/x/a.csv", None)).ShouldBeFalse();
        (await Catalog.GetStepsAsync(id, None)).ShouldBeEmpty();
        (await LoadAsync(id)).InboxKey.ShouldBeNull();

        (await Catalog.RecordStepsAsync(id, "w1", done, "acme/x/a.csv", None)).ShouldBeTrue();
        (await Catalog.GetStepsAsync(id, None)).ShouldHaveSingleItem().Step.ShouldBe("fetch");
        (await LoadAsync(id)).InboxKey.ShouldBe("acme/x/a.csv");
        (await Catalog.RecordStepsAsync(id, "w1", [], null, None)).ShouldBeTrue(); // nothing to write, the key left alone
        (await LoadAsync(id)).InboxKey.ShouldBe("acme/x/a.csv");
    }

    [CatalogFact]
    public Task EndStage_ManyWorkersAtOnce_EachGetsItsOwnAnswer() => EndManyAtOnceAsync(withFailures: false, together: null);

    [CatalogFact]
    public Task EndStage_ManyWorkersAtOnce_OneThatFailsDisturbsNoOther() => EndManyAtOnceAsync(withFailures: true, together: null);

    [CatalogFact]
    public async Task EndStage_PlainEnds_GoInOneStatementOnPostgres_ALostLeaseIsAnsweredNull_AndItsAttemptsAreNotWritten()
    {
        var ids = new List<long>();
        for (var i = 0; i < 3; i++)
        {
            ids.Add((await RegisterAsync($"p{i}.csv")).Load.Id);
            (await ClaimAsync($"w{i}")).ShouldNotBeNull();
        }

        var at = Clock.GetUtcNow();
        StageEnd EndOf(int i) => new()
        {
            LoadId = ids[i], From = LoadStatus.Ingesting, To = LoadStatus.ReadyForArchiving,
            Worker = i == 1 ? "someone-else" : $"w{i}", // load 1's lease is not this worker's: a plain end that loses
            Details = new TransitionDetails { InboxKey = $"acme/p{i}.csv" },
            Done = [new FinishedStep("fetch", 1, at, at, new StepResult { BytesIn = 10 + i })],
            CarryOnLease = i == 2 ? Lease : null,
        };

        var group = await Catalog.EndStagesTogetherAsync([EndOf(0), EndOf(1), EndOf(2)]);

        group.Together.ShouldBeTrue();
        (await Task.WhenAll(group.Answers)).ShouldBe([LoadStatus.ReadyForArchiving, null, LoadStatus.Archiving]);
        Catalog.PlainStatementsCommitted.ShouldBe(Catalog is PostgresCatalog ? 1 : 0);
        var (done, lost, carried) = (await LoadAsync(ids[0]), await LoadAsync(ids[1]), await LoadAsync(ids[2]));
        (done.Status, done.LeaseOwner, done.InboxKey).ShouldBe((LoadStatus.ReadyForArchiving, null, "acme/p0.csv"));
        (lost.Status, lost.LeaseOwner, lost.InboxKey).ShouldBe((LoadStatus.Ingesting, "w1", null));
        (carried.Status, carried.LeaseOwner, carried.LeaseExpiresAt).ShouldBe((LoadStatus.Archiving, "w2", at + Lease));
        (await Catalog.GetStepsAsync(ids[0], None)).ShouldHaveSingleItem().BytesIn.ShouldBe(10);
        (await Catalog.GetStepsAsync(ids[1], None)).ShouldBeEmpty();
        (await Catalog.GetStepsAsync(ids[2], None)).ShouldHaveSingleItem().BytesIn.ShouldBe(12);
    }

    [CatalogFact]
    public Task EndStage_InOneCommit_EachGetsItsOwnAnswer() => EndManyAtOnceAsync(withFailures: false, together: true);

    [CatalogFact]
    public Task EndStage_InOneCommit_OneThatFails_RunsEachAlone_AndDisturbsNoOther() => EndManyAtOnceAsync(withFailures: true, together: false);

    /// <summary>
    /// Ends asked for while another commits go in one transaction together; each stays its own compare-and-set, and an
    /// end that cannot be written (load 9's lease lost, load 5's record already closed) is answered as it would be alone.
    /// With <paramref name="together"/> given, the ends are handed over as one group (workers cannot be timed to meet in
    /// one), and whether they went in one transaction is checked; otherwise they come from concurrent callers.
    /// </summary>
    private async Task EndManyAtOnceAsync(bool withFailures, bool? together)
    {
        var ids = new List<long>();
        for (var i = 0; i < 16; i++)
        {
            ids.Add((await RegisterAsync($"f{i}.csv")).Load.Id);
            (await ClaimAsync($"w{i}")).ShouldNotBeNull();
        }

        var closed = await Catalog.StartStepAsync(ids[5], "load", 1, "w5", None);
        await Catalog.FinishStepAsync(closed, StepResult.Failed(Core.Errors.ErrorKind.Transient, "interrupted"), None);
        var at = Clock.GetUtcNow();
        StageEnd EndOf(int i) => new()
        {
            LoadId = ids[i], From = LoadStatus.Ingesting, To = LoadStatus.ReadyForArchiving,
            Worker = withFailures && i == 9 ? "someone-else" : $"w{i}",
            StepId = withFailures && i == 5 ? closed : null, Result = withFailures && i == 5 ? new StepResult() : null,
            Details = new TransitionDetails { InboxKey = $"acme/x/f{i}.csv" },
            Done = [new FinishedStep("fetch", 1, at, at, new StepResult { BytesIn = i })],
            CarryOnLease = i % 2 == 0 ? Lease : null,
        };

        IReadOnlyList<Task<LoadStatus?>> ends;
        if (together is { } inOne)
        {
            var group = await Catalog.EndStagesTogetherAsync([.. Enumerable.Range(0, ids.Count).Select(EndOf)]);
            group.Together.ShouldBe(inOne);
            ends = group.Answers;
        }
        else
        {
            var go = new TaskCompletionSource();
            ends = [.. Enumerable.Range(0, ids.Count).Select(i => Task.Run(async () =>
            {
                await go.Task;
                return await Catalog.EndStageAsync(EndOf(i), None);
            }))];
            go.SetResult();
        }

        await Task.WhenAll(ends.Select(e => e.ContinueWith(_ => { }, TaskScheduler.Default)));

        for (var i = 0; i < ids.Count; i++)
        {
            var steps = await Catalog.GetStepsAsync(ids[i], None);
            var load = await LoadAsync(ids[i]);
            if (withFailures && i == 5)
            {
                (await Should.ThrowAsync<InvalidOperationException>(() => ends[i])).ShouldNotBeNull();
                (load.Status, load.InboxKey).ShouldBe((LoadStatus.Ingesting, null));
                steps.ShouldHaveSingleItem().Message.ShouldBe("interrupted");
            }
            else if (withFailures && i == 9)
            {
                (await ends[i]).ShouldBeNull();
                (load.Status, load.LeaseOwner, load.InboxKey).ShouldBe((LoadStatus.Ingesting, "w9", null));
                steps.ShouldBeEmpty();
            }
            else
            {
                var expected = i % 2 == 0 ? LoadStatus.Archiving : LoadStatus.ReadyForArchiving;
                (await ends[i]).ShouldBe(expected);
                (load.Status, load.InboxKey, load.LeaseOwner).ShouldBe((expected, $"acme/x/f{i}.csv", i % 2 == 0 ? $"w{i}" : null));
                steps.Single(s => s.Step == "fetch").BytesIn.ShouldBe(i);
            }
        }
    }

    [CatalogFact]
    public async Task EndStage_CarryingOnFromAStatusNoWorkerClaims_IsRefused()
    {
        var id = (await RegisterAsync("a.csv")).Load.Id;
        await ClaimAsync("w1");

        await Should.ThrowAsync<ArgumentException>(() => Catalog.EndStageAsync(new StageEnd
        {
            LoadId = id, From = LoadStatus.Ingesting, To = LoadStatus.Held, Worker = "w1", CarryOnLease = Lease,
        }, None));

        (await LoadAsync(id)).Status.ShouldBe(LoadStatus.Ingesting);
    }
}

/// <summary>A worker's claim from several waiting statuses in its order of preference, in one statement.</summary>
public abstract partial class CatalogComplianceTests
{
    private Task<Load?> ClaimInOrderAsync(string worker, IReadOnlyCollection<string>? pipelines = null) =>
        Catalog.ClaimAsync(new ClaimRequest
        {
            Worker = worker, From = LoadStatus.ReadyForErroring, ThenFrom = [LoadStatus.ReadyForArchiving, LoadStatus.Ready], Lease = Lease, Pipelines = pipelines,
        }, None);

    [CatalogFact]
    public async Task ClaimInOrder_TakesErrorsThenArchivingThenNewLoads_OldestFirst_CountingOnlyIngestAsAnAttempt()
    {
        var a = (await RegisterAsync("a.csv")).Load.Id;
        var b = (await RegisterAsync("b.csv")).Load.Id;
        var c = (await RegisterAsync("c.csv")).Load.Id;
        var d = (await RegisterAsync("d.csv")).Load.Id;
        await ClaimAsync("w0");
        await Catalog.TransitionAsync(a, LoadStatus.Ingesting, LoadStatus.ReadyForArchiving, new TransitionDetails { LeaseOwner = "w0" }, None);
        await ClaimAsync("w0");
        await Catalog.TransitionAsync(b, LoadStatus.Ingesting, LoadStatus.ReadyForErroring, new TransitionDetails { LeaseOwner = "w0", ErrorKind = Core.Errors.ErrorKind.Format, ErrorMessage = "bad" }, None);

        var claimed = new[] { await ClaimInOrderAsync("w1"), await ClaimInOrderAsync("w2"), await ClaimInOrderAsync("w3", ["orders"]), await ClaimInOrderAsync("w4", ["other"]) };

        claimed[3].ShouldBeNull();
        claimed.Take(3).Select(l => (l!.Id, l.Status, l.LeaseOwner, l.Attempts)).ShouldBe(
            [(b, LoadStatus.Erroring, "w1", 1), (a, LoadStatus.Archiving, "w2", 1), (c, LoadStatus.Ingesting, "w3", 1)]);
        claimed[2]!.LeaseExpiresAt.ShouldBe(Clock.GetUtcNow() + Lease);
        (await ClaimInOrderAsync("w5"))!.Id.ShouldBe(d);
        (await ClaimInOrderAsync("w6")).ShouldBeNull();
        (await LoadAsync(a)).ShouldBe(claimed[1]);
    }
}

/// <summary>A small-load worker's claim: only loads whose original is known to be small.</summary>
public abstract partial class CatalogComplianceTests
{
    [CatalogFact]
    public async Task Claim_WithAMaximumSize_TakesOnlyLoadsKnownToBeThatSmall_OldestFirst_InEveryWaitingStatus()
    {
        var big = (await Catalog.RegisterLoadAsync(new NewLoad("orders", "acme", "big.csv", "f", 5_000_000), None)).Load.Id;
        var unknown = (await Catalog.RegisterLoadAsync(new NewLoad("orders", "acme", "api-page", "f"), None)).Load.Id;
        var small = (await Catalog.RegisterLoadAsync(new NewLoad("orders", "acme", "small.csv", "f", 1_000), None)).Load.Id;
        var edge = (await Catalog.RegisterLoadAsync(new NewLoad("orders", "acme", "edge.csv", "f", 1_048_576), None)).Load.Id;
        Task<Load?> ClaimSmallAsync(string worker) => Catalog.ClaimAsync(new ClaimRequest
        {
            Worker = worker, From = LoadStatus.ReadyForErroring, ThenFrom = [LoadStatus.ReadyForArchiving, LoadStatus.Ready], Lease = Lease, MaxSourceSize = 1_048_576,
        }, None);

        (await ClaimSmallAsync("s1"))!.Id.ShouldBe(small);
        (await Catalog.TransitionAsync(small, LoadStatus.Ingesting, LoadStatus.ReadyForArchiving, new TransitionDetails { LeaseOwner = "s1" }, None)).ShouldBeTrue();
        var next = await ClaimSmallAsync("s2");
        (next!.Id, next.Status).ShouldBe((small, LoadStatus.Archiving)); // archiving before new loads, as any worker's claim
        (await ClaimSmallAsync("s3"))!.Id.ShouldBe(edge);
        (await ClaimSmallAsync("s4")).ShouldBeNull(); // the big one and the one of unknown size wait for another worker

        (await ClaimAsync("w1"))!.Id.ShouldBe(big);
        (await ClaimAsync("w2"))!.Id.ShouldBe(unknown);
    }
}
