using System.Runtime.Versioning;
using Intake.Core.Errors;
using Intake.Core.Ports;
using Intake.Tests.Shared;
using Microsoft.Win32.SafeHandles;

namespace Intake.Storage.Tests;

/// <summary>
/// Zero copy on one file system: the inbox original is read-only, an archive copy of it is a link (same inode, its
/// SHA-256 carried over without reading it), a local file is linked into the inbox when allowed and hashed once, and
/// whatever cannot be linked (another file system, a refused link) is copied and verified as before.
/// </summary>
[UnsupportedOSPlatform("windows")]
public sealed class LocalDirectoryStoreLinkTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("intake-links-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private LocalDirectoryStore Store(string? root = null, FileLinks? links = null) =>
        new("local", root ?? Path.Combine(_dir, "store"), TimeProvider.System) { Links = links ?? FileLinks.System };

    private string SourceFile(byte[] content, string name = "data.csv")
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllBytes(path, content);
        return path;
    }

    private static FileStream Open(string path) => new(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);

    private static (ulong, ulong) Inode(string path)
    {
        using var handle = File.OpenHandle(path);
        return FileLinks.Identity(handle)!.Value;
    }

    private static bool IsReadOnly(string path) => File.GetUnixFileMode(path) == (UnixFileMode.UserRead | UnixFileMode.GroupRead | UnixFileMode.OtherRead);

    [LinuxFact]
    public async Task Put_IntoTheInbox_MakesTheOriginalReadOnly_AndItCanStillBeReplacedAndDeleted()
    {
        var store = Store();

        await store.PutAsync(Areas.Inbox, "a/data.csv", new MemoryStream(TestStreams.Bytes(100)), default);
        await store.PutAsync(Areas.Work, "a/data.csv", new MemoryStream(TestStreams.Bytes(100)), default);

        IsReadOnly(store.Describe(Areas.Inbox, "a/data.csv")).ShouldBeTrue();
        IsReadOnly(store.Describe(Areas.Work, "a/data.csv")).ShouldBeFalse();
        var second = TestStreams.Bytes(50, seed: 2);
        (await store.PutAsync(Areas.Inbox, "a/data.csv", new MemoryStream(second), default)).Sha256.ShouldBe(TestStreams.Sha256(second));
        await store.DeleteAsync(Areas.Inbox, "a/data.csv", default);
        (await store.StatAsync(Areas.Inbox, "a/data.csv", default)).ShouldBeNull();
        await store.PutAsync(Areas.Inbox, "b/x.csv", new MemoryStream(second), default);
        await store.DeletePrefixAsync(Areas.Inbox, "b/", default);
        (await store.StatAsync(Areas.Inbox, "b/x.csv", default)).ShouldBeNull();
    }

    [LinuxFact]
    public async Task CopyOfTheInboxOriginal_OnOneFileSystem_IsALink_AndReadsNothing()
    {
        var store = Store();
        var content = TestStreams.Bytes(3 * 1024 * 1024 + 5);
        await store.PutAsync(Areas.Inbox, "k/data.csv", new MemoryStream(content), default);
        var passes = store.HashPasses;

        var placed = await store.PlaceCopyAsync(Areas.Inbox, "k/data.csv", Areas.Archive, "k/data.csv", default);
        var again = await store.PlaceCopyAsync(Areas.Inbox, "k/data.csv", Areas.Archive, "k/data.csv", default); // a repeated archive step

        placed.How.ShouldNotBe(Placement.Copied);
        again.How.ShouldBe(placed.How);
        store.HashPasses.ShouldBe(passes);
        placed.Info.Sha256.ShouldBe(TestStreams.Sha256(content));
        var archived = store.Describe(Areas.Archive, "k/data.csv");
        if (placed.How == Placement.HardLinked)
        {
            Inode(archived).ShouldBe(Inode(store.Describe(Areas.Inbox, "k/data.csv")));
        }

        IsReadOnly(archived).ShouldBeTrue();
        (await store.StatAsync(Areas.Archive, "k/data.csv", default))!.Sha256.ShouldBe(TestStreams.Sha256(content));
        store.HashPasses.ShouldBe(passes); // the sidecar matches: no rehash
        Directory.EnumerateFiles(Path.Combine(store.RootDirectory, LocalDirectoryStore.TempDirectoryName)).ShouldBeEmpty();
        // Deleting the inbox original (retention) leaves the archive whole.
        await store.DeleteAsync(Areas.Inbox, "k/data.csv", default);
        (await TestStreams.ReadAllAsync(await store.OpenReadAsync(Areas.Archive, "k/data.csv", default))).ShouldBe(content);
    }

    [LinuxFact]
    public async Task CopyOfAWritableObject_IsAVerifiedCopy_NotALink()
    {
        var store = Store();
        await store.PutAsync(Areas.Work, "k/data.csv", new MemoryStream(TestStreams.Bytes(1000)), default);

        var placed = await store.PlaceCopyAsync(Areas.Work, "k/data.csv", Areas.Archive, "k/data.csv", default);

        placed.How.ShouldBe(Placement.Copied);
        Inode(store.Describe(Areas.Archive, "k/data.csv")).ShouldNotBe(Inode(store.Describe(Areas.Work, "k/data.csv")));
    }

    [LinuxFact]
    public async Task PutFile_AllowedToLink_OnOneFileSystem_IsTheSameInode_ReadOnly_HashedOnce()
    {
        var store = Store();
        var content = TestStreams.Bytes(2 * 1024 * 1024 + 3);
        var source = SourceFile(content);
        var passes = store.HashPasses;

        PlacedObject placed;
        await using (var file = Open(source))
        {
            placed = await store.PutFileAsync(Areas.Inbox, "k/data.csv", file, mayHardLink: true, default);
        }

        var inbox = store.Describe(Areas.Inbox, "k/data.csv");
        placed.How.ShouldNotBe(Placement.Copied);
        if (placed.How == Placement.HardLinked)
        {
            Inode(inbox).ShouldBe(Inode(source));
        }

        IsReadOnly(inbox).ShouldBeTrue();
        placed.Info.Sha256.ShouldBe(TestStreams.Sha256(content));
        (store.HashPasses - passes).ShouldBe(1);
        (await store.StatAsync(Areas.Inbox, "k/data.csv", default))!.Sha256.ShouldBe(TestStreams.Sha256(content));
        (await store.PlaceCopyAsync(Areas.Inbox, "k/data.csv", Areas.Archive, "k/data.csv", default)).How.ShouldNotBe(Placement.Copied);
        (store.HashPasses - passes).ShouldBe(1); // fetch hashed, archive and stat reused it
        // The source is removed after its load (remove_after): the inbox keeps the file.
        File.Delete(source);
        (await TestStreams.ReadAllAsync(await store.OpenReadAsync(Areas.Inbox, "k/data.csv", default))).ShouldBe(content);
    }

    [LinuxFact]
    public async Task PutFile_NotAllowedToHardLink_AWritableSource_IsCopied_AndTheSourceKeepsItsMode()
    {
        var store = Store(links: new NoReflink());
        var content = TestStreams.Bytes(4000);
        var source = SourceFile(content);
        var mode = File.GetUnixFileMode(source);

        PlacedObject placed;
        await using (var file = Open(source))
        {
            placed = await store.PutFileAsync(Areas.Inbox, "k/data.csv", file, mayHardLink: false, default);
        }

        placed.How.ShouldBe(Placement.Copied);
        Inode(store.Describe(Areas.Inbox, "k/data.csv")).ShouldNotBe(Inode(source));
        File.GetUnixFileMode(source).ShouldBe(mode);
        IsReadOnly(store.Describe(Areas.Inbox, "k/data.csv")).ShouldBeTrue();
        // An edit of the source in place does not reach the inbox.
        File.WriteAllBytes(source, TestStreams.Bytes(4000, seed: 9));
        (await TestStreams.ReadAllAsync(await store.OpenReadAsync(Areas.Inbox, "k/data.csv", default))).ShouldBe(content);
    }

    [LinuxFact]
    public async Task PutFile_AReadOnlySource_IsHardLinked_EvenWithoutPermission()
    {
        var store = Store(links: new NoReflink());
        var source = SourceFile(TestStreams.Bytes(4000));
        File.SetUnixFileMode(source, UnixFileMode.UserRead | UnixFileMode.GroupRead);

        await using var file = Open(source);
        var placed = await store.PutFileAsync(Areas.Inbox, "k/data.csv", file, mayHardLink: false, default);

        placed.How.ShouldBe(Placement.HardLinked);
        Inode(store.Describe(Areas.Inbox, "k/data.csv")).ShouldBe(Inode(source));
    }

    [LinuxFact]
    public async Task PutFile_WhenLinkingFails_FallsBackToAVerifiedCopy()
    {
        var links = new NoLinks();
        var store = Store(links: links);
        var content = TestStreams.Bytes(3 * 1024 * 1024 + 1);
        var source = SourceFile(content);
        var mode = File.GetUnixFileMode(source);

        PlacedObject placed;
        await using (var file = Open(source))
        {
            placed = await store.PutFileAsync(Areas.Inbox, "k/data.csv", file, mayHardLink: true, default);
        }

        links.Tried.ShouldBe(["reflink", "link"]);
        placed.How.ShouldBe(Placement.Copied);
        placed.Info.Sha256.ShouldBe(TestStreams.Sha256(content));
        File.GetUnixFileMode(source).ShouldBe(mode);
        (await TestStreams.ReadAllAsync(await store.OpenReadAsync(Areas.Inbox, "k/data.csv", default))).ShouldBe(content);
        var copy = await store.PlaceCopyAsync(Areas.Inbox, "k/data.csv", Areas.Archive, "k/data.csv", default);
        copy.How.ShouldBe(Placement.Copied);
        copy.Info.Sha256.ShouldBe(TestStreams.Sha256(content));
        Directory.EnumerateFiles(Path.Combine(store.RootDirectory, LocalDirectoryStore.TempDirectoryName)).ShouldBeEmpty();
    }

    [LinuxFact]
    public async Task PutFile_FromAnotherFileSystem_IsCopied()
    {
        // /dev/shm is a tmpfs on Linux: a store there is on another file system than the temp folder.
        var root = Path.Combine("/dev/shm", "intake-links-" + Guid.NewGuid().ToString("N"));
        try
        {
            var store = Store(root);
            var content = TestStreams.Bytes(5000);
            var source = SourceFile(content);

            await using var file = Open(source);
            var placed = await store.PutFileAsync(Areas.Inbox, "k/data.csv", file, mayHardLink: true, default);
            if (Inode(source).Item1 == Inode(store.Describe(Areas.Inbox, "k/data.csv")).Item1)
            {
                return; // the same device after all: nothing to show here
            }

            placed.How.ShouldBe(Placement.Copied);
            placed.Info.Sha256.ShouldBe(TestStreams.Sha256(content));
            File.GetUnixFileMode(source).HasFlag(UnixFileMode.UserWrite).ShouldBeTrue();
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    [LinuxFact]
    public async Task PutFile_ASourceChangedWhileTaken_StoresNothing()
    {
        var source = SourceFile(TestStreams.Bytes(4000));
        var store = Store(links: new GrowsAfterLink(source));

        await using var file = Open(source);
        var error = await Should.ThrowAsync<IntakeException>(() => store.PutFileAsync(Areas.Inbox, "k/data.csv", file, mayHardLink: true, default));

        error.Kind.ShouldBe(ErrorKind.Integrity);
        (await store.StatAsync(Areas.Inbox, "k/data.csv", default)).ShouldBeNull();
        Directory.EnumerateFiles(Path.Combine(store.RootDirectory, LocalDirectoryStore.TempDirectoryName)).ShouldBeEmpty();
    }

    private sealed class NoReflink : FileLinks
    {
        public override CloneResult TryReflink(SafeFileHandle source, SafeFileHandle target) => CloneResult.Refused;
    }

    private sealed class NoLinks : FileLinks
    {
        public List<string> Tried { get; } = [];

        public override CloneResult TryReflink(SafeFileHandle source, SafeFileHandle target)
        {
            Tried.Add("reflink");
            return CloneResult.Refused;
        }

        public override bool TryHardLink(SafeFileHandle source, string? sourcePath, string newPath)
        {
            Tried.Add("link");
            return false;
        }
    }

    /// <summary>A producer appending to the file just after it was linked.</summary>
    private sealed class GrowsAfterLink(string path) : FileLinks
    {
        public override CloneResult TryReflink(SafeFileHandle source, SafeFileHandle target) => CloneResult.Refused;

        public override bool TryHardLink(SafeFileHandle source, string? sourcePath, string newPath)
        {
            var linked = base.TryHardLink(source, sourcePath, newPath);
            File.AppendAllText(path, "more");
            return linked;
        }
    }
}

/// <summary>Links, modes and inodes are Linux here: elsewhere the store copies, which the other store tests cover.</summary>
public sealed class LinuxFactAttribute : FactAttribute
{
    public LinuxFactAttribute()
    {
        if (!OperatingSystem.IsLinux())
        {
            Skip = "file links and modes are tested on Linux";
        }
    }
}
