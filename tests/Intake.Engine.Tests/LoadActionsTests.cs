using Intake.Catalog;
using Intake.Engine.Operations;
using Intake.Tests.Shared;

namespace Intake.Engine.Tests;

/// <summary>The operator's actions that the CLI, the API and the UI share: each one compare-and-set, refused with a reason.</summary>
public sealed class LoadActionsTests : IAsyncLifetime
{
    private readonly string _dir = Directory.CreateTempSubdirectory("intake-actions-").FullName;
    private readonly ManualTimeProvider _clock = new();
    private SqliteCatalog _catalog = null!;
    private LoadActions _actions = null!;

    public async Task InitializeAsync()
    {
        _catalog = new SqliteCatalog(Path.Combine(_dir, "c.db"), _clock);
        await _catalog.MigrateAsync(default);
        _actions = new LoadActions(_catalog, _clock);
    }

    public async Task DisposeAsync()
    {
        await _catalog.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    private async Task<Load> ErroredAsync(string key)
    {
        var id = (await _catalog.RegisterLoadAsync(new NewLoad("p", "acme", key, "f"), default)).Load.Id;
        (await _catalog.ClaimAsync(new ClaimRequest { Worker = "w", Lease = TimeSpan.FromMinutes(1) }, default)).ShouldNotBeNull();
        await _catalog.TransitionAsync(id, LoadStatus.Ingesting, LoadStatus.ReadyForErroring, new TransitionDetails { ErrorKind = ErrorKind.Format, ErrorMessage = "bad", ErrorCode = "X" }, default);
        await _catalog.ClaimAsync(new ClaimRequest { Worker = "w", Lease = TimeSpan.FromMinutes(1), From = LoadStatus.ReadyForErroring }, default);
        await _catalog.TransitionAsync(id, LoadStatus.Erroring, LoadStatus.Errored, null, default);
        return (await _catalog.GetLoadAsync(id, default))!;
    }

    [Fact]
    public async Task Redrive_OfAnErroredLoad_MakesItReadyWithTheErrorClearedAndAttemptsReset()
    {
        var load = await ErroredAsync("a.csv");

        var result = await _actions.RedriveAsync(load, default);

        result.Outcome.ShouldBe(ActionOutcome.Done);
        var stored = (await _catalog.GetLoadAsync(load.Id, default))!;
        stored.Status.ShouldBe(LoadStatus.Ready);
        (stored.ErrorKind, stored.ErrorMessage, stored.ErrorCode, stored.Attempts).ShouldBe((null, null, null, 0));
        result.Load.Status.ShouldBe(LoadStatus.Ready);
        result.Load.ErrorCode.ShouldBeNull();
    }

    [Fact]
    public async Task Redrive_OfALoadAWorkerHolds_IsNotAllowed_AndChangesNothing()
    {
        await _catalog.RegisterLoadAsync(new NewLoad("p", "acme", "b.csv", "f"), default);
        var held = (await _catalog.ClaimAsync(new ClaimRequest { Worker = "w", Lease = TimeSpan.FromMinutes(1) }, default))!;

        var result = await _actions.RedriveAsync(held, default);

        result.Outcome.ShouldBe(ActionOutcome.NotAllowed);
        result.Reason.ShouldBe($"load {held.Id} is ingesting; only errored, held or archived loads can be re-driven");
        (await _catalog.GetLoadAsync(held.Id, default))!.Status.ShouldBe(LoadStatus.Ingesting);
    }

    [Fact]
    public async Task Redrive_FromAStaleView_IsRaced_AndChangesNothing()
    {
        var load = await ErroredAsync("c.csv");
        (await _actions.RedriveAsync(load, default)).Done.ShouldBeTrue();

        // The same errored view again: the load is ready now, so the compare-and-set finds nothing to change.
        var again = await _actions.RedriveAsync(load, default);

        again.Outcome.ShouldBe(ActionOutcome.Raced);
        again.Reason!.ShouldContain("changed status while re-driving");
    }

    [Fact]
    public async Task Cancel_HoldsAReadyLoad_AndFailsAnIngestingOneTakingTheWorkersLease()
    {
        var ready = (await _catalog.RegisterLoadAsync(new NewLoad("p", "acme", "d.csv", "f"), default)).Load;
        (await _actions.CancelAsync(ready, "cancelled by ops", default)).Done.ShouldBeTrue();
        var held = (await _catalog.GetLoadAsync(ready.Id, default))!;
        (held.Status, held.HeldReason).ShouldBe((LoadStatus.Held, "cancelled by ops"));

        await _catalog.RegisterLoadAsync(new NewLoad("p", "acme", "e.csv", "f"), default);
        var ingesting = (await _catalog.ClaimAsync(new ClaimRequest { Worker = "w", Lease = TimeSpan.FromMinutes(1) }, default))!;
        (await _actions.CancelAsync(ingesting, "cancelled by ops", default)).Done.ShouldBeTrue();
        var failed = (await _catalog.GetLoadAsync(ingesting.Id, default))!;
        failed.Status.ShouldBe(LoadStatus.ReadyForErroring);
        failed.ErrorKind.ShouldBe(ErrorKind.Transient);
        failed.LeaseOwner.ShouldBeNull();
        (await _catalog.HeartbeatAsync(ingesting.Id, "w", TimeSpan.FromMinutes(1), default)).ShouldBeFalse();

        var archivedView = failed with { Status = LoadStatus.Archived };
        (await _actions.CancelAsync(archivedView, "x", default)).Outcome.ShouldBe(ActionOutcome.NotAllowed);
    }
}
