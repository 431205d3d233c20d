using Intake.Core.Ports;
using Intake.Storage.S3;
using Intake.Storage.Tests.S3;
using Intake.Storage.Tests.Support;
using Intake.Tests.Shared;

namespace Intake.Storage.Tests;

/// <summary>
/// What every <see cref="IObjectStore"/> must do, run once per implementation (local directory, S3) so the
/// engine can use either without noticing. Each run gets a fresh, empty store.
/// </summary>
public abstract class ObjectStoreComplianceTests : IAsyncLifetime
{
    private IObjectStore? _store;

    protected IObjectStore Store => _store ?? throw new InvalidOperationException("not initialised");

    protected abstract Task<IObjectStore> CreateStoreAsync();

    /// <summary>
    /// False for a store whose server lists in another order. The S3 store passes the server's order through:
    /// S3, MinIO and Ceph list by key, but s3rver (the S3 test server) walks its folders, so "a/b" comes before
    /// "a-b" there. Such a store is still held to the set of keys; only their order goes unchecked.
    /// </summary>
    protected virtual bool ServerListsInKeyOrder => true;

    private void ShouldBeListed(List<string> actual, string[] expected)
    {
        if (ServerListsInKeyOrder)
        {
            actual.ShouldBe(expected);
        }
        else
        {
            actual.Order(StringComparer.Ordinal).ShouldBe(expected);
        }
    }

    public async Task InitializeAsync() => _store = await CreateStoreAsync();

    public virtual Task DisposeAsync()
    {
        (_store as IDisposable)?.Dispose();
        return Task.CompletedTask;
    }

    private Task<ObjectInfo> PutAsync(string area, string key, byte[] content) =>
        Store.PutAsync(area, key, new MemoryStream(content), CancellationToken.None);

    private async Task<byte[]> ReadAsync(string area, string key) =>
        await TestStreams.ReadAllAsync(await Store.OpenReadAsync(area, key, CancellationToken.None));

    private async Task<List<ObjectInfo>> ListAsync(string area, string prefix)
    {
        var listed = new List<ObjectInfo>();
        await foreach (var info in Store.ListAsync(area, prefix, CancellationToken.None))
        {
            listed.Add(info);
        }

        return listed;
    }

    private async Task<List<string>> KeysAsync(string area, string prefix) => (await ListAsync(area, prefix)).Select(i => i.Key).ToList();

    [StoreFact]
    public async Task Put_ThenReadAndStat_GiveBackTheSameBytesSizeAndSha256()
    {
        var content = TestStreams.Bytes(3 * 1024 * 1024 + 17);

        var put = await PutAsync(Areas.Inbox, "acme/2026/data.csv", content);

        put.Area.ShouldBe(Areas.Inbox);
        put.Key.ShouldBe("acme/2026/data.csv");
        put.Size.ShouldBe(content.Length);
        put.Sha256.ShouldBe(TestStreams.Sha256(content));
        (await ReadAsync(Areas.Inbox, "acme/2026/data.csv")).ShouldBeSameBytes(content);
        var stat = await Store.StatAsync(Areas.Inbox, "acme/2026/data.csv", CancellationToken.None);
        stat.ShouldNotBeNull();
        stat.Size.ShouldBe(content.Length);
        stat.Sha256.ShouldBe(put.Sha256);
        stat.LastModified.ShouldBe(put.LastModified);
    }

    [StoreFact]
    public async Task Put_EmptyStream_StoresAnEmptyObjectWithItsSha256()
    {
        var put = await PutAsync(Areas.Inbox, "empty.csv", []);

        put.Size.ShouldBe(0);
        put.Sha256.ShouldBe("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        (await ReadAsync(Areas.Inbox, "empty.csv")).ShouldBeEmpty();
        (await Store.StatAsync(Areas.Inbox, "empty.csv", CancellationToken.None))!.Size.ShouldBe(0);
    }

    [StoreFact]
    public async Task Put_OverAnExistingKey_ReplacesContentAndChecksum()
    {
        await PutAsync(Areas.Work, "k/file.bin", TestStreams.Bytes(5000, seed: 1));
        var second = TestStreams.Bytes(1200, seed: 2);

        var put = await PutAsync(Areas.Work, "k/file.bin", second);

        put.Sha256.ShouldBe(TestStreams.Sha256(second));
        (await ReadAsync(Areas.Work, "k/file.bin")).ShouldBeSameBytes(second);
        var stat = await Store.StatAsync(Areas.Work, "k/file.bin", CancellationToken.None);
        stat!.Size.ShouldBe(second.Length);
        stat.Sha256.ShouldBe(TestStreams.Sha256(second));
    }

    [StoreFact]
    public async Task Put_WhenTheSourceFailsMidway_PassesItsErrorOnAndLeavesNoObject()
    {
        var content = TestStreams.Bytes(3 * 1024 * 1024);

        var thrown = await Should.ThrowAsync<IOException>(
            () => Store.PutAsync(Areas.Inbox, "a/broken.csv", new FailingStream(content, 1024 * 1024 + 5), CancellationToken.None));

        thrown.Message.ShouldBe("connection reset by peer");
        (await Store.StatAsync(Areas.Inbox, "a/broken.csv", CancellationToken.None)).ShouldBeNull();
        await Should.ThrowAsync<FileNotFoundException>(() => Store.OpenReadAsync(Areas.Inbox, "a/broken.csv", CancellationToken.None));
        (await KeysAsync(Areas.Inbox, "")).ShouldBeEmpty();
    }

    [StoreFact]
    public async Task Put_WhenTheSourceFailsMidway_KeepsThePreviousVersionIntact()
    {
        var original = TestStreams.Bytes(2 * 1024 * 1024, seed: 7);
        var originalInfo = await PutAsync(Areas.Inbox, "a/data.csv", original);

        await Should.ThrowAsync<IOException>(() => Store.PutAsync(
            Areas.Inbox, "a/data.csv", new FailingStream(TestStreams.Bytes(3 * 1024 * 1024, seed: 8), 1024 * 1024 + 1), CancellationToken.None));

        (await ReadAsync(Areas.Inbox, "a/data.csv")).ShouldBeSameBytes(original);
        (await Store.StatAsync(Areas.Inbox, "a/data.csv", CancellationToken.None))!.Sha256.ShouldBe(originalInfo.Sha256);
    }

    [StoreFact]
    public async Task Put_WhenCancelled_LeavesNoObject()
    {
        using var cancelled = new CancellationTokenSource();
        await cancelled.CancelAsync();

        await Should.ThrowAsync<OperationCanceledException>(
            () => Store.PutAsync(Areas.Inbox, "x.csv", new MemoryStream(TestStreams.Bytes(100)), cancelled.Token));

        (await Store.StatAsync(Areas.Inbox, "x.csv", CancellationToken.None)).ShouldBeNull();
    }

    [StoreFact]
    public async Task List_ReturnsEveryKeyBelowTheAreaInOrdinalOrder()
    {
        foreach (var key in new[] { "b", "a/c", "a-b", "a/b/d", "A", "a/b/.hidden" })
        {
            await PutAsync(Areas.Archive, key, [1, 2, 3]);
        }

        await PutAsync(Areas.Inbox, "other-area", [1]);

        // Ordinal over the whole key, as S3 lists: "a-b" before "a/..." because '-' < '/'.
        ShouldBeListed(await KeysAsync(Areas.Archive, ""), ["A", "a-b", "a/b/.hidden", "a/b/d", "a/c", "b"]);
    }

    [StoreFact]
    public async Task List_ReportsAreaSizeAndTime_AndAChecksumOnlyWhenItIsRight()
    {
        var content = TestStreams.Bytes(1000);
        var put = await PutAsync(Areas.Archive, "x/y.bin", content);

        var listed = await ListAsync(Areas.Archive, "x/");

        listed.Count.ShouldBe(1);
        listed[0].Area.ShouldBe(Areas.Archive);
        listed[0].Size.ShouldBe(1000);
        listed[0].LastModified.ShouldBe(put.LastModified);
        // A store may leave the checksum out of a listing (S3 lists no metadata), never report a wrong one.
        (listed[0].Sha256 is null || listed[0].Sha256 == TestStreams.Sha256(content)).ShouldBeTrue();
    }

    [StoreFact]
    public async Task List_WithPrefix_MatchesAsAStringPrefixLikeS3()
    {
        foreach (var key in new[] { "c/load1/a", "c/load1/b/c", "c/load10/x", "c/load2/y", "c/load1.csv", "d/z" })
        {
            await PutAsync(Areas.Work, key, [1]);
        }

        (await KeysAsync(Areas.Work, "c/load1/")).ShouldBe(["c/load1/a", "c/load1/b/c"]);
        ShouldBeListed(await KeysAsync(Areas.Work, "c/load1"), ["c/load1.csv", "c/load1/a", "c/load1/b/c", "c/load10/x"]);
        (await KeysAsync(Areas.Work, "c/load1/b/c")).ShouldBe(["c/load1/b/c"]);
        (await KeysAsync(Areas.Work, "nothing/")).ShouldBeEmpty();
        (await KeysAsync("never-written", "")).ShouldBeEmpty();
    }

    [StoreFact]
    public async Task StatAndOpenRead_OfAMissingKey_GiveNullAndFileNotFound()
    {
        await PutAsync(Areas.Inbox, "folder/file", [1]);

        (await Store.StatAsync(Areas.Inbox, "absent.csv", CancellationToken.None)).ShouldBeNull();
        await Should.ThrowAsync<FileNotFoundException>(() => Store.OpenReadAsync(Areas.Inbox, "absent.csv", CancellationToken.None));
        // A key that is only the folder of other keys is not an object either.
        (await Store.StatAsync(Areas.Inbox, "folder", CancellationToken.None)).ShouldBeNull();
        await Should.ThrowAsync<FileNotFoundException>(() => Store.OpenReadAsync(Areas.Inbox, "folder", CancellationToken.None));
    }

    [StoreFact]
    public async Task Copy_ToAnotherArea_GivesAVerifiedIdenticalObjectAndKeepsTheSource()
    {
        var content = TestStreams.Bytes(2 * 1024 * 1024 + 3);
        var put = await PutAsync(Areas.Inbox, "c/t/file.csv", content);

        var copy = await Store.CopyAsync(Areas.Inbox, "c/t/file.csv", Areas.Archive, "c/t/file.csv", CancellationToken.None);

        copy.Area.ShouldBe(Areas.Archive);
        copy.Key.ShouldBe("c/t/file.csv");
        copy.Size.ShouldBe(content.Length);
        copy.Sha256.ShouldBe(put.Sha256);
        (await ReadAsync(Areas.Archive, "c/t/file.csv")).ShouldBeSameBytes(content);
        (await Store.StatAsync(Areas.Archive, "c/t/file.csv", CancellationToken.None))!.Sha256.ShouldBe(put.Sha256);
        (await ReadAsync(Areas.Inbox, "c/t/file.csv")).ShouldBeSameBytes(content);
    }

    [StoreFact]
    public async Task Copy_RepeatedAndThenDeleted_IsASafeMove()
    {
        var content = TestStreams.Bytes(4096);
        await PutAsync(Areas.Work, "m/file.bin", content);

        // A move is copy, verify, delete; a crash between the steps is repaired by running them again.
        await Store.CopyAsync(Areas.Work, "m/file.bin", Areas.Error, "m/file.bin", CancellationToken.None);
        var again = await Store.CopyAsync(Areas.Work, "m/file.bin", Areas.Error, "m/file.bin", CancellationToken.None);
        await Store.DeleteAsync(Areas.Work, "m/file.bin", CancellationToken.None);

        again.Sha256.ShouldBe(TestStreams.Sha256(content));
        (await ReadAsync(Areas.Error, "m/file.bin")).ShouldBeSameBytes(content);
        (await Store.StatAsync(Areas.Work, "m/file.bin", CancellationToken.None)).ShouldBeNull();
    }

    [StoreFact]
    public async Task Copy_OntoItself_ReturnsTheObjectUnchanged()
    {
        var content = TestStreams.Bytes(100);
        await PutAsync(Areas.Work, "same", content);

        var copy = await Store.CopyAsync(Areas.Work, "same", Areas.Work, "same", CancellationToken.None);

        copy.Sha256.ShouldBe(TestStreams.Sha256(content));
        (await ReadAsync(Areas.Work, "same")).ShouldBeSameBytes(content);
    }

    [StoreFact]
    public async Task Copy_MissingSource_ThrowsFileNotFound()
    {
        await Should.ThrowAsync<FileNotFoundException>(
            () => Store.CopyAsync(Areas.Inbox, "absent", Areas.Archive, "absent", CancellationToken.None));
        (await Store.StatAsync(Areas.Archive, "absent", CancellationToken.None)).ShouldBeNull();
    }

    [StoreFact]
    public async Task Delete_RemovesTheObjectAndIgnoresAbsentOnes()
    {
        await PutAsync(Areas.Work, "a/b.csv", [1]);
        await PutAsync(Areas.Work, "a/keep.csv", [2]);

        await Store.DeleteAsync(Areas.Work, "a/b.csv", CancellationToken.None);
        await Store.DeleteAsync(Areas.Work, "a/b.csv", CancellationToken.None);
        await Store.DeleteAsync(Areas.Work, "never/there.csv", CancellationToken.None);

        (await KeysAsync(Areas.Work, "")).ShouldBe(["a/keep.csv"]);
    }

    [StoreFact]
    public async Task DeletePrefix_RemovesTheFolderTreeAndNothingElse()
    {
        foreach (var key in new[] { "load1/a", "load1/b/c", "load10/x", "other" })
        {
            await PutAsync(Areas.Work, key, [1]);
        }

        await PutAsync(Areas.Archive, "load1/a", [1]);

        await Store.DeletePrefixAsync(Areas.Work, "load1/", CancellationToken.None);

        (await KeysAsync(Areas.Work, "")).ShouldBe(["load10/x", "other"]);
        (await KeysAsync(Areas.Archive, "")).ShouldBe(["load1/a"]);
        // Absent is not an error, and the prefix is usable again at once.
        await Store.DeletePrefixAsync(Areas.Work, "load1/", CancellationToken.None);
        var again = await PutAsync(Areas.Work, "load1/a", [9]);
        (await Store.StatAsync(Areas.Work, "load1/a", CancellationToken.None))!.Sha256.ShouldBe(again.Sha256);
    }

    [StoreFact]
    public async Task DeletePrefix_WithoutTrailingSlash_MatchesLikeList()
    {
        foreach (var key in new[] { "load1/a", "load10/x", "load2/y" })
        {
            await PutAsync(Areas.Work, key, [1]);
        }

        await Store.DeletePrefixAsync(Areas.Work, "load1", CancellationToken.None);

        (await KeysAsync(Areas.Work, "")).ShouldBe(["load2/y"]);
    }

    [StoreFact]
    public async Task DeletePrefix_Empty_IsRefusedSoAnAreaIsNeverWipedByMistake()
    {
        await PutAsync(Areas.Inbox, "keep", [1]);

        await Should.ThrowAsync<ArgumentException>(() => Store.DeletePrefixAsync(Areas.Inbox, "", CancellationToken.None));

        (await KeysAsync(Areas.Inbox, "")).ShouldBe(["keep"]);
    }

    [StoreFact]
    public async Task InvalidKeysAreasAndPrefixes_AreRejectedBeforeAnyIO()
    {
        foreach (var key in new[] { "", "/etc/passwd", "../outside", "a/../../x", "a\\b", "a\0b", "a//b", "a/" })
        {
            await Should.ThrowAsync<ArgumentException>(() => Store.PutAsync(Areas.Inbox, key, new MemoryStream([1]), CancellationToken.None));
            await Should.ThrowAsync<ArgumentException>(() => Store.OpenReadAsync(Areas.Inbox, key, CancellationToken.None));
            await Should.ThrowAsync<ArgumentException>(() => Store.StatAsync(Areas.Inbox, key, CancellationToken.None));
            await Should.ThrowAsync<ArgumentException>(() => Store.CopyAsync(Areas.Inbox, "x", Areas.Archive, key, CancellationToken.None));
            Should.Throw<ArgumentException>(() => Store.Describe(Areas.Inbox, key));
        }

        foreach (var area in new[] { "", ".tmp", "a/b", "..", "in\\box" })
        {
            await Should.ThrowAsync<ArgumentException>(() => Store.PutAsync(area, "k", new MemoryStream([1]), CancellationToken.None));
        }

        await Should.ThrowAsync<ArgumentException>(() => Store.DeletePrefixAsync(Areas.Work, "../", CancellationToken.None));
        (await KeysAsync(Areas.Inbox, "")).ShouldBeEmpty();
    }
}

public sealed class LocalDirectoryStoreComplianceTests : ObjectStoreComplianceTests, IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "intake-compliance-" + Guid.NewGuid().ToString("N"));

    protected override Task<IObjectStore> CreateStoreAsync() => Task.FromResult<IObjectStore>(new LocalDirectoryStore("local", _root, TimeProvider.System));

    public void Dispose() => Directory.Delete(_root, recursive: true);
}

[RequiresServer(typeof(S3FactAttribute))]
public sealed class S3ObjectStoreComplianceTests : ObjectStoreComplianceTests
{
    protected override bool ServerListsInKeyOrder => false;

    protected override async Task<IObjectStore> CreateStoreAsync() =>
        new S3ObjectStore(TestS3.Http.StoreOptions(await TestS3.Http.CreateBucketAsync(), o => o.Prefix = "intake/test"));
}

/// <summary>The same suite with the archive and error areas in buckets of their own, so copies cross buckets.</summary>
[RequiresServer(typeof(S3FactAttribute))]
public sealed class S3ObjectStoreAreaBucketsComplianceTests : ObjectStoreComplianceTests
{
    protected override bool ServerListsInKeyOrder => false;

    protected override async Task<IObjectStore> CreateStoreAsync()
    {
        var main = await TestS3.Http.CreateBucketAsync();
        var cold = await TestS3.Http.CreateBucketAsync();
        return new S3ObjectStore(TestS3.Http.StoreOptions(main, o =>
        {
            o.AreaBuckets[Areas.Archive] = cold + "/archive/raw";
            o.AreaBuckets[Areas.Error] = cold + "/error";
            o.AreaBuckets["never-written"] = cold + "/other";
        }));
    }
}
