using Intake.Core.Model;

namespace Intake.Catalog.Tests;

/// <summary>The Cubic slice's snapshots, a load's listed modification time, and holding a load a worker claimed.</summary>
public abstract partial class CatalogComplianceTests
{
    private static readonly DateTimeOffset Snapshot1 = new(2022, 3, 4, 13, 45, 56, 444, TimeSpan.Zero);

    [CatalogFact]
    public async Task RecordSnapshot_IsRecordedOncePerTableAndTime_AndListedOldestFirst()
    {
        await Catalog.RegisterTableAsync("cubic", "t_a", "cubic/ods/A/", None);
        await Catalog.RegisterTableAsync("cubic", "t_b", "cubic/ods/B/", None);

        await Catalog.RecordSnapshotAsync("cubic", "t_a", Snapshot1.AddDays(1), "cubic/ods/A/LOAD1.csv", None);
        await Catalog.RecordSnapshotAsync("cubic", "t_a", Snapshot1, "cubic/ods/A/LOAD001.csv", None);
        await Open().RecordSnapshotAsync("cubic", "t_a", Snapshot1, "cubic/ods/A/LOAD001.csv", None); // a re-drive
        await Catalog.RecordSnapshotAsync("cubic", "t_b", Snapshot1, "cubic/ods/B/LOAD1.csv", None);

        var all = await Catalog.ListSnapshotsAsync("cubic", null, None);
        all.Select(s => (s.Table, s.Snapshot, s.SnapshotKey)).ShouldBe(
        [
            ("t_a", Snapshot1, "cubic/ods/A/LOAD001.csv"),
            ("t_a", Snapshot1.AddDays(1), "cubic/ods/A/LOAD1.csv"),
            ("t_b", Snapshot1, "cubic/ods/B/LOAD1.csv"),
        ]);
        (await Catalog.ListSnapshotsAsync("cubic", "t_b", None)).Count.ShouldBe(1);
        await Should.ThrowAsync<InvalidOperationException>(() => Catalog.RecordSnapshotAsync("cubic", "t_missing", Snapshot1, "k", None));
    }

    [CatalogFact]
    public async Task LoadSnapshot_IsRecordedAndReplaced_AndNullWithoutOne()
    {
        var load = (await Catalog.RegisterLoadAsync(new NewLoad("cubic", "acme", "cubic/ods/A/LOAD1.csv", "f", 1, SourceModified: Snapshot1), None)).Load;
        var other = (await RegisterAsync("b.csv")).Load;

        await Catalog.RecordLoadSnapshotAsync(load.Id, Snapshot1.AddDays(1), None);
        await Catalog.RecordLoadSnapshotAsync(load.Id, Snapshot1, None);

        (await Catalog.GetLoadSnapshotAsync(load.Id, None)).ShouldBe(Snapshot1);
        (await Catalog.GetLoadSnapshotAsync(other.Id, None)).ShouldBeNull();
        load.SourceModified.ShouldBe(Snapshot1); // the listed modification time, kept to the millisecond
        (await LoadAsync(load.Id)).SourceModified.ShouldBe(Snapshot1);
        other.SourceModified.ShouldBeNull();
    }

    [CatalogFact]
    public async Task Transition_IngestingToHeld_OnlyByTheLeaseOwner_KeepsTheReason()
    {
        var id = (await RegisterAsync("cubic/ods/A__ct/20220304-134556444.csv")).Load.Id;
        await ClaimAsync("w1");

        (await Catalog.TransitionAsync(id, LoadStatus.Ingesting, LoadStatus.Held, new TransitionDetails { LeaseOwner = "w2", HeldReason = "x" }, None)).ShouldBeFalse();
        (await Catalog.TransitionAsync(id, LoadStatus.Ingesting, LoadStatus.Held, new TransitionDetails { LeaseOwner = "w1", HeldReason = "waiting for snapshot" }, None)).ShouldBeTrue();

        var held = await LoadAsync(id);
        (held.Status, held.HeldReason, held.LeaseOwner).ShouldBe((LoadStatus.Held, "waiting for snapshot", null));
    }
}
