using System.Text;
using Intake.Core.Errors;
using Intake.Engine.Streams;
using Intake.Tests.Shared;

namespace Intake.Engine.Tests.Streams;

/// <summary>The spool across a crash: what recovery keeps, cuts and re-sends.</summary>
public sealed class StreamSpoolTests : IDisposable
{
    private readonly string _dir = Path.Combine(Directory.CreateTempSubdirectory("intake-spool-").FullName, "clicks");
    private readonly ManualTimeProvider _clock = new(new DateTimeOffset(2026, 3, 1, 12, 0, 0, TimeSpan.Zero));

    public void Dispose() => Directory.Delete(Path.GetDirectoryName(_dir)!, recursive: true);

    private static byte[] Lines(params int[] ids) => Encoding.UTF8.GetBytes(string.Concat(ids.Select(i => $"{{\"id\":{i}}}\n")));

    private string Active(DateTimeOffset opened) => Path.Combine(_dir, $"active-{opened.ToUnixTimeMilliseconds()}.ndjson");

    [Fact]
    public void Recover_ATornLastLine_IsCut_AndEveryCompleteLineIsKept()
    {
        // What a SIGKILL in the middle of an append leaves: three fsynced (acknowledged) lines and half of a fourth.
        Directory.CreateDirectory(_dir);
        var opened = _clock.GetUtcNow() - TimeSpan.FromMinutes(5);
        File.WriteAllBytes(Active(opened), [.. Lines(1, 2, 3), .. "{\"id\":4,\"na"u8]);

        using var spool = StreamSpool.Open(_dir, _clock, out var recovery);

        recovery.ShouldBe(new SpoolRecovery(3, 11, 0, 0));
        spool.Count.ShouldBe(3);
        spool.OpenedAt.ShouldBe(opened);
        File.ReadAllBytes(Active(opened)).ShouldBe(Lines(1, 2, 3));

        // The open batch goes on after the kept lines.
        spool.Append(Lines(5), 1);
        spool.Sync();
        File.ReadAllBytes(Active(opened)).ShouldBe(Lines(1, 2, 3, 5));
    }

    [Fact]
    public void Recover_ACompleteLineThatIsNoRecord_IsDropped_AndTheRecordsAroundItKept()
    {
        // A power cut can read back a block the disk never wrote as zeros.
        Directory.CreateDirectory(_dir);
        var opened = _clock.GetUtcNow();
        File.WriteAllBytes(Active(opened), [.. Lines(1), 0, 0, 0, (byte)'\n', .. Lines(2)]);

        using var spool = StreamSpool.Open(_dir, _clock, out var recovery);

        recovery.BadLines.ShouldBe(1);
        spool.Count.ShouldBe(2);
        File.ReadAllBytes(Active(opened)).ShouldBe(Lines(1, 2));
    }

    [Fact]
    public void Seal_TheUuidIsDurableBeforeTheBatchIsSent_SoARestartSendsTheSameBatch()
    {
        SealedBatch batch;
        using (var spool = StreamSpool.Open(_dir, _clock, out _))
        {
            spool.Append(Lines(1, 2), 2);
            spool.Sync();
            batch = spool.Seal()!;
            spool.Count.ShouldBe(0);
            spool.OpenedAt.ShouldBeNull();
        }

        // Killed before the batch was written anywhere: the next process finds it sealed, under the same uuid.
        using var again = StreamSpool.Open(_dir, _clock, out var recovery);
        recovery.Sealed.ShouldBe(1);
        var found = StreamSpool.ListSealed(_dir).ShouldHaveSingleItem();
        found.Id.ShouldBe(batch.Id);
        found.SealedAt.ShouldBe(_clock.GetUtcNow());
        File.ReadAllBytes(found.Path).ShouldBe(Lines(1, 2));
        again.Count.ShouldBe(0);
    }

    [Fact]
    public void Seal_NothingWaiting_SealsNothing()
    {
        using var spool = StreamSpool.Open(_dir, _clock, out _);

        spool.Seal().ShouldBeNull();
        StreamSpool.ListSealed(_dir).ShouldBeEmpty();
    }

    [Fact]
    public void RollBack_CutsTheBatchBackToItsLastSync()
    {
        using var spool = StreamSpool.Open(_dir, _clock, out _);
        spool.Append(Lines(1), 1);
        spool.Sync();
        spool.Append(Lines(2, 3), 2);

        spool.RollBack();

        spool.Count.ShouldBe(1);
        spool.Append(Lines(4), 1);
        spool.Sync();
        File.ReadAllBytes(Active(_clock.GetUtcNow())).ShouldBe(Lines(1, 4));
    }

    [Fact]
    public void Open_WhileAnotherHoldsTheSpool_IsRefused_AndInspectSaysItIsInUse()
    {
        using var spool = StreamSpool.Open(_dir, _clock, out _);
        spool.Append(Lines(1, 2), 2);
        spool.Sync();

        var e = Should.Throw<IntakeException>(() => StreamSpool.Open(_dir, _clock, out _));
        e.Kind.ShouldBe(ErrorKind.Config);
        e.Message.ShouldContain("is in use by another process");

        var status = StreamSpool.Inspect(_dir);
        (status.PendingRecords, status.OldestPendingAt, status.SealedBatches, status.InUse).ShouldBe((2L, _clock.GetUtcNow(), 0, true));
    }

    [Fact]
    public void Inspect_ASpoolNobodyHolds_CountsItsSealedBatches()
    {
        using (var spool = StreamSpool.Open(_dir, _clock, out _))
        {
            spool.Append(Lines(1, 2, 3), 3);
            spool.Seal();
            spool.Append(Lines(4), 1);
            spool.Sync();
        }

        var status = StreamSpool.Inspect(_dir);

        (status.PendingRecords, status.SealedBatches, status.SealedRecords, status.InUse).ShouldBe((1L, 1, 3L, false));
    }
}
