using Intake.Core.Errors;
using Intake.Core.Ports;
using Intake.Tests.Shared;

namespace Intake.Storage.Tests;

public sealed class LocalDirectoryStoreTests : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "intake-store-" + Guid.NewGuid().ToString("N"));
    private readonly LocalDirectoryStore _store;

    public LocalDirectoryStoreTests() => _store = new LocalDirectoryStore("local", _root, TimeProvider.System);

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private Task<ObjectInfo> PutAsync(string area, string key, byte[] content) =>
        _store.PutAsync(area, key, new MemoryStream(content), CancellationToken.None);

    private async Task<List<string>> KeysAsync(string area, string prefix)
    {
        var keys = new List<string>();
        await foreach (var info in _store.ListAsync(area, prefix, CancellationToken.None))
        {
            keys.Add(info.Key);
        }

        return keys;
    }

    private string TempFolder => Path.Combine(_root, LocalDirectoryStore.TempDirectoryName);

    [Fact]
    public async Task Put_ThenRead_ReturnsSameBytesWithTheirSizeAndSha256()
    {
        // Larger than the 1 MiB copy buffer and not a multiple of it: the hash must span every block.
        var content = TestStreams.Bytes(3 * 1024 * 1024 + 17);

        var put = await PutAsync(Areas.Inbox, "acme/2026/data.csv", content);

        put.Size.ShouldBe(content.Length);
        put.Sha256.ShouldBe(TestStreams.Sha256(content));
        (await TestStreams.ReadAllAsync(await _store.OpenReadAsync(Areas.Inbox, "acme/2026/data.csv", CancellationToken.None))).ShouldBe(content);
        File.Exists(Path.Combine(_root, "inbox", "acme", "2026", "data.csv")).ShouldBeTrue();

        var stat = await _store.StatAsync(Areas.Inbox, "acme/2026/data.csv", CancellationToken.None);
        stat.ShouldNotBeNull();
        stat.Size.ShouldBe(content.Length);
        stat.Sha256.ShouldBe(put.Sha256);
        stat.LastModified.ShouldBe(put.LastModified);
    }

    [Fact]
    public async Task Put_EmptyStream_StoresEmptyObjectWithItsSha256()
    {
        var put = await PutAsync(Areas.Inbox, "empty.csv", []);

        put.Size.ShouldBe(0);
        put.Sha256.ShouldBe("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        (await _store.StatAsync(Areas.Inbox, "empty.csv", CancellationToken.None)).ShouldNotBeNull();
    }

    [Fact]
    public async Task Put_OverExistingKey_ReplacesContentAndChecksum()
    {
        await PutAsync(Areas.Work, "k/file.bin", TestStreams.Bytes(5000, seed: 1));
        var second = TestStreams.Bytes(1200, seed: 2);

        var put = await PutAsync(Areas.Work, "k/file.bin", second);

        put.Sha256.ShouldBe(TestStreams.Sha256(second));
        (await TestStreams.ReadAllAsync(await _store.OpenReadAsync(Areas.Work, "k/file.bin", CancellationToken.None))).ShouldBe(second);
        var stat = await _store.StatAsync(Areas.Work, "k/file.bin", CancellationToken.None);
        stat!.Size.ShouldBe(second.Length);
        stat.Sha256.ShouldBe(TestStreams.Sha256(second));
    }

    [Fact]
    public async Task Put_WhenSourceFailsMidway_LeavesNoObjectAndNoPartialFile()
    {
        var content = TestStreams.Bytes(3 * 1024 * 1024);

        var thrown = await Should.ThrowAsync<IOException>(
            () => _store.PutAsync(Areas.Inbox, "a/broken.csv", new FailingStream(content, 1024 * 1024 + 5), CancellationToken.None));

        // The source's own failure comes through unchanged: it, not the store, knows what went wrong.
        thrown.Message.ShouldBe("connection reset by peer");
        (await _store.StatAsync(Areas.Inbox, "a/broken.csv", CancellationToken.None)).ShouldBeNull();
        await Should.ThrowAsync<FileNotFoundException>(() => _store.OpenReadAsync(Areas.Inbox, "a/broken.csv", CancellationToken.None));
        (await KeysAsync(Areas.Inbox, "")).ShouldBeEmpty();
        Directory.EnumerateFiles(TempFolder).ShouldBeEmpty();
    }

    [Fact]
    public async Task Put_WhenSourceFailsMidway_KeepsThePreviousVersionIntact()
    {
        var original = TestStreams.Bytes(2 * 1024 * 1024, seed: 7);
        var originalInfo = await PutAsync(Areas.Inbox, "a/data.csv", original);

        await Should.ThrowAsync<IOException>(
            () => _store.PutAsync(Areas.Inbox, "a/data.csv", new FailingStream(TestStreams.Bytes(3 * 1024 * 1024, seed: 8), 1024 * 1024 + 1), CancellationToken.None));

        (await TestStreams.ReadAllAsync(await _store.OpenReadAsync(Areas.Inbox, "a/data.csv", CancellationToken.None))).ShouldBe(original);
        var stat = await _store.StatAsync(Areas.Inbox, "a/data.csv", CancellationToken.None);
        stat!.Sha256.ShouldBe(originalInfo.Sha256);
        stat.Size.ShouldBe(original.Length);
        Directory.EnumerateFiles(TempFolder).ShouldBeEmpty();
    }

    [Fact]
    public async Task Put_WhenCancelled_LeavesNoObject()
    {
        using var cancelled = new CancellationTokenSource();
        await cancelled.CancelAsync();

        await Should.ThrowAsync<OperationCanceledException>(
            () => _store.PutAsync(Areas.Inbox, "x.csv", new MemoryStream(TestStreams.Bytes(100)), cancelled.Token));

        (await _store.StatAsync(Areas.Inbox, "x.csv", CancellationToken.None)).ShouldBeNull();
        Directory.EnumerateFiles(TempFolder).ShouldBeEmpty();
    }

    [Fact]
    public async Task Put_KeyBelowAnExistingObject_FailsAsConfigWithoutRetrying()
    {
        await PutAsync(Areas.Inbox, "a", [1]);

        // "a" is a file, so "a/b" cannot be a folder entry on a file system.
        var thrown = await Should.ThrowAsync<IntakeException>(() => PutAsync(Areas.Inbox, "a/b/c", [2]));

        thrown.Kind.ShouldBe(ErrorKind.Config);
        thrown.Message.ShouldContain(Path.Combine(_root, "inbox", "a"));
        (await TestStreams.ReadAllAsync(await _store.OpenReadAsync(Areas.Inbox, "a", CancellationToken.None))).ShouldBe([(byte)1]);
        Directory.EnumerateFiles(TempFolder).ShouldBeEmpty();
    }

    [Fact]
    public async Task List_ReturnsKeysRecursivelyInOrdinalOrder()
    {
        foreach (var key in new[] { "b", "a/c", "a-b", "a/b/d", "A", "a/b/.hidden" })
        {
            await PutAsync(Areas.Archive, key, [1, 2, 3]);
        }

        // Ordinal over the whole key, as S3 lists: "a-b" before "a/..." because '-' < '/'.
        (await KeysAsync(Areas.Archive, "")).ShouldBe(["A", "a-b", "a/b/.hidden", "a/b/d", "a/c", "b"]);
    }

    [Fact]
    public async Task List_ReportsSizeAndChecksumOfEachObject()
    {
        var content = TestStreams.Bytes(1000);
        await PutAsync(Areas.Archive, "x/y.bin", content);

        var listed = new List<ObjectInfo>();
        await foreach (var info in _store.ListAsync(Areas.Archive, "x/", CancellationToken.None))
        {
            listed.Add(info);
        }

        listed.Count.ShouldBe(1);
        listed[0].Area.ShouldBe(Areas.Archive);
        listed[0].Size.ShouldBe(1000);
        listed[0].Sha256.ShouldBe(TestStreams.Sha256(content));
    }

    [Fact]
    public async Task List_WithPrefix_MatchesAsAStringPrefixLikeS3()
    {
        foreach (var key in new[] { "c/load1/a", "c/load1/b/c", "c/load10/x", "c/load2/y", "c/load1.csv", "d/z" })
        {
            await PutAsync(Areas.Work, key, [1]);
        }

        (await KeysAsync(Areas.Work, "c/load1/")).ShouldBe(["c/load1/a", "c/load1/b/c"]);
        (await KeysAsync(Areas.Work, "c/load1")).ShouldBe(["c/load1.csv", "c/load1/a", "c/load1/b/c", "c/load10/x"]);
        (await KeysAsync(Areas.Work, "c/load1/b/c")).ShouldBe(["c/load1/b/c"]);
        (await KeysAsync(Areas.Work, "nothing/")).ShouldBeEmpty();
        (await KeysAsync("never-written", "")).ShouldBeEmpty();
    }

    [Fact]
    public async Task List_NeverShowsTempOrChecksumFiles()
    {
        await PutAsync(Areas.Inbox, "k.csv", [1]);
        await File.WriteAllTextAsync(Path.Combine(TempFolder, "leftover.part"), "partial");

        (await KeysAsync(Areas.Inbox, "")).ShouldBe(["k.csv"]);
        Should.Throw<ArgumentException>(() => _store.ListAsync(".tmp", "", CancellationToken.None).GetAsyncEnumerator().MoveNextAsync().AsTask());
        Should.Throw<ArgumentException>(() => _store.ListAsync(".meta", "", CancellationToken.None).GetAsyncEnumerator().MoveNextAsync().AsTask());
    }

    [Fact]
    public async Task Stat_WhenObjectWasChangedOutsideTheStore_ReportsTheChecksumOfItsCurrentContent()
    {
        // A writable area: the inbox original is read-only (mode 0444), so only root could edit it in place.
        await PutAsync(Areas.Work, "edited.csv", TestStreams.Bytes(500, seed: 1));
        var edited = TestStreams.Bytes(700, seed: 2);
        await File.WriteAllBytesAsync(Path.Combine(_root, "work", "edited.csv"), edited);

        var stat = await _store.StatAsync(Areas.Work, "edited.csv", CancellationToken.None);

        stat!.Size.ShouldBe(edited.Length);
        stat.Sha256.ShouldBe(TestStreams.Sha256(edited));
    }

    [Fact]
    public async Task List_ObjectPlacedByHand_HasNoChecksumUntilStatComputesIt()
    {
        var content = TestStreams.Bytes(300);
        Directory.CreateDirectory(Path.Combine(_root, "raw", "manual"));
        await File.WriteAllBytesAsync(Path.Combine(_root, "raw", "manual", "f.bin"), content);

        var before = await FirstAsync("raw");
        var stat = await _store.StatAsync("raw", "manual/f.bin", CancellationToken.None);
        var after = await FirstAsync("raw");

        before.Sha256.ShouldBeNull();
        stat!.Sha256.ShouldBe(TestStreams.Sha256(content));
        after.Sha256.ShouldBe(TestStreams.Sha256(content));

        async Task<ObjectInfo> FirstAsync(string area)
        {
            await foreach (var info in _store.ListAsync(area, "", CancellationToken.None))
            {
                return info;
            }

            throw new InvalidOperationException("nothing listed");
        }
    }

    [Fact]
    public async Task Copy_CreatesVerifiedCopyWithSameChecksum()
    {
        var content = TestStreams.Bytes(2 * 1024 * 1024 + 3);
        var source = await PutAsync(Areas.Inbox, "c/t/g/20260101_000000/data.csv", content);

        var copy = await _store.CopyAsync(Areas.Inbox, "c/t/g/20260101_000000/data.csv", Areas.Archive, "c/t/g/20260101_000000/data.csv", CancellationToken.None);

        copy.Area.ShouldBe(Areas.Archive);
        copy.Size.ShouldBe(source.Size);
        copy.Sha256.ShouldBe(source.Sha256);
        (await TestStreams.ReadAllAsync(await _store.OpenReadAsync(Areas.Archive, "c/t/g/20260101_000000/data.csv", CancellationToken.None))).ShouldBe(content);
        // The source stays: an inbox original is never modified.
        (await _store.StatAsync(Areas.Inbox, "c/t/g/20260101_000000/data.csv", CancellationToken.None))!.Sha256.ShouldBe(source.Sha256);
    }

    [Fact]
    public async Task Copy_Repeated_GivesTheSameResult()
    {
        var content = TestStreams.Bytes(4096);
        await PutAsync(Areas.Inbox, "f", content);

        var first = await _store.CopyAsync(Areas.Inbox, "f", Areas.Archive, "f", CancellationToken.None);
        var second = await _store.CopyAsync(Areas.Inbox, "f", Areas.Archive, "f", CancellationToken.None);

        second.Sha256.ShouldBe(first.Sha256);
        (await TestStreams.ReadAllAsync(await _store.OpenReadAsync(Areas.Archive, "f", CancellationToken.None))).ShouldBe(content);
    }

    [Fact]
    public async Task Copy_WhenSourceBytesDecayedOnDisk_ThrowsIntegrityAndCreatesNoCopy()
    {
        var content = TestStreams.Bytes(10_000);
        // A writable area: a copy of it reads and verifies every byte. (A copy of the read-only inbox original is a
        // link on one file system, which shares the bytes and their recorded checksum: see LocalDirectoryStoreLinkTests.)
        await PutAsync(Areas.Work, "rot.bin", content);
        var path = Path.Combine(_root, "work", "rot.bin");
        var stamp = File.GetLastWriteTimeUtc(path);

        // Bit rot: same size, same modification time, different bytes. The recorded checksum no longer holds.
        await using (var file = new FileStream(path, FileMode.Open, FileAccess.Write))
        {
            file.Position = 5000;
            file.WriteByte((byte)(content[5000] ^ 0xFF));
        }

        File.SetLastWriteTimeUtc(path, stamp);

        var thrown = await Should.ThrowAsync<IntakeException>(
            () => _store.CopyAsync(Areas.Work, "rot.bin", Areas.Archive, "rot.bin", CancellationToken.None));

        thrown.Kind.ShouldBe(ErrorKind.Integrity);
        (await _store.StatAsync(Areas.Archive, "rot.bin", CancellationToken.None)).ShouldBeNull();
        Directory.EnumerateFiles(TempFolder).ShouldBeEmpty();
    }

    [Fact]
    public async Task Copy_MissingSource_ThrowsFileNotFound()
    {
        await Should.ThrowAsync<FileNotFoundException>(
            () => _store.CopyAsync(Areas.Inbox, "absent", Areas.Archive, "absent", CancellationToken.None));
    }

    [Fact]
    public async Task Delete_RemovesObjectAndIgnoresAbsentOnes()
    {
        await PutAsync(Areas.Work, "a/b.csv", [1]);

        await _store.DeleteAsync(Areas.Work, "a/b.csv", CancellationToken.None);
        await _store.DeleteAsync(Areas.Work, "a/b.csv", CancellationToken.None);
        await _store.DeleteAsync(Areas.Work, "never/there.csv", CancellationToken.None);

        (await _store.StatAsync(Areas.Work, "a/b.csv", CancellationToken.None)).ShouldBeNull();
    }

    [Fact]
    public async Task DeletePrefix_RemovesTheFolderTreeAndNothingElse()
    {
        foreach (var key in new[] { "load1/a", "load1/b/c", "load10/x", "other" })
        {
            await PutAsync(Areas.Work, key, [1]);
        }

        await _store.DeletePrefixAsync(Areas.Work, "load1/", CancellationToken.None);

        (await KeysAsync(Areas.Work, "")).ShouldBe(["load10/x", "other"]);
        Directory.Exists(Path.Combine(_root, "work", "load1")).ShouldBeFalse();
        Directory.Exists(Path.Combine(_root, LocalDirectoryStore.MetaDirectoryName, "work", "load1")).ShouldBeFalse();

        // Absent is not an error, and the area is usable again at once.
        await _store.DeletePrefixAsync(Areas.Work, "load1/", CancellationToken.None);
        var again = await PutAsync(Areas.Work, "load1/a", [9]);
        (await _store.StatAsync(Areas.Work, "load1/a", CancellationToken.None))!.Sha256.ShouldBe(again.Sha256);
    }

    [Fact]
    public async Task DeletePrefix_WithoutTrailingSlash_MatchesLikeList()
    {
        foreach (var key in new[] { "load1/a", "load10/x", "load2/y" })
        {
            await PutAsync(Areas.Work, key, [1]);
        }

        await _store.DeletePrefixAsync(Areas.Work, "load1", CancellationToken.None);

        (await KeysAsync(Areas.Work, "")).ShouldBe(["load2/y"]);
    }

    [Fact]
    public async Task DeletePrefix_Empty_IsRefusedSoAnAreaIsNeverWipedByMistake()
    {
        await PutAsync(Areas.Inbox, "keep", [1]);

        await Should.ThrowAsync<ArgumentException>(() => _store.DeletePrefixAsync(Areas.Inbox, "", CancellationToken.None));

        (await KeysAsync(Areas.Inbox, "")).ShouldBe(["keep"]);
    }

    [Fact]
    public async Task OpenRead_KeyThatIsAFolder_ThrowsFileNotFound()
    {
        await PutAsync(Areas.Inbox, "folder/file", [1]);

        await Should.ThrowAsync<FileNotFoundException>(() => _store.OpenReadAsync(Areas.Inbox, "folder", CancellationToken.None));
        (await _store.StatAsync(Areas.Inbox, "folder", CancellationToken.None)).ShouldBeNull();
    }

    [Fact]
    public void Describe_ReturnsTheFullPath()
    {
        _store.Describe(Areas.Archive, "c/t/file.csv").ShouldBe(Path.Combine(_root, "archive", "c", "t", "file.csv"));
    }

    [Theory]
    [InlineData("")]
    [InlineData("/etc/passwd")]
    [InlineData("../outside")]
    [InlineData("a/../../outside")]
    [InlineData("a/..")]
    [InlineData("./a")]
    [InlineData("a\\b")]
    [InlineData("a\0b")]
    [InlineData("a//b")]
    [InlineData("a/")]
    public async Task InvalidKey_IsRejectedBeforeTouchingTheDisk(string key)
    {
        await Should.ThrowAsync<ArgumentException>(() => _store.PutAsync(Areas.Inbox, key, new MemoryStream([1]), CancellationToken.None));
        await Should.ThrowAsync<ArgumentException>(() => _store.OpenReadAsync(Areas.Inbox, key, CancellationToken.None));
        await Should.ThrowAsync<ArgumentException>(() => _store.StatAsync(Areas.Inbox, key, CancellationToken.None));
        await Should.ThrowAsync<ArgumentException>(() => _store.DeleteAsync(Areas.Inbox, key, CancellationToken.None));
        await Should.ThrowAsync<ArgumentException>(() => _store.CopyAsync(Areas.Inbox, "x", Areas.Archive, key, CancellationToken.None));
        Should.Throw<ArgumentException>(() => _store.Describe(Areas.Inbox, key));
        Directory.EnumerateFileSystemEntries(_root).Select(Path.GetFileName).Order().ShouldBe([".meta", ".tmp"]);
    }

    [Theory]
    [InlineData("")]
    [InlineData(".tmp")]
    [InlineData(".meta")]
    [InlineData("a/b")]
    [InlineData("..")]
    [InlineData("/inbox")]
    [InlineData("in\\box")]
    public async Task InvalidArea_IsRejected(string area)
    {
        await Should.ThrowAsync<ArgumentException>(() => _store.PutAsync(area, "k", new MemoryStream([1]), CancellationToken.None));
        await Should.ThrowAsync<ArgumentException>(() => _store.DeletePrefixAsync(area, "k/", CancellationToken.None));
    }

    [Theory]
    [InlineData("/")]
    [InlineData("../")]
    [InlineData("a//")]
    [InlineData("a/../b/")]
    public async Task InvalidPrefix_IsRejected(string prefix)
    {
        await Should.ThrowAsync<ArgumentException>(() => _store.DeletePrefixAsync(Areas.Work, prefix, CancellationToken.None));
        await Should.ThrowAsync<ArgumentException>(() => _store.ListAsync(Areas.Work, prefix, CancellationToken.None).GetAsyncEnumerator().MoveNextAsync().AsTask());
    }

    [Fact]
    public void Open_RemovesTempFilesAbandonedMoreThanAnHourAgo()
    {
        var clock = new ManualTimeProvider(DateTimeOffset.UtcNow);
        var abandoned = Path.Combine(TempFolder, "dead.part");
        var inFlight = Path.Combine(TempFolder, "live.part");
        File.WriteAllText(abandoned, "x");
        File.WriteAllText(inFlight, "y");
        File.SetLastWriteTimeUtc(abandoned, clock.GetUtcNow().UtcDateTime.AddHours(-2));
        File.SetLastWriteTimeUtc(inFlight, clock.GetUtcNow().UtcDateTime.AddMinutes(-10));

        _ = new LocalDirectoryStore("local", _root, clock);

        File.Exists(abandoned).ShouldBeFalse();
        // Possibly another process's write in progress: left alone.
        File.Exists(inFlight).ShouldBeTrue();
    }

    [Fact]
    public void Open_WhenRootCannotBeCreated_ThrowsConfigNamingThePath()
    {
        var blocker = Path.Combine(_root, "a-file");
        File.WriteAllText(blocker, "x");

        var thrown = Should.Throw<IntakeException>(() => new LocalDirectoryStore("broken", Path.Combine(blocker, "store"), TimeProvider.System));

        thrown.Kind.ShouldBe(ErrorKind.Config);
        thrown.Message.ShouldContain(Path.Combine(blocker, "store"));
    }
}
