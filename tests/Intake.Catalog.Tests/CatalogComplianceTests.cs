using Intake.Shared.Migrations;
using Intake.Core.Errors;
using Intake.Core.Model;
using Intake.Tests.Shared;

namespace Intake.Catalog.Tests;

/// <summary>
/// What every catalog must do, whatever the database: subclassed once per implementation, so SQLite and
/// PostgreSQL are held to the same behaviour. Each test gets an empty, migrated database.
/// </summary>
public abstract partial class CatalogComplianceTests : IAsyncLifetime
{
    private static readonly TimeSpan Lease = TimeSpan.FromMinutes(5);
    private static readonly CancellationToken None = CancellationToken.None;
    private static readonly string[] NoOutputs = [];

    private readonly List<SqlCatalog> _opened = [];

    protected ManualTimeProvider Clock { get; } = new(new DateTimeOffset(2026, 3, 1, 8, 0, 0, TimeSpan.Zero));

    protected SqlCatalog Catalog { get; private set; } = null!;

    /// <summary>Creates this test's empty database.</summary>
    protected abstract Task CreateDatabaseAsync();

    /// <summary>A new catalog instance on this test's database: to the database, another process.</summary>
    protected abstract SqlCatalog OpenCatalog(TimeProvider time);

    protected abstract Task DropDatabaseAsync();

    public async Task InitializeAsync()
    {
        await CreateDatabaseAsync();
        Catalog = Open();
        await Catalog.MigrateAsync(None);
    }

    public async Task DisposeAsync()
    {
        foreach (var catalog in _opened)
        {
            await catalog.DisposeAsync();
        }

        await DropDatabaseAsync();
    }

    private SqlCatalog Open()
    {
        var catalog = OpenCatalog(Clock);
        _opened.Add(catalog);
        return catalog;
    }

    private Task<RegisterResult> RegisterAsync(string key, string fingerprint = "f1", string pipeline = "orders", string customer = "acme") =>
        Catalog.RegisterLoadAsync(new NewLoad(pipeline, customer, key, fingerprint, 100), None);

    private async Task<Load> LoadAsync(long id) => (await Catalog.GetLoadAsync(id, None)).ShouldNotBeNull();

    private Task<Load?> ClaimAsync(string worker = "w1", LoadStatus from = LoadStatus.Ready, IReadOnlyCollection<string>? pipelines = null) =>
        Catalog.ClaimAsync(new ClaimRequest { Worker = worker, From = from, Lease = Lease, Pipelines = pipelines }, None);

    // ---- migrations ----

    [CatalogFact]
    public async Task Migrate_WhenRunAgain_AppliesNothingAndKeepsTheLoads()
    {
        var registered = await RegisterAsync("a.csv");

        await Catalog.MigrateAsync(None);
        await Open().MigrateAsync(None);

        (await LoadAsync(registered.Load.Id)).ShouldBe(registered.Load);
    }

    [CatalogFact]
    public async Task Migrate_FromSeveralProcessesAtOnce_AppliesEachMigrationOnce()
    {
        // A new migration that would fail if two starters applied it (the table exists the second time).
        var migrations = Catalog.Migrations.Append(new Migration(900, "0900_extra.sql", "CREATE TABLE intake_extra (id integer)")).ToList();
        var starters = Enumerable.Range(0, 4).Select(_ => Open()).ToList();

        await Task.WhenAll(starters.Select(c => Task.Run(() => c.MigrateAsync(migrations, None))));

        // Applied: the same list again is a no-op, and the embedded list alone now looks older than the catalog.
        await Catalog.MigrateAsync(migrations, None);
        var ex = await Should.ThrowAsync<IntakeException>(() => Catalog.MigrateAsync(None));
        ex.Kind.ShouldBe(ErrorKind.Config);
        ex.Message.ShouldContain("newer than this Intake knows");
    }

    [CatalogFact]
    public async Task Migrate_WhenAMigrationFails_ThrowsConfigNamingTheFileAndSqlAndAppliesNothing()
    {
        const string Sql = "CREATE TABLE intake_half (id integer);\nSELECT missing_column FROM intake_no_such_table;";
        var broken = Catalog.Migrations.Append(new Migration(901, "0901_broken.sql", Sql)).ToList();

        var ex = await Should.ThrowAsync<IntakeException>(() => Catalog.MigrateAsync(broken, None));

        ex.Kind.ShouldBe(ErrorKind.Config);
        ex.Message.ShouldContain("0901_broken.sql");
        ex.Message.ShouldContain(Sql);
        // Rolled back: the first statement of the failed file left no table behind, so this succeeds.
        var fixedList = Catalog.Migrations.Append(new Migration(901, "0901_fixed.sql", "CREATE TABLE intake_half (id integer)")).ToList();
        await Catalog.MigrateAsync(fixedList, None);
    }

    // ---- register ----

    [CatalogFact]
    public async Task Register_NewIdentity_CreatesReadyLoadWithEveryField()
    {
        var result = await Catalog.RegisterLoadAsync(new NewLoad("orders", "acme", "in/a.csv", "size=10;etag=x", 10), None);

        result.Created.ShouldBeTrue();
        var load = await LoadAsync(result.Load.Id);
        load.ShouldBe(result.Load);
        load.Pipeline.ShouldBe("orders");
        load.Customer.ShouldBe("acme");
        load.SourceKey.ShouldBe("in/a.csv");
        load.Fingerprint.ShouldBe("size=10;etag=x");
        load.SourceSize.ShouldBe(10);
        load.Status.ShouldBe(LoadStatus.Ready);
        load.Attempts.ShouldBe(0);
        load.LeaseOwner.ShouldBeNull();
        load.LeaseExpiresAt.ShouldBeNull();
        load.ErrorKind.ShouldBeNull();
        load.CreatedAt.ShouldBe(Clock.GetUtcNow());
        load.UpdatedAt.ShouldBe(Clock.GetUtcNow());
    }

    [CatalogFact]
    public async Task Register_SameIdentityTwice_ReturnsTheExistingLoad()
    {
        var first = await RegisterAsync("a.csv");
        await ClaimAsync();

        var second = await RegisterAsync("a.csv");

        second.Created.ShouldBeFalse();
        second.Load.Id.ShouldBe(first.Load.Id);
        second.Load.Status.ShouldBe(LoadStatus.Ingesting);
        (await Catalog.ListLoadsAsync(new LoadQuery(), None)).Count.ShouldBe(1);
    }

    [CatalogFact]
    public async Task Register_ChangedFingerprintUnderTheSameKey_CreatesANewLoad()
    {
        var first = await RegisterAsync("a.csv", "f1");

        var changed = await RegisterAsync("a.csv", "f2");

        changed.Created.ShouldBeTrue();
        changed.Load.Id.ShouldNotBe(first.Load.Id);
        (await Catalog.ListLoadsAsync(new LoadQuery(), None)).Count.ShouldBe(2);
    }

    [CatalogFact]
    public async Task Register_SameIdentityFromSeveralProcessesAtOnce_CreatesOneLoad()
    {
        var processes = Enumerable.Range(0, 6).Select(_ => Open()).ToList();

        var results = await Task.WhenAll(processes.Select(c => Task.Run(() => c.RegisterLoadAsync(new NewLoad("orders", "acme", "a.csv", "f1"), None))));

        results.Count(r => r.Created).ShouldBe(1);
        results.Select(r => r.Load.Id).Distinct().Count().ShouldBe(1);
    }

    [CatalogFact]
    public async Task Register_WithAStepDoneBefore_RecordsItWithTheLoad_AndNotAgainForTheSameIdentity()
    {
        var done = new RegisteredStep("receive", "mail:127.0.0.1", new StepResult { BytesIn = 10, BytesOut = 10, Outputs = ["inbox:m/a.eml"], Message = "from a@x to b@y" });
        var first = await Catalog.RegisterLoadAsync(new NewLoad("mail", "acme", "<m1@x>", "sha256=a", 10) { DoneStep = done }, None);
        var again = await Catalog.RegisterLoadAsync(new NewLoad("mail", "acme", "<m1@x>", "sha256=a", 10) { DoneStep = done }, None);

        first.Created.ShouldBeTrue();
        again.Created.ShouldBeFalse();
        var step = (await Catalog.GetStepsAsync(first.Load.Id, None)).ShouldHaveSingleItem();
        (step.Step, step.Attempt, step.Outcome, step.Worker).ShouldBe(("receive", 1, StepOutcome.Succeeded, "mail:127.0.0.1"));
        (step.BytesIn, step.Message).ShouldBe((10L, "from a@x to b@y"));
        step.Outputs.ShouldBe(["inbox:m/a.eml"]);
        step.StartedAt.ShouldBe(Clock.GetUtcNow());
        step.FinishedAt.ShouldBe(Clock.GetUtcNow());
        Should.Throw<ArgumentException>(() => Catalog.RegisterLoadAsync(new NewLoad("mail", "acme", "<m2@x>", "sha256=b") { DoneStep = done with { Result = new StepResult { Outcome = StepOutcome.Running } } }, None));
    }

    // ---- transitions ----

    [CatalogFact]
    public async Task Transition_WhenAnotherWorkerMovedTheLoadFirst_ReturnsFalse()
    {
        var id = (await RegisterAsync("a.csv")).Load.Id;
        await ClaimAsync();

        (await Catalog.TransitionAsync(id, LoadStatus.Ingesting, LoadStatus.ReadyForArchiving, null, None)).ShouldBeTrue();
        (await Catalog.TransitionAsync(id, LoadStatus.Ingesting, LoadStatus.ReadyForErroring, null, None)).ShouldBeFalse();

        (await LoadAsync(id)).Status.ShouldBe(LoadStatus.ReadyForArchiving);
    }

    [CatalogFact]
    public async Task Transition_NotInTheTable_ThrowsAndChangesNothing()
    {
        var id = (await RegisterAsync("a.csv")).Load.Id;

        await Should.ThrowAsync<InvalidOperationException>(() => Catalog.TransitionAsync(id, LoadStatus.Ready, LoadStatus.Archived, null, None));

        (await LoadAsync(id)).Status.ShouldBe(LoadStatus.Ready);
    }

    [CatalogFact]
    public async Task RecordInboxKey_OnlyByTheWorkerHoldingTheLoad_AndWithoutRestartingItsTimeout()
    {
        var id = (await RegisterAsync("a.csv")).Load.Id;
        var claimed = await ClaimAsync("w1");
        Clock.Advance(TimeSpan.FromSeconds(5));

        (await Catalog.RecordInboxKeyAsync(id, "w2", "acme/x/a.csv", None)).ShouldBeFalse();
        (await LoadAsync(id)).InboxKey.ShouldBeNull();

        (await Catalog.RecordInboxKeyAsync(id, "w1", "acme/x/a.csv", None)).ShouldBeTrue();
        var load = await LoadAsync(id);
        load.InboxKey.ShouldBe("acme/x/a.csv");
        load.UpdatedAt.ShouldBe(claimed!.UpdatedAt);
    }

    [CatalogFact]
    public async Task Transition_WhenTheLeaseBelongsToAnotherWorker_ReturnsFalse()
    {
        var id = (await RegisterAsync("a.csv")).Load.Id;
        await ClaimAsync("w1");

        (await Catalog.TransitionAsync(id, LoadStatus.Ingesting, LoadStatus.ReadyForArchiving, new TransitionDetails { LeaseOwner = "w2" }, None)).ShouldBeFalse();
        (await LoadAsync(id)).Status.ShouldBe(LoadStatus.Ingesting);

        (await Catalog.TransitionAsync(id, LoadStatus.Ingesting, LoadStatus.ReadyForArchiving, new TransitionDetails { LeaseOwner = "w1" }, None)).ShouldBeTrue();
    }

    [CatalogFact]
    public async Task Transition_LeavingAWorkingStatus_ReleasesTheLeaseAndStampsTheTime()
    {
        var id = (await RegisterAsync("a.csv")).Load.Id;
        await ClaimAsync();
        Clock.Advance(TimeSpan.FromSeconds(42));

        await Catalog.TransitionAsync(id, LoadStatus.Ingesting, LoadStatus.ReadyForArchiving, new TransitionDetails { InboxKey = "inbox:acme/a.csv" }, None);

        var load = await LoadAsync(id);
        load.LeaseOwner.ShouldBeNull();
        load.LeaseExpiresAt.ShouldBeNull();
        load.InboxKey.ShouldBe("inbox:acme/a.csv");
        load.UpdatedAt.ShouldBe(Clock.GetUtcNow());
        load.CreatedAt.ShouldBe(Clock.GetUtcNow() - TimeSpan.FromSeconds(42));
    }

    [CatalogFact]
    public async Task Transition_ToHeld_KeepsTheReasonUntilReleased()
    {
        var id = (await RegisterAsync("changes.csv")).Load.Id;

        await Catalog.TransitionAsync(id, LoadStatus.Ready, LoadStatus.Held, new TransitionDetails { HeldReason = "waiting for snapshot" }, None);
        (await LoadAsync(id)).HeldReason.ShouldBe("waiting for snapshot");

        await Catalog.TransitionAsync(id, LoadStatus.Held, LoadStatus.Ready, null, None);
        var released = await LoadAsync(id);
        released.Status.ShouldBe(LoadStatus.Ready);
        released.HeldReason.ShouldBeNull();
    }

    [CatalogFact]
    public async Task Transition_WithAnError_RecordsItAndARedriveClearsItAndTheAttempts()
    {
        var id = (await RegisterAsync("a.csv")).Load.Id;
        await ClaimAsync();
        await Catalog.TransitionAsync(id, LoadStatus.Ingesting, LoadStatus.ReadyForErroring,
            new TransitionDetails { ErrorKind = ErrorKind.Format, ErrorMessage = "bad CSV at line 3", ErrorCode = "PropertyFileFormatDecompressException", InboxKey = "inbox:a.csv" }, None);
        await ClaimAsync(from: LoadStatus.ReadyForErroring);
        // An intermediate transition without error details keeps the recorded error.
        await Catalog.TransitionAsync(id, LoadStatus.Erroring, LoadStatus.Errored, null, None);

        var failed = await LoadAsync(id);
        failed.Status.ShouldBe(LoadStatus.Errored);
        failed.ErrorKind.ShouldBe(ErrorKind.Format);
        failed.ErrorMessage.ShouldBe("bad CSV at line 3");
        failed.ErrorCode.ShouldBe("PropertyFileFormatDecompressException");
        failed.Attempts.ShouldBe(1);

        await Catalog.TransitionAsync(id, LoadStatus.Errored, LoadStatus.Ready, new TransitionDetails { ClearError = true, ResetAttempts = true }, None);

        var redriven = await LoadAsync(id);
        redriven.Status.ShouldBe(LoadStatus.Ready);
        redriven.ErrorKind.ShouldBeNull();
        redriven.ErrorMessage.ShouldBeNull();
        redriven.ErrorCode.ShouldBeNull();
        redriven.Attempts.ShouldBe(0);
        redriven.InboxKey.ShouldBe("inbox:a.csv");
    }

    // ---- claims ----

    [CatalogFact]
    public async Task Claim_FromReady_TakesTheOldestLoadLeasesItAndCountsAnAttempt()
    {
        var oldest = (await RegisterAsync("a.csv")).Load.Id;
        await RegisterAsync("b.csv");

        var claimed = (await ClaimAsync("w1")).ShouldNotBeNull();

        claimed.Id.ShouldBe(oldest);
        claimed.Status.ShouldBe(LoadStatus.Ingesting);
        claimed.Attempts.ShouldBe(1);
        claimed.LeaseOwner.ShouldBe("w1");
        claimed.LeaseExpiresAt.ShouldBe(Clock.GetUtcNow() + Lease);
        (await LoadAsync(oldest)).ShouldBe(claimed);
    }

    [CatalogFact]
    public async Task Claim_WhenNothingWaits_ReturnsNull()
    {
        await RegisterAsync("a.csv");
        await ClaimAsync();

        (await ClaimAsync()).ShouldBeNull();
        (await ClaimAsync(from: LoadStatus.ReadyForArchiving)).ShouldBeNull();
    }

    [CatalogFact]
    public async Task Claim_WithPipelines_TakesOnlyLoadsOfThosePipelines()
    {
        await RegisterAsync("a.csv", pipeline: "orders");
        var invoices = (await RegisterAsync("b.csv", pipeline: "invoices")).Load.Id;

        (await ClaimAsync(pipelines: ["invoices", "payments"])).ShouldNotBeNull().Id.ShouldBe(invoices);
        (await ClaimAsync(pipelines: ["invoices"])).ShouldBeNull();
        (await ClaimAsync(pipelines: [])).ShouldBeNull();
    }

    [CatalogFact]
    public async Task Claim_FromReadyForArchiving_MovesToArchivingWithoutCountingAnAttempt()
    {
        var id = (await RegisterAsync("a.csv")).Load.Id;
        await ClaimAsync("w1");
        await Catalog.TransitionAsync(id, LoadStatus.Ingesting, LoadStatus.ReadyForArchiving, null, None);

        var claimed = (await ClaimAsync("archiver", LoadStatus.ReadyForArchiving)).ShouldNotBeNull();

        claimed.Status.ShouldBe(LoadStatus.Archiving);
        claimed.LeaseOwner.ShouldBe("archiver");
        claimed.Attempts.ShouldBe(1);
    }

    [CatalogFact]
    public async Task Claim_FromAStatusWorkersDoNotClaimFrom_Throws()
    {
        await Should.ThrowAsync<ArgumentException>(() => ClaimAsync(from: LoadStatus.Held));
    }

    [CatalogFact]
    public async Task Claim_BySeveralWorkersAtOnce_NeverGivesTheSameLoadTwice()
    {
        for (var i = 0; i < 20; i++)
        {
            await RegisterAsync($"f{i:D2}.csv");
        }

        var workers = Enumerable.Range(1, 4).Select(n => (Name: $"w{n}", Catalog: Open())).ToList();

        var claimedPerWorker = await Task.WhenAll(workers.Select(w => Task.Run(async () =>
        {
            var mine = new List<Load>();
            while (await w.Catalog.ClaimAsync(new ClaimRequest { Worker = w.Name, Lease = Lease }, None) is { } load)
            {
                mine.Add(load);
            }

            return mine;
        })));

        var all = claimedPerWorker.SelectMany(l => l).ToList();
        all.Count.ShouldBe(20);
        all.Select(l => l.Id).Distinct().Count().ShouldBe(20);
        all.ShouldAllBe(l => l.Attempts == 1);
        foreach (var (worker, claimed) in workers.Zip(claimedPerWorker))
        {
            foreach (var load in claimed)
            {
                (await LoadAsync(load.Id)).LeaseOwner.ShouldBe(worker.Name);
            }
        }
    }

    [CatalogFact]
    public async Task ClaimWithHistory_GivesEachLoadItsStepsAsRecorded_NoneForANewFile()
    {
        var fresh = (await RegisterAsync("a.csv")).Load.Id;
        var done = new RegisteredStep("receive", "mail:1", new StepResult { Outputs = ["inbox:m/a.eml"] });
        var mail = (await Catalog.RegisterLoadAsync(new NewLoad("orders", "acme", "<m1@x>", "sha256=a", 10) { DoneStep = done }, None)).Load.Id;
        var retried = (await RegisterAsync("c.csv")).Load.Id;
        (await ClaimAsync("w0")).ShouldNotBeNull().Id.ShouldBe(fresh); // takes the oldest out of the way
        await Catalog.TransitionAsync(fresh, LoadStatus.Ingesting, LoadStatus.Ready, null, None);
        var stepId = await Catalog.StartStepAsync(retried, "fetch", 1, "w0", None);
        await Catalog.FinishStepAsync(stepId, StepResult.Failed(ErrorKind.Transient, "timeout"), None);

        var request = new ClaimRequest { Worker = "w1", Lease = Lease };
        var first = (await Catalog.ClaimWithHistoryAsync(request, None)).ShouldNotBeNull();
        var second = (await Catalog.ClaimWithHistoryAsync(request, None)).ShouldNotBeNull();
        var third = (await Catalog.ClaimWithHistoryAsync(request, None)).ShouldNotBeNull();

        (first.Load.Id, second.Load.Id, third.Load.Id).ShouldBe((fresh, mail, retried));
        first.Load.ShouldBe(await LoadAsync(fresh));
        first.Steps.ShouldBeEmpty();
        second.Steps.ShouldHaveSingleItem().Step.ShouldBe("receive");
        third.Steps.Select(s => (s.Id, s.Step, s.Outcome)).ShouldBe([(stepId, "fetch", StepOutcome.Failed)]);
        (await Catalog.ClaimWithHistoryAsync(request, None)).ShouldBeNull();
    }

    [CatalogFact]
    public async Task ClaimSome_TakesTheOldestInTheClaimsOrderOfStatuses_UnderOneLease_WithTheirSteps()
    {
        var archiving = (await RegisterAsync("a.csv")).Load.Id;
        await ClaimAsync("w0");
        await Catalog.TransitionAsync(archiving, LoadStatus.Ingesting, LoadStatus.ReadyForArchiving, null, None);
        var fresh = (await RegisterAsync("b.csv")).Load.Id;
        var retried = (await RegisterAsync("c.csv")).Load.Id;
        var stepId = await Catalog.StartStepAsync(retried, "fetch", 1, "w0", None);
        await Catalog.FinishStepAsync(stepId, StepResult.Failed(ErrorKind.Transient, "timeout"), None);
        var later = (await RegisterAsync("d.csv")).Load.Id;
        var request = new ClaimRequest { Worker = "w1", From = LoadStatus.ReadyForArchiving, ThenFrom = [LoadStatus.Ready], Lease = Lease };

        var claimed = await Catalog.ClaimSomeWithHistoryAsync(request, 3, None);

        claimed.Select(c => c.Load.Id).ShouldBe([archiving, fresh, retried]);
        claimed.Select(c => c.Load.Status).ShouldBe([LoadStatus.Archiving, LoadStatus.Ingesting, LoadStatus.Ingesting]);
        claimed.ShouldAllBe(c => c.Load.LeaseOwner == "w1" && c.Load.LeaseExpiresAt != null);
        claimed.Select(c => c.Load.Attempts).ShouldBe([1, 1, 1]); // only the claims from ready count an attempt
        for (var i = 0; i < claimed.Count; i++)
        {
            claimed[i].Load.ShouldBe(await LoadAsync(claimed[i].Load.Id));
        }

        claimed[0].Steps.ShouldBeEmpty();
        claimed[1].Steps.ShouldBeEmpty();
        claimed[2].Steps.Select(s => (s.Id, s.Step, s.Outcome)).ShouldBe([(stepId, "fetch", StepOutcome.Failed)]);
        (await Catalog.ClaimSomeWithHistoryAsync(request, 3, None)).Select(c => c.Load.Id).ShouldBe([later]); // fewer than asked for
        (await Catalog.ClaimSomeWithHistoryAsync(request, 3, None)).ShouldBeEmpty();
    }

    [CatalogFact]
    public async Task ClaimSome_BySeveralWorkersAtOnce_NeverGivesTheSameLoadTwice()
    {
        for (var i = 0; i < 30; i++)
        {
            await RegisterAsync($"f{i:D2}.csv");
        }

        var workers = Enumerable.Range(1, 4).Select(n => (Name: $"w{n}", Catalog: Open())).ToList();

        var claimedPerWorker = await Task.WhenAll(workers.Select(w => Task.Run(async () =>
        {
            var mine = new List<Load>();
            while (await w.Catalog.ClaimSomeWithHistoryAsync(new ClaimRequest { Worker = w.Name, Lease = Lease }, 4, None) is { Count: > 0 } some)
            {
                mine.AddRange(some.Select(c => c.Load));
            }

            return mine;
        })));

        var all = claimedPerWorker.SelectMany(l => l).ToList();
        all.Select(l => l.Id).Distinct().Count().ShouldBe(30);
        all.Count.ShouldBe(30);
        foreach (var (worker, claimed) in workers.Zip(claimedPerWorker))
        {
            claimed.ShouldAllBe(l => l.LeaseOwner == worker.Name);
        }
    }

    // ---- leases ----

    [CatalogFact]
    public async Task Heartbeat_ExtendsTheLease_SoTheSweeperLeavesTheLoad()
    {
        var id = (await RegisterAsync("a.csv")).Load.Id;
        await ClaimAsync("w1");
        Clock.Advance(TimeSpan.FromMinutes(4));

        (await Catalog.HeartbeatAsync(id, "w1", Lease, None)).ShouldBeTrue();
        Clock.Advance(TimeSpan.FromMinutes(4)); // 8 minutes after the claim, past the first lease

        (await Catalog.SweepExpiredLeasesAsync(3, None)).ShouldBe(0);
        var load = await LoadAsync(id);
        load.Status.ShouldBe(LoadStatus.Ingesting);
        load.LeaseExpiresAt.ShouldBe(Clock.GetUtcNow() - TimeSpan.FromMinutes(4) + Lease);
    }

    [CatalogFact]
    public async Task Heartbeat_FromAWorkerWithoutTheLease_ReturnsFalse()
    {
        var id = (await RegisterAsync("a.csv")).Load.Id;
        await ClaimAsync("w1");
        var before = (await LoadAsync(id)).LeaseExpiresAt;
        Clock.Advance(TimeSpan.FromMinutes(1));

        (await Catalog.HeartbeatAsync(id, "w2", Lease, None)).ShouldBeFalse();
        (await LoadAsync(id)).LeaseExpiresAt.ShouldBe(before);

        Clock.Advance(Lease);
        await Catalog.SweepExpiredLeasesAsync(3, None);
        (await Catalog.HeartbeatAsync(id, "w1", Lease, None)).ShouldBeFalse();
    }

    [CatalogFact]
    public async Task Claim_WhenLeaseExpired_ReturnsLoadToReady()
    {
        var id = (await RegisterAsync("a.csv")).Load.Id;
        await ClaimAsync("w1");
        Clock.Advance(Lease + TimeSpan.FromSeconds(1));

        (await Catalog.SweepExpiredLeasesAsync(3, None)).ShouldBe(1);

        var swept = await LoadAsync(id);
        swept.Status.ShouldBe(LoadStatus.Ready);
        swept.LeaseOwner.ShouldBeNull();
        swept.LeaseExpiresAt.ShouldBeNull();
        swept.ErrorKind.ShouldBeNull();
        swept.UpdatedAt.ShouldBe(Clock.GetUtcNow());
        (await ClaimAsync("w2")).ShouldNotBeNull().Attempts.ShouldBe(2);
    }

    [CatalogFact]
    public async Task Sweep_BeforeTheLeaseExpires_ChangesNothing()
    {
        var id = (await RegisterAsync("a.csv")).Load.Id;
        await ClaimAsync("w1");
        Clock.Advance(Lease - TimeSpan.FromSeconds(1));

        (await Catalog.SweepExpiredLeasesAsync(3, None)).ShouldBe(0);

        (await LoadAsync(id)).LeaseOwner.ShouldBe("w1");
    }

    [CatalogFact]
    public async Task Sweep_WhenTheAttemptsAreUsedUp_FailsTheLoadAsTransient()
    {
        var id = (await RegisterAsync("a.csv")).Load.Id;
        await ClaimAsync("w1");
        Clock.Advance(Lease + TimeSpan.FromSeconds(1));
        await Catalog.SweepExpiredLeasesAsync(2, None);
        await ClaimAsync("w2");
        Clock.Advance(Lease + TimeSpan.FromSeconds(1));

        (await Catalog.SweepExpiredLeasesAsync(2, None)).ShouldBe(1);

        var failed = await LoadAsync(id);
        failed.Status.ShouldBe(LoadStatus.ReadyForErroring);
        failed.ErrorKind.ShouldBe(ErrorKind.Transient);
        failed.ErrorMessage.ShouldBe("lease expired after 2 attempts");
        failed.LeaseOwner.ShouldBeNull();
    }

    [CatalogFact]
    public async Task Sweep_ArchivingAndErroringLeases_ReturnToTheirWaitingStatus()
    {
        var archiving = (await RegisterAsync("a.csv")).Load.Id;
        var erroring = (await RegisterAsync("b.csv")).Load.Id;
        await ClaimAsync();
        await ClaimAsync();
        await Catalog.TransitionAsync(archiving, LoadStatus.Ingesting, LoadStatus.ReadyForArchiving, null, None);
        await Catalog.TransitionAsync(erroring, LoadStatus.Ingesting, LoadStatus.ReadyForErroring,
            new TransitionDetails { ErrorKind = ErrorKind.Schema, ErrorMessage = "column x" }, None);
        await ClaimAsync("archiver", LoadStatus.ReadyForArchiving);
        await ClaimAsync("errorer", LoadStatus.ReadyForErroring);
        Clock.Advance(Lease + TimeSpan.FromSeconds(1));

        // maxAttempts 1 is used up, but it counts ingest attempts only.
        (await Catalog.SweepExpiredLeasesAsync(1, None)).ShouldBe(2);

        (await LoadAsync(archiving)).Status.ShouldBe(LoadStatus.ReadyForArchiving);
        var back = await LoadAsync(erroring);
        back.Status.ShouldBe(LoadStatus.ReadyForErroring);
        back.ErrorKind.ShouldBe(ErrorKind.Schema);
        back.ErrorMessage.ShouldBe("column x");
    }

    // ---- steps ----

    [CatalogFact]
    public async Task Steps_StartedAndFinished_RoundTripEveryField()
    {
        var id = (await RegisterAsync("a.csv")).Load.Id;
        var started = Clock.GetUtcNow();
        var stepId = await Catalog.StartStepAsync(id, "parse", 2, "w1", None);
        var running = (await Catalog.GetStepsAsync(id, None)).Single();
        running.Outputs.ShouldBeEmpty();
        (running with { Outputs = NoOutputs }).ShouldBe(new StepRecord
        {
            Id = stepId, LoadId = id, Step = "parse", Attempt = 2, StartedAt = started, Outcome = StepOutcome.Running, Worker = "w1", Outputs = NoOutputs,
        });
        Clock.Advance(TimeSpan.FromMilliseconds(1234));

        await Catalog.FinishStepAsync(stepId, new StepResult
        {
            Outcome = StepOutcome.Failed, ErrorKind = ErrorKind.Integrity, Message = "rows 10 != 11", ErrorCode = "AWSFileCopyRedshiftException",
            RowsIn = 11, RowsOut = 10, RowsRejected = 1, BytesIn = 5_000_000_000, BytesOut = 0, Outputs = ["work:acme/a.csv", "table \"raw\".\"orders\""],
        }, None);

        var step = (await Catalog.GetStepsAsync(id, None)).Single();
        step.Outputs.ShouldBe(["work:acme/a.csv", "table \"raw\".\"orders\""]);
        // Records compare lists by reference: compare the outputs above, everything else here.
        (step with { Outputs = NoOutputs }).ShouldBe(new StepRecord
        {
            Id = stepId, LoadId = id, Step = "parse", Attempt = 2, StartedAt = started, FinishedAt = started.AddMilliseconds(1234),
            Outcome = StepOutcome.Failed, ErrorKind = ErrorKind.Integrity, Message = "rows 10 != 11", ErrorCode = "AWSFileCopyRedshiftException",
            RowsIn = 11, RowsOut = 10, RowsRejected = 1, BytesIn = 5_000_000_000, BytesOut = 0, Outputs = NoOutputs, Worker = "w1",
        });
    }

    [CatalogFact]
    public async Task Steps_AreAppendOnly_AFinishedRecordCannotBeFinishedAgain()
    {
        var id = (await RegisterAsync("a.csv")).Load.Id;
        var first = await Catalog.StartStepAsync(id, "fetch", 1, "w1", None);
        await Catalog.FinishStepAsync(first, StepResult.Failed(ErrorKind.Transient, "timeout"), None);
        var second = await Catalog.StartStepAsync(id, "fetch", 2, "w2", None);
        await Catalog.FinishStepAsync(second, new StepResult(), None);

        await Should.ThrowAsync<InvalidOperationException>(() => Catalog.FinishStepAsync(first, new StepResult(), None));

        var steps = await Catalog.GetStepsAsync(id, None);
        steps.Select(s => (s.Id, s.Attempt, s.Outcome, s.Message)).ShouldBe([(first, 1, StepOutcome.Failed, "timeout"), (second, 2, StepOutcome.Succeeded, null)]);
        steps[1].Outputs.ShouldBeEmpty();
    }

    [CatalogFact]
    public async Task GetAllSteps_PagesByLoad_WithoutSplittingALoadsHistory()
    {
        var ids = new List<long>();
        foreach (var (name, count) in new[] { ("a", 2), ("b", 0), ("c", 3), ("d", 1) })
        {
            var id = (await RegisterAsync(name)).Load.Id;
            ids.Add(id);
            for (var i = 1; i <= count; i++)
            {
                await Catalog.StartStepAsync(id, "fetch", i, null, None);
            }
        }

        var page1 = await Catalog.GetAllStepsAsync(null, 2, None);
        page1.Select(s => s.LoadId).ShouldBe([ids[0], ids[0], ids[2], ids[2], ids[2]]);
        page1.Select(s => s.Id).ShouldBeInOrder();

        var page2 = await Catalog.GetAllStepsAsync(page1[^1].LoadId, 2, None);
        page2.Select(s => s.LoadId).ShouldBe([ids[3]]);

        (await Catalog.GetAllStepsAsync(page2[^1].LoadId, 2, None)).ShouldBeEmpty();
    }

    // ---- listing and counting ----

    [CatalogFact]
    public async Task ListLoads_FiltersByStatusPipelineCustomerAndCreationTime()
    {
        var early = (await RegisterAsync("a.csv", pipeline: "orders", customer: "acme")).Load.Id;
        Clock.Advance(TimeSpan.FromHours(1));
        var cutoff = Clock.GetUtcNow();
        Clock.Advance(TimeSpan.FromMilliseconds(1));
        var other = (await RegisterAsync("b.csv", pipeline: "invoices", customer: "acme")).Load.Id;
        var globex = (await RegisterAsync("c.csv", pipeline: "orders", customer: "globex")).Load.Id;
        await ClaimAsync(pipelines: ["invoices"]);

        async Task<long[]> Ids(LoadQuery q) => (await Catalog.ListLoadsAsync(q, None)).Select(l => l.Id).ToArray();

        (await Ids(new LoadQuery())).ShouldBe([early, other, globex]);
        (await Ids(new LoadQuery { Status = LoadStatus.Ingesting })).ShouldBe([other]);
        (await Ids(new LoadQuery { Pipeline = "orders" })).ShouldBe([early, globex]);
        (await Ids(new LoadQuery { Customer = "acme" })).ShouldBe([early, other]);
        (await Ids(new LoadQuery { CreatedSince = cutoff.AddMilliseconds(1) })).ShouldBe([other, globex]);
        (await Ids(new LoadQuery { CreatedUntil = cutoff })).ShouldBe([early]);
        (await Ids(new LoadQuery { NewestFirst = true, Limit = 2 })).ShouldBe([globex, other]);
        (await Ids(new LoadQuery { NewestFirst = true, BeforeId = other })).ShouldBe([early]);
        (await Ids(new LoadQuery { Pipeline = "orders", Customer = "acme", Status = LoadStatus.Ready })).ShouldBe([early]);
    }

    [CatalogFact]
    public async Task ListLoads_PagesByAfterId_InIdOrder()
    {
        var ids = new List<long>();
        for (var i = 0; i < 5; i++)
        {
            ids.Add((await RegisterAsync($"f{i}.csv")).Load.Id);
        }

        var seen = new List<long>();
        long? after = null;
        var pages = 0;
        while (await Catalog.ListLoadsAsync(new LoadQuery { AfterId = after, Limit = 2 }, None) is { Count: > 0 } page)
        {
            page.Count.ShouldBeLessThanOrEqualTo(2);
            seen.AddRange(page.Select(l => l.Id));
            after = page[^1].Id;
            pages++;
        }

        seen.ShouldBe(ids);
        pages.ShouldBe(3);
    }

    [CatalogFact]
    public async Task CountByStatus_CountsEveryStatusOverallAndPerPipeline()
    {
        await RegisterAsync("a.csv");
        await RegisterAsync("b.csv");
        await RegisterAsync("c.csv", pipeline: "invoices");
        await ClaimAsync(pipelines: ["orders"]);

        var all = await Catalog.CountByStatusAsync(null, None);
        all[LoadStatus.Ready].ShouldBe(2);
        all[LoadStatus.Ingesting].ShouldBe(1);
        all[LoadStatus.Archived].ShouldBe(0);
        all.Count.ShouldBe(Enum.GetValues<LoadStatus>().Length);

        var invoices = await Catalog.CountByStatusAsync("invoices", None);
        invoices[LoadStatus.Ready].ShouldBe(1);
        invoices[LoadStatus.Ingesting].ShouldBe(0);
    }

    [CatalogFact]
    public async Task Timestamps_RoundTripExactlyToTheMillisecond()
    {
        var exact = new DateTimeOffset(2026, 12, 31, 23, 59, 58, 987, TimeSpan.Zero);
        Clock.Set(exact.AddTicks(4_567)); // 0.4567 ms past: below the precision kept

        var registered = await RegisterAsync("a.csv");
        var claimed = (await Catalog.ClaimAsync(new ClaimRequest { Worker = "w1", Lease = TimeSpan.FromMilliseconds(1_500.7) }, None)).ShouldNotBeNull();

        registered.Load.CreatedAt.ShouldBe(exact);
        registered.Load.CreatedAt.Offset.ShouldBe(TimeSpan.Zero);
        claimed.LeaseExpiresAt.ShouldBe(exact.AddMilliseconds(1_500));
        var reread = await LoadAsync(registered.Load.Id);
        reread.CreatedAt.ShouldBe(exact);
        reread.LeaseExpiresAt.ShouldBe(exact.AddMilliseconds(1_500));
        reread.CreatedAt.UtcTicks.ShouldBe(exact.UtcTicks);
    }
}
