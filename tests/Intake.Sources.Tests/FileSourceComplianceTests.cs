using System.Security.Cryptography;
using Intake.Core.Errors;
using Intake.Sources.Tests.Support;
using Intake.Tests.Shared;

namespace Intake.Sources.Tests;

/// <summary>
/// What every file source must do for discovery and the fetch step (see <see cref="IFileSource"/>), whatever
/// holds the files: subclassed once per implementation (local folder, FTP, SFTP, S3), each against the real
/// thing, so they are held to the same behaviour. Each test works in a folder or bucket of its own.
/// </summary>
public abstract class FileSourceComplianceTests : IAsyncLifetime
{
    private readonly List<object> _owned = [];

    /// <summary>The stable-file rule's wait in these tests.</summary>
    protected static readonly TimeSpan StableFor = TimeSpan.FromMinutes(1);

    /// <summary>The clock of the sources (the stable-file rule); files are written with times relative to it.</summary>
    protected ManualTimeProvider Clock { get; } = new();

    /// <summary>A time long enough before the clock's now for any file to count as complete.</summary>
    protected DateTimeOffset Old => Clock.GetUtcNow() - TimeSpan.FromMinutes(30);

    /// <summary>Whether files appear only once complete (S3 shows an object when its upload has finished), so no stable-file rule applies.</summary>
    protected virtual bool AppearsWhole => false;

    /// <summary>Whether listings come in key order (S3-compatible servers may differ from S3 itself).</summary>
    protected virtual bool ListsInKeyOrder => true;

    /// <summary>Whether a read whose connection drops carries on where it stopped (else it must fail, never end short).</summary>
    protected virtual bool ResumesDroppedReads => false;

    /// <summary>Whether the source can delete a listed file (<see cref="IRemovableFileSource"/>, for <c>source.remove_after</c>).</summary>
    protected virtual bool Removes => false;

    public Task InitializeAsync() => SetUpAsync();

    public async Task DisposeAsync()
    {
        foreach (var owned in _owned)
        {
            switch (owned)
            {
                case IAsyncDisposable a: await a.DisposeAsync(); break;
                case IDisposable d: d.Dispose(); break;
            }
        }

        await TearDownAsync();
    }

    /// <summary>Prepares this test's folder or bucket.</summary>
    protected virtual Task SetUpAsync() => Task.CompletedTask;

    /// <summary>Removes this test's folder or bucket.</summary>
    protected virtual Task TearDownAsync() => Task.CompletedTask;

    /// <summary>Disposes <paramref name="resource"/> (a source, a proxy) when the test ends.</summary>
    protected T Own<T>(T resource)
        where T : class
    {
        _owned.Add(resource);
        return resource;
    }

    /// <summary>Writes a file where the source looks, last modified at <paramref name="modified"/> (where the source keeps such a time).</summary>
    protected abstract Task WriteAsync(string key, byte[] content, DateTimeOffset modified);

    protected abstract Task DeleteAsync(string key);

    /// <summary>A new source on this test's files.</summary>
    protected abstract IFileSource CreateSource(IList<string>? include = null, IList<string>? exclude = null, TimeSpan? stableFor = null);

    /// <summary>
    /// A source whose first download loses its connection once <paramref name="bytes"/> have come through; null when
    /// reading has no connection to lose (a local folder).
    /// </summary>
    protected virtual Task<DroppingSource?> CreateSourceDroppingAfterAsync(long bytes) => Task.FromResult<DroppingSource?>(null);

    /// <summary>A source whose download will lose its connection, and whether it did.</summary>
    protected sealed record DroppingSource(IFileSource Source, Func<bool> HasDropped);

    [SourceFact]
    public async Task List_OffersEveryCompleteFileAtAnyDepth_WithKeysRelativeToTheRootAndTheirSizes()
    {
        await WriteAsync("b.csv", Bytes(3), Old);
        await WriteAsync("a.csv", Bytes(1), Old);
        await WriteAsync("sub/deeper/c.txt", Bytes(5), Old);
        await WriteAsync("sub/b.csv", Bytes(2), Old);

        var files = await ListAsync(CreateSource());

        var keys = files.Select(f => f.Key).ToList();
        (ListsInKeyOrder ? keys : keys.Order(StringComparer.Ordinal).ToList()).ShouldBe(["a.csv", "b.csv", "sub/b.csv", "sub/deeper/c.txt"]);
        files.ToDictionary(f => f.Key, f => f.Size).ShouldBe(new Dictionary<string, long> { ["a.csv"] = 1, ["b.csv"] = 3, ["sub/b.csv"] = 2, ["sub/deeper/c.txt"] = 5 });
        files.ShouldAllBe(f => f.Fingerprint.Length > 0);
    }

    [SourceFact]
    public async Task List_WithIncludeAndExclude_OffersOnlyTheMatchingFiles()
    {
        await WriteAsync("a.csv", Bytes(1), Old);
        await WriteAsync("b.txt", Bytes(1), Old);
        await WriteAsync("2026/01/c.csv", Bytes(1), Old);
        await WriteAsync("archive/old.csv", Bytes(1), Old);

        var keys = await KeysAsync(CreateSource(include: ["**/*.csv"], exclude: ["archive/**"]));

        keys.ShouldBe(["2026/01/c.csv", "a.csv"]);
    }

    [SourceFact]
    public async Task List_FileWrittenJustNow_IsOfferedOnlyOnceStableForHasPassed()
    {
        await WriteAsync("old.csv", Bytes(10), Old);
        await WriteAsync("fresh.csv", Bytes(10), Clock.GetUtcNow());
        var source = CreateSource(stableFor: StableFor);

        var first = await KeysAsync(source);
        Clock.Advance(StableFor * 2);
        var later = await KeysAsync(source);

        first.ShouldBe(AppearsWhole ? ["fresh.csv", "old.csv"] : ["old.csv"]);
        later.ShouldBe(["fresh.csv", "old.csv"]);
    }

    [SourceFact]
    public async Task List_FileRewrittenUnderTheSameKeyAndSize_IsOfferedWithANewFingerprint()
    {
        await WriteAsync("a.csv", Bytes(100, seed: 1), Old);
        var source = CreateSource(stableFor: StableFor);
        var before = (await ListAsync(source)).ShouldHaveSingleItem();

        await WriteAsync("a.csv", Bytes(100, seed: 2), Old + TimeSpan.FromMinutes(1));

        // A file that changed since the previous listing may wait for one quiet listing before it is offered again.
        var after = (await ListAsync(source)).SingleOrDefault() ?? (await ListAsync(source)).ShouldHaveSingleItem();
        after.Key.ShouldBe("a.csv");
        after.Size.ShouldBe(before.Size);
        after.Fingerprint.ShouldNotBe(before.Fingerprint);
    }

    [SourceFact]
    public async Task List_SameFileListedTwice_KeepsItsFingerprint()
    {
        await WriteAsync("a.csv", Bytes(100), Old);
        var source = CreateSource(stableFor: StableFor);

        var first = (await ListAsync(source)).ShouldHaveSingleItem();
        var second = (await ListAsync(CreateSource(stableFor: StableFor))).ShouldHaveSingleItem();

        second.ShouldBe(first);
    }

    [SourceFact]
    public async Task Read_AsTheFetchStepReads_GivesTheExactBytes()
    {
        var content = Bytes(700_001, seed: 3);
        await WriteAsync("sub/data.bin", content, Old);
        var source = CreateSource();
        var listed = (await ListAsync(source)).ShouldHaveSingleItem();

        var read = await ReadAsFetchAsync(source, listed.Key, listed.Size);

        SHA256.HashData(read).ShouldBe(SHA256.HashData(content));
        source.Describe(listed.Key).ShouldContain("sub/data.bin");
    }

    [SourceFact]
    public async Task Read_WhenTheConnectionDropsMidway_ResumesByteExactOrFails_NeverEndsShort()
    {
        var content = Bytes(2_000_000, seed: 4);
        await WriteAsync("big.bin", content, Old);
        var dropping = await CreateSourceDroppingAfterAsync(500_000);
        var source = dropping?.Source ?? CreateSource();

        var read = await Record.ExceptionAsync(async () =>
        {
            var bytes = await ReadAsFetchAsync(source, "big.bin", content.Length);
            SHA256.HashData(bytes).ShouldBe(SHA256.HashData(content));
        });

        dropping?.HasDropped().ShouldBeTrue("the connection was to drop midway");
        if (dropping is null || ResumesDroppedReads)
        {
            read.ShouldBeNull(); // nothing to drop, or resumed: the whole file, byte for byte
        }
        else
        {
            // Not resumable: the read fails (the fetch step retries it) rather than returning fewer bytes.
            read.ShouldNotBeNull();
            read.ShouldNotBeOfType<ShouldAssertException>();
            (read is IOException || read is IntakeException { Kind: ErrorKind.Transient }).ShouldBeTrue(read.ToString());
        }
    }

    [SourceFact]
    public async Task Read_OfAFileGoneSinceListing_ThrowsFileNotFound()
    {
        await WriteAsync("a.csv", Bytes(10), Old);
        var source = CreateSource();
        var listed = (await ListAsync(source)).ShouldHaveSingleItem();

        await DeleteAsync("a.csv");

        await Should.ThrowAsync<FileNotFoundException>(() => ReadAsFetchAsync(source, listed.Key, listed.Size));
        await Should.ThrowAsync<FileNotFoundException>(() => ReadAsFetchAsync(source, "never-there.csv", null));
    }

    [SourceFact]
    public async Task Remove_OfTheListedVersion_DeletesIt_AndARepeatFindsItGone()
    {
        await WriteAsync("sub/a.csv", Bytes(10), Old);
        await WriteAsync("b.csv", Bytes(10), Old);
        var source = CreateSource();
        (source is IRemovableFileSource).ShouldBe(Removes);
        if (source is not IRemovableFileSource removable)
        {
            return; // this source cannot delete: remove_after is refused for it at start
        }

        var listed = (await ListAsync(source)).Single(f => f.Key == "sub/a.csv");

        (await removable.DeleteAsync(listed.Key, listed.Fingerprint, CancellationToken.None)).ShouldBe(SourceRemoval.Deleted);
        (await removable.DeleteAsync(listed.Key, listed.Fingerprint, CancellationToken.None)).ShouldBe(SourceRemoval.AlreadyGone);

        (await KeysAsync(CreateSource())).ShouldBe(["b.csv"]);
        await Should.ThrowAsync<FileNotFoundException>(() => ReadAsFetchAsync(source, listed.Key, listed.Size));
    }

    [SourceFact]
    public async Task Remove_OfAFileRewrittenSinceListing_LeavesTheNewVersion()
    {
        await WriteAsync("a.csv", Bytes(100, seed: 1), Old);
        var source = CreateSource();
        if (source is not IRemovableFileSource removable)
        {
            Removes.ShouldBeFalse();
            return;
        }

        var listed = (await ListAsync(source)).ShouldHaveSingleItem();
        var rewritten = Bytes(100, seed: 2);
        await WriteAsync("a.csv", rewritten, Old + TimeSpan.FromMinutes(1));

        (await removable.DeleteAsync(listed.Key, listed.Fingerprint, CancellationToken.None)).ShouldBe(SourceRemoval.Changed);

        (await ReadAsFetchAsync(source, "a.csv", rewritten.Length)).ShouldBe(rewritten);
    }

    /// <summary>As the fetch step opens a file: resumable with the listed size when the source supports it.</summary>
    protected static async Task<byte[]> ReadAsFetchAsync(IFileSource source, string key, long? size)
    {
        await using var stream = source is IResumableFileSource resumable && size is { } expected
            ? await resumable.OpenResumableReadAsync(key, expected, CancellationToken.None)
            : await source.OpenReadAsync(key, CancellationToken.None);
        using var copy = new MemoryStream();
        await stream.CopyToAsync(copy);
        return copy.ToArray();
    }

    protected static byte[] Bytes(int length, int seed = 0)
    {
        var bytes = new byte[length];
        new Random(seed + length).NextBytes(bytes);
        return bytes;
    }

    private static async Task<List<SourceFile>> ListAsync(IFileSource source)
    {
        var files = new List<SourceFile>();
        await foreach (var file in source.ListAsync(CancellationToken.None))
        {
            files.Add(file);
        }

        return files;
    }

    private static async Task<List<string>> KeysAsync(IFileSource source) =>
        (await ListAsync(source)).Select(f => f.Key).Order(StringComparer.Ordinal).ToList();
}
