using Intake.Core.Errors;
using Intake.Tests.Shared;

namespace Intake.Sources.Tests;

public sealed class LocalDirectorySourceTests : IDisposable
{
    private static readonly TimeSpan StableFor = TimeSpan.FromSeconds(60);

    private readonly string _root = Path.Combine(Path.GetTempPath(), "intake-source-" + Guid.NewGuid().ToString("N"));
    private readonly ManualTimeProvider _clock = new();

    public LocalDirectorySourceTests() => Directory.CreateDirectory(_root);

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private LocalDirectorySource Source(Action<LocalDirectorySourceOptions>? configure = null)
    {
        var options = new LocalDirectorySourceOptions { Directory = _root, StableFor = StableFor };
        configure?.Invoke(options);
        return new LocalDirectorySource(options, _clock);
    }

    /// <summary>Writes a file whose last write was <paramref name="age"/> before the test clock's now.</summary>
    private string Write(string key, string content, TimeSpan age)
    {
        var path = Path.Combine(_root, key);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, content);
        File.SetLastWriteTimeUtc(path, (_clock.GetUtcNow() - age).UtcDateTime);
        return path;
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

    private static async Task<List<string>> KeysAsync(IFileSource source) => (await ListAsync(source)).Select(f => f.Key).ToList();

    [Fact]
    public async Task List_FileQuietForLongerThanStableFor_IsOfferedWithSizeTimeAndFingerprint()
    {
        Write("in/data.csv", "a,b\n1,2\n", TimeSpan.FromMinutes(5));

        var files = await ListAsync(Source());

        files.Count.ShouldBe(1);
        var file = files[0];
        file.Key.ShouldBe("in/data.csv");
        file.Size.ShouldBe(8);
        file.Modified.ShouldBe(_clock.GetUtcNow() - TimeSpan.FromMinutes(5));
        file.Fingerprint.ShouldBe($"size:8;mtime:{file.Modified.ToUnixTimeMilliseconds()}");
    }

    [Fact]
    public async Task List_FileWrittenRecently_IsOfferedOnlyOnceQuietForStableFor()
    {
        Write("new.csv", "x", TimeSpan.FromSeconds(10));
        var source = Source();

        var early = await KeysAsync(source);
        _clock.Advance(TimeSpan.FromSeconds(49));
        var stillEarly = await KeysAsync(source);
        _clock.Advance(TimeSpan.FromSeconds(1));
        var ready = await KeysAsync(source);

        early.ShouldBeEmpty();
        stillEarly.ShouldBeEmpty();
        ready.ShouldBe(["new.csv"]);
    }

    [Fact]
    public async Task List_FileGrowingUnderAnOldTimestamp_WaitsForOneListingWithoutChange()
    {
        // Some copies stamp the source's old modification time first and keep writing.
        var path = Write("copy.csv", "part one", TimeSpan.FromDays(3));
        var oldStamp = File.GetLastWriteTimeUtc(path);
        var source = Source();

        var first = await ListAsync(source);
        File.AppendAllText(path, " and part two");
        File.SetLastWriteTimeUtc(path, oldStamp);
        var whileGrowing = await KeysAsync(source);
        var afterQuietListing = await ListAsync(source);

        first.Single().Size.ShouldBe(8);
        whileGrowing.ShouldBeEmpty();
        afterQuietListing.Single().Size.ShouldBe(21);
        afterQuietListing.Single().Fingerprint.ShouldNotBe(first.Single().Fingerprint);
    }

    [Fact]
    public async Task List_FileRewrittenWithNewContent_IsOfferedAgainWithANewFingerprint()
    {
        Write("daily.csv", "v1", TimeSpan.FromHours(2));
        var source = Source();
        var before = (await ListAsync(source)).Single();

        Write("daily.csv", "version 2", TimeSpan.FromMinutes(2));
        _clock.Advance(TimeSpan.FromMinutes(1));
        var after = await ListAsync(source); // changed since the last listing: waits one listing
        var later = (await ListAsync(source)).Single();

        after.ShouldBeEmpty();
        later.Fingerprint.ShouldNotBe(before.Fingerprint);
        later.Size.ShouldBe(9);
    }

    [Fact]
    public async Task List_SameSizeRewriteUnderTheSameTime_WhileThatTimeIsRecent_IsANewVersion()
    {
        // Every file of the same second, as a file system keeping seconds (or a copy keeping times) leaves them.
        var second = new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
        _clock.Set(second + TimeSpan.FromMilliseconds(600));
        var path = Write("cubic/t/a.csv", "id\n1\n", TimeSpan.FromMilliseconds(600));
        var source = Source(o => o.StableFor = TimeSpan.Zero);
        var first = (await ListAsync(source)).Single();

        File.WriteAllText(path, "id\n2\n"); // same size, and the time set back to the same second
        File.SetLastWriteTimeUtc(path, second.UtcDateTime);
        var rewritten = (await ListAsync(source)).Single();
        var again = (await ListAsync(source)).Single();
        _clock.Advance(LocalDirectorySource.TimestampPrecision);
        var settled = (await ListAsync(source)).Single();
        var later = (await ListAsync(source)).Single();

        first.Fingerprint.ShouldBe($"size:5;mtime:{second.ToUnixTimeMilliseconds()}");
        rewritten.Fingerprint.ShouldStartWith(first.Fingerprint + ";sha256:");
        (again.Fingerprint, settled.Fingerprint, later.Fingerprint).ShouldBe((rewritten.Fingerprint, rewritten.Fingerprint, rewritten.Fingerprint));
    }

    [Fact]
    public async Task List_UnchangedFileOfARecentTime_KeepsOneFingerprint_AlsoAfterARestart()
    {
        _clock.Set(new DateTimeOffset(2026, 1, 1, 0, 0, 0, 500, TimeSpan.Zero));
        Write("a.csv", "id\n1\n", TimeSpan.FromMilliseconds(500));
        var source = Source(o => o.StableFor = TimeSpan.Zero);

        var fresh = (await ListAsync(source)).Single().Fingerprint;
        var stillFresh = (await ListAsync(source)).Single().Fingerprint;
        _clock.Advance(TimeSpan.FromSeconds(5));
        var settled = (await ListAsync(source)).Single().Fingerprint;
        var restarted = (await ListAsync(Source(o => o.StableFor = TimeSpan.Zero))).Single().Fingerprint;

        new[] { stillFresh, settled, restarted }.ShouldAllBe(f => f == fresh);
        fresh.ShouldNotContain("sha256");
    }

    [Fact]
    public async Task OpenListed_TheListedVersion_StreamsIt_ALaterOne_IsRefusedAsIntegrity()
    {
        var path = Write("daily.csv", "version 1", TimeSpan.FromHours(2));
        IFileSource source = Source(); // what the fetch step sees
        var listed = (await ListAsync(source)).Single();
        await using (var stream = await source.OpenListedAsync("daily.csv", listed.Fingerprint, CancellationToken.None))
        {
            (await new StreamReader(stream).ReadToEndAsync()).ShouldBe("version 1");
        }

        Write("daily.csv", "version 2", TimeSpan.FromHours(1)); // rewritten after the listing, before the fetch

        var e = await Should.ThrowAsync<IntakeException>(() => source.OpenListedAsync("daily.csv", listed.Fingerprint, CancellationToken.None));
        e.Kind.ShouldBe(ErrorKind.Integrity);
        e.Message.ShouldContain($"{path} changed after it was listed");
        await ListAsync(source); // changed since the last listing: held once
        var now = (await ListAsync(source)).Single().Fingerprint;
        (await Should.ThrowAsync<IntakeException>(() => source.OpenListedAsync("daily.csv", now + ";sha256:" + new string('0', 64), CancellationToken.None)))
            .Message.ShouldContain("(same size and time, other content)");
    }

    [Fact]
    public async Task List_FileWithFutureTimestamp_WaitsUntilThatTimeHasPassed()
    {
        Write("skewed.csv", "x", -TimeSpan.FromMinutes(10));
        var source = Source();

        var now = await KeysAsync(source);
        _clock.Advance(TimeSpan.FromMinutes(11));
        var later = await KeysAsync(source);

        now.ShouldBeEmpty();
        later.ShouldBe(["skewed.csv"]);
    }

    [Fact]
    public async Task List_StableForZero_OffersEverythingAtOnce()
    {
        Write("a.csv", "x", TimeSpan.Zero);

        (await KeysAsync(Source(o => o.StableFor = TimeSpan.Zero))).ShouldBe(["a.csv"]);
    }

    [Fact]
    public async Task List_ReturnsKeysRecursivelyInOrdinalOrder()
    {
        foreach (var key in new[] { "b.csv", "a/c.csv", "a-b.csv", "a/b/d.csv", "B.csv" })
        {
            Write(key, "x", TimeSpan.FromHours(1));
        }

        (await KeysAsync(Source())).ShouldBe(["B.csv", "a-b.csv", "a/b/d.csv", "a/c.csv", "b.csv"]);
    }

    [Fact]
    public async Task List_WithIncludeAndExclude_OffersOnlyMatchingFiles()
    {
        foreach (var key in new[] { "a.csv", "b.txt", "sub/c.csv", "sub/skip/d.csv", "sub/c.csv.gz" })
        {
            Write(key, "x", TimeSpan.FromHours(1));
        }

        var source = Source(o =>
        {
            o.Include = ["**/*.csv", "**/*.gz"];
            o.Exclude = ["sub/skip/**", "**/*.csv.gz"];
        });

        (await KeysAsync(source)).ShouldBe(["a.csv", "sub/c.csv"]);
    }

    [Fact]
    public async Task List_DefaultInclude_TakesEveryFileAtAnyDepth()
    {
        Write("top.bin", "x", TimeSpan.FromHours(1));
        Write("x/y/z/deep.bin", "x", TimeSpan.FromHours(1));

        (await KeysAsync(Source())).ShouldBe(["top.bin", "x/y/z/deep.bin"]);
    }

    [Fact]
    public async Task List_SkipsHiddenAndTemporaryFilesOfWritersInProgress()
    {
        foreach (var key in new[]
        {
            "ok.csv", ".hidden.csv", ".ok.csv.Xy12Ab", "upload.csv.part", "upload2.csv.filepart", "x.TMP",
            "download.crdownload", "edit.csv~", "~$sheet.xlsx", ".git/config", "sub/.cache/data.csv",
        })
        {
            Write(key, "x", TimeSpan.FromHours(1));
        }

        (await KeysAsync(Source())).ShouldBe(["ok.csv"]);
    }

    [Fact]
    public async Task List_SkipsSymbolicLinksThatCouldLeadOutside()
    {
        var outside = Path.Combine(Path.GetTempPath(), "intake-outside-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(outside);
        try
        {
            File.WriteAllText(Path.Combine(outside, "secret.txt"), "secret");
            File.CreateSymbolicLink(Path.Combine(_root, "link.txt"), Path.Combine(outside, "secret.txt"));
            Directory.CreateSymbolicLink(Path.Combine(_root, "linkdir"), outside);
            Write("real.txt", "x", TimeSpan.FromHours(1));
            var source = Source(o => o.StableFor = TimeSpan.Zero);

            (await KeysAsync(source)).ShouldBe(["real.txt"]);
            (await Should.ThrowAsync<IntakeException>(() => source.OpenReadAsync("link.txt", CancellationToken.None))).Kind.ShouldBe(ErrorKind.Security);
        }
        finally
        {
            Directory.Delete(outside, recursive: true);
        }
    }

    [Fact]
    public async Task List_MissingDirectory_ThrowsConfigNamingThePath()
    {
        var missing = Path.Combine(_root, "not-there");
        var source = new LocalDirectorySource(new LocalDirectorySourceOptions { Directory = missing }, _clock);

        var thrown = await Should.ThrowAsync<IntakeException>(() => ListAsync(source));

        thrown.Kind.ShouldBe(ErrorKind.Config);
        thrown.Message.ShouldContain(missing);
    }

    [Fact]
    public async Task OpenRead_ListedKey_StreamsTheFile()
    {
        Write("in/data.csv", "a,b\n1,2\n", TimeSpan.FromHours(1));
        var source = Source();
        var key = (await ListAsync(source)).Single().Key;

        await using var stream = await source.OpenReadAsync(key, CancellationToken.None);
        using var reader = new StreamReader(stream);

        (await reader.ReadToEndAsync()).ShouldBe("a,b\n1,2\n");
    }

    [Fact]
    public async Task OpenRead_FileGoneSinceListing_ThrowsFileNotFound()
    {
        var source = Source();

        await Should.ThrowAsync<FileNotFoundException>(() => source.OpenReadAsync("gone.csv", CancellationToken.None));
        await Should.ThrowAsync<FileNotFoundException>(() => source.OpenReadAsync("gone/deeper.csv", CancellationToken.None));
    }

    [Theory]
    [InlineData("../outside.csv")]
    [InlineData("a/../../outside.csv")]
    [InlineData("/etc/passwd")]
    [InlineData("a\\b")]
    [InlineData("a//b")]
    [InlineData("")]
    public async Task OpenRead_KeyOutsideTheFolder_IsRejected(string key)
    {
        await Should.ThrowAsync<ArgumentException>(() => Source().OpenReadAsync(key, CancellationToken.None));
    }

    [Fact]
    public void Describe_ReturnsTheFullPath()
    {
        Source().Describe("in/data.csv").ShouldBe(Path.Combine(_root, "in", "data.csv"));
    }

    [Fact]
    public void Create_WithBadOptions_ThrowsConfigSayingWhat()
    {
        Should.Throw<IntakeException>(() => Source(o => o.Include = ["[unclosed"])).Message.ShouldContain("[unclosed");
        Should.Throw<IntakeException>(() => Source(o => o.Exclude = ["a//b"])).Message.ShouldContain("a//b");
        Should.Throw<IntakeException>(() => Source(o => o.Include = [])).Message.ShouldContain("include");
        Should.Throw<IntakeException>(() => Source(o => o.StableFor = TimeSpan.FromSeconds(-1))).Message.ShouldContain("stable_for");
        Should.Throw<IntakeException>(() => Source(o => o.Directory = " ")).Kind.ShouldBe(ErrorKind.Config);
    }
}
