using System.Runtime.Versioning;
using Intake.Core.Ports;
using Microsoft.Win32.SafeHandles;

namespace Intake.Storage.Tests;

/// <summary>
/// Where the local store keeps an object's SHA-256 record: in the object's own extended attribute, else (a file system
/// without user attributes) in a sidecar under <c>.meta</c>, and what a store written before attributes left there. Each
/// way, the record outlives the process, and an object edited by hand is hashed again instead of trusted.
/// </summary>
[UnsupportedOSPlatform("windows")]
public sealed class LocalDirectoryStoreRecordTests : IDisposable
{
    private const UnixFileMode ReadOnly = UnixFileMode.UserRead | UnixFileMode.GroupRead | UnixFileMode.OtherRead;

    private readonly string _root = Directory.CreateTempSubdirectory("intake-records-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private LocalDirectoryStore Store(bool attributes = true, FileLinks? links = null) =>
        new("local", _root, TimeProvider.System) { Attributes = attributes ? Sha256Attribute.System : new NoAttributes(), Links = links ?? FileLinks.System };

    private string SidecarPath(string area, string key) => Path.Combine(_root, LocalDirectoryStore.MetaDirectoryName, area, key);

    private List<string> Sidecars() =>
        Directory.EnumerateFiles(Path.Combine(_root, LocalDirectoryStore.MetaDirectoryName), "*", SearchOption.AllDirectories).ToList();

    private static async Task<ObjectInfo> OnlyListedAsync(LocalDirectoryStore store, string area)
    {
        var listed = new List<ObjectInfo>();
        await foreach (var info in store.ListAsync(area, "", default))
        {
            listed.Add(info);
        }

        return listed.ShouldHaveSingleItem();
    }

    [LinuxFact]
    public Task Record_InTheObjectsAttribute_SurvivesARestart_WithoutASidecar() => SurvivesARestart(attributes: true);

    [LinuxFact]
    public Task Record_InASidecar_WhereAttributesAreUnsupported_SurvivesARestart() => SurvivesARestart(attributes: false);

    private async Task SurvivesARestart(bool attributes)
    {
        var content = TestStreams.Bytes(5000);
        var put = await Store(attributes).PutAsync(Areas.Work, "a/b.csv", new MemoryStream(content), default);

        var reopened = Store(attributes); // another process, later
        var stat = await reopened.StatAsync(Areas.Work, "a/b.csv", default);

        stat!.Sha256.ShouldBe(TestStreams.Sha256(content));
        stat.LastModified.ShouldBe(put.LastModified);
        (await OnlyListedAsync(reopened, Areas.Work)).Sha256.ShouldBe(TestStreams.Sha256(content));
        reopened.HashPasses.ShouldBe(0); // trusted, not read again
        var path = reopened.Describe(Areas.Work, "a/b.csv");
        if (attributes)
        {
            Sha256Attribute.System.TryRead(path)!.Value.Sha256.ShouldBe(TestStreams.Sha256(content));
            Sidecars().ShouldBeEmpty();
        }
        else
        {
            Sha256Attribute.System.TryRead(path).ShouldBeNull();
            File.Exists(SidecarPath(Areas.Work, "a/b.csv")).ShouldBeTrue();
        }
    }

    [LinuxFact]
    public Task Record_InTheObjectsAttribute_OfAnObjectEditedByHand_IsStale_AndTheNewContentIsHashedOnce() => EditedByHand(attributes: true);

    [LinuxFact]
    public Task Record_InASidecar_OfAnObjectEditedByHand_IsStale_AndTheNewContentIsHashedOnce() => EditedByHand(attributes: false);

    private async Task EditedByHand(bool attributes)
    {
        // A writable area: the inbox original is read-only, so only root could edit it in place.
        await Store(attributes).PutAsync(Areas.Work, "e.csv", new MemoryStream(TestStreams.Bytes(5000, seed: 1)), default);
        var path = Path.Combine(_root, Areas.Work, "e.csv");
        var edited = TestStreams.Bytes(5000, seed: 2);
        await File.WriteAllBytesAsync(path, edited); // in place: the same inode, so the same (now stale) attribute
        // The same size: only the modification time tells. A hand edit comes later than the put.
        File.SetLastWriteTimeUtc(path, File.GetLastWriteTimeUtc(path).AddSeconds(1));

        var reopened = Store(attributes);

        (await OnlyListedAsync(reopened, Areas.Work)).Sha256.ShouldBeNull(); // listing never reads objects
        (await reopened.StatAsync(Areas.Work, "e.csv", default))!.Sha256.ShouldBe(TestStreams.Sha256(edited));
        (await reopened.StatAsync(Areas.Work, "e.csv", default))!.Sha256.ShouldBe(TestStreams.Sha256(edited));
        reopened.HashPasses.ShouldBe(1); // the first stat repaired the record, the second trusted it
        (await OnlyListedAsync(Store(attributes), Areas.Work)).Sha256.ShouldBe(TestStreams.Sha256(edited));
    }

    [LinuxFact]
    public async Task StoreWrittenBeforeAttributes_ItsSidecarsAreTrusted_StaleOnesAreNot_AndItsOriginalsArchiveWithoutBeingRead()
    {
        // The layout of earlier versions: the read-only original, and its record as a line of text under .meta.
        var content = TestStreams.Bytes(3000, seed: 3);
        var stale = TestStreams.Bytes(2000, seed: 4);
        WriteOldLayout("c/d.csv", content, TestStreams.Sha256(content), tickOffset: 0);
        WriteOldLayout("c/stale.csv", stale, new string('0', 64), tickOffset: 1); // recorded for another version

        var store = Store();

        (await store.StatAsync(Areas.Inbox, "c/d.csv", default))!.Sha256.ShouldBe(TestStreams.Sha256(content));
        store.HashPasses.ShouldBe(0);
        (await store.StatAsync(Areas.Inbox, "c/stale.csv", default))!.Sha256.ShouldBe(TestStreams.Sha256(stale));
        store.HashPasses.ShouldBe(1);

        var placed = await store.PlaceCopyAsync(Areas.Inbox, "c/d.csv", Areas.Archive, "c/d.csv", default);

        placed.How.ShouldNotBe(Placement.Copied);
        placed.Info.Sha256.ShouldBe(TestStreams.Sha256(content));
        (await store.StatAsync(Areas.Archive, "c/d.csv", default))!.Sha256.ShouldBe(TestStreams.Sha256(content));
        (await TestStreams.ReadAllAsync(await store.OpenReadAsync(Areas.Archive, "c/d.csv", default))).ShouldBe(content);
        store.HashPasses.ShouldBe(1); // the archive read nothing
        // Deleting an original takes its sidecar along.
        await store.DeleteAsync(Areas.Inbox, "c/d.csv", default);
        File.Exists(SidecarPath(Areas.Inbox, "c/d.csv")).ShouldBeFalse();
    }

    private void WriteOldLayout(string key, byte[] content, string sha256, long tickOffset)
    {
        var path = Path.Combine(_root, Areas.Inbox, key);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllBytes(path, content);
        File.SetUnixFileMode(path, ReadOnly);
        var sidecar = SidecarPath(Areas.Inbox, key);
        Directory.CreateDirectory(Path.GetDirectoryName(sidecar)!);
        File.WriteAllText(sidecar, $"{sha256} {content.Length} {File.GetLastWriteTimeUtc(path).Ticks + tickOffset}\n");
    }

    [LinuxFact]
    public async Task ArchiveOverAnOlderArchivedVersion_ReplacesIt_WithTheNewOriginalsBytesAndRecord()
    {
        var store = Store();
        var first = TestStreams.Bytes(1000, seed: 5);
        var second = TestStreams.Bytes(1200, seed: 6);
        await store.PutAsync(Areas.Inbox, "k.csv", new MemoryStream(first), default);
        await store.PlaceCopyAsync(Areas.Inbox, "k.csv", Areas.Archive, "k.csv", default);
        await store.PutAsync(Areas.Inbox, "k.csv", new MemoryStream(second), default); // a changed file, same key
        var passes = store.HashPasses;

        var placed = await store.PlaceCopyAsync(Areas.Inbox, "k.csv", Areas.Archive, "k.csv", default);

        placed.Info.Sha256.ShouldBe(TestStreams.Sha256(second));
        (await TestStreams.ReadAllAsync(await store.OpenReadAsync(Areas.Archive, "k.csv", default))).ShouldBe(second);
        (await Store().StatAsync(Areas.Archive, "k.csv", default))!.Sha256.ShouldBe(TestStreams.Sha256(second));
        store.HashPasses.ShouldBe(passes);
        Directory.EnumerateFiles(Path.Combine(_root, LocalDirectoryStore.TempDirectoryName)).ShouldBeEmpty();
    }

    [LinuxFact]
    public async Task OnAFileSystemThatCannotClone_TheCloneIsTriedOnce_NotOncePerObject()
    {
        var links = new CannotClone();
        var store = Store(links: links);

        for (var i = 0; i < 3; i++)
        {
            var source = Path.Combine(_root, $"source-{i}.csv");
            await File.WriteAllBytesAsync(source, TestStreams.Bytes(500, seed: i));
            await using (var file = new FileStream(source, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete))
            {
                (await store.PutFileAsync(Areas.Inbox, $"k{i}.csv", file, mayHardLink: false, default)).How.ShouldBe(Placement.Copied);
            }

            (await store.PlaceCopyAsync(Areas.Inbox, $"k{i}.csv", Areas.Archive, $"k{i}.csv", default)).How.ShouldBe(Placement.HardLinked);
        }

        links.CloneAttempts.ShouldBe(1); // each attempt creates a file to clone into, and frees it again
        Directory.EnumerateFiles(Path.Combine(_root, LocalDirectoryStore.TempDirectoryName)).ShouldBeEmpty();
    }

    private sealed class NoAttributes : Sha256Attribute
    {
        public override AttributeWrite TryWrite(SafeFileHandle file, Sha256Sidecar record) => AttributeWrite.Unsupported;

        public override Sha256Sidecar? TryRead(string path) => null;

        public override Sha256Sidecar? TryRead(SafeFileHandle file) => null;
    }

    private sealed class CannotClone : FileLinks
    {
        public int CloneAttempts { get; private set; }

        public override CloneResult TryReflink(SafeFileHandle source, SafeFileHandle target)
        {
            CloneAttempts++;
            return CloneResult.Unsupported;
        }
    }
}
