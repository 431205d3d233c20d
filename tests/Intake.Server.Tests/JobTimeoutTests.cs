using Intake.Core.Model;
using Intake.Engine.Configuration;
using Intake.Engine.Runtime;
using Intake.Engine.Scheduling;
using Intake.Tests.Shared;

namespace Intake.Server.Tests;

/// <summary>A load that stays in a working status past its pipeline's timeout is failed (transient) and its lease released.</summary>
public sealed class JobTimeoutTests
{
    [PostgresFact]
    public async Task LoadPastItsTimeout_IsFailedAsTransient_AndItsLeaseReleased()
    {
        var connection = await TestPostgres.CreateDatabaseAsync("timeout");
        using var workspace = new Workspace(connection);
        workspace.WritePipeline("slow", "acme", "timeout: 30m");
        workspace.WritePipeline("unbounded", "acme");
        var clock = new ManualTimeProvider(new DateTimeOffset(2026, 3, 1, 7, 0, 0, TimeSpan.Zero));
        await using var runtime = await IntakeRuntime.OpenAsync(ConfigLoader.Load(Path.Combine(workspace.Root, "intake.yaml")), clock);
        var catalog = runtime.Catalog;
        var slow = (await catalog.RegisterLoadAsync(new NewLoad("slow", "acme", "a.csv", "f"), default)).Load.Id;
        var unbounded = (await catalog.RegisterLoadAsync(new NewLoad("unbounded", "acme", "b.csv", "f"), default)).Load.Id;
        (await catalog.ClaimAsync(new ClaimRequest { Worker = "w1", Lease = TimeSpan.FromHours(2), Pipelines = ["slow"] }, default))!.Id.ShouldBe(slow);
        (await catalog.ClaimAsync(new ClaimRequest { Worker = "w2", Lease = TimeSpan.FromHours(2), Pipelines = ["unbounded"] }, default))!.Id.ShouldBe(unbounded);
        var timeouts = new JobTimeouts(runtime);

        clock.Advance(TimeSpan.FromMinutes(29));
        (await catalog.HeartbeatAsync(slow, "w1", TimeSpan.FromHours(2), default)).ShouldBeTrue();
        (await timeouts.FailTimedOutAsync(default)).ShouldBeEmpty();

        // Heartbeats keep the lease alive but do not reset the job's clock.
        clock.Advance(TimeSpan.FromMinutes(2));
        (await timeouts.FailTimedOutAsync(default)).Select(l => l.Id).ShouldBe([slow]);

        var failed = (await catalog.GetLoadAsync(slow, default))!;
        failed.Status.ShouldBe(LoadStatus.ReadyForErroring);
        failed.ErrorKind.ShouldBe(Core.Errors.ErrorKind.Transient);
        failed.ErrorMessage!.ShouldContain("timeout");
        failed.ErrorMessage!.ShouldContain("30m");
        failed.LeaseOwner.ShouldBeNull();
        // The worker that was stuck learns it at its next heartbeat and stops.
        (await catalog.HeartbeatAsync(slow, "w1", TimeSpan.FromHours(2), default)).ShouldBeFalse();

        // A pipeline without a timeout is left alone however long it takes; the failed load goes the error path.
        (await catalog.GetLoadAsync(unbounded, default))!.Status.ShouldBe(LoadStatus.Ingesting);
        (await timeouts.FailTimedOutAsync(default)).ShouldBeEmpty();
        var worker = new Worker(runtime);
        (await worker.RunOneAsync(["slow"], default))!.Status.ShouldBe(LoadStatus.Errored);
    }
}
