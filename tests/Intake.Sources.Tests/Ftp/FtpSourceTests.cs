using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Intake.Core.Errors;
using Intake.Sources.Ftp;
using Intake.Tests.Shared;


namespace Intake.Sources.Tests.Ftp;

/// <summary>Against the real vsftpd of scripts/servers/vsftpd.sh (LIST, SIZE, MDTM, REST, explicit TLS).</summary>
public class FtpSourceTests
{
    private static readonly DateTimeOffset Old = new(2025, 3, 4, 5, 6, 7, TimeSpan.Zero);

    [FtpFact]
    public async Task List_WithIncludeAndExclude_OffersMatchingFilesRecursivelyInKeyOrder()
    {
        using var dir = TestFtp.NewFolder();
        dir.Write("b.csv", "bb", Old);
        dir.Write("a.txt", "a", Old);
        dir.Write("sub/c.csv", "ccc", Old);
        dir.Write("sub dir/d e.csv", "dddd", Old);
        dir.Write("archive/x.csv", "x", Old);
        dir.Write(".hidden.csv", "h", Old);
        dir.Write(".cache/y.csv", "y", Old);
        dir.Write("upload.part", "p", Old);
        var options = TestFtp.Options(dir.RemotePath.TrimStart('/')); // relative to the login folder
        options.Include = ["**/*.csv", "**/*.part"];
        options.Exclude = ["archive/**"];

        var files = await ListAllAsync(new FtpSource(options, TimeProvider.System));

        files.Select(f => f.Key).ShouldBe(["b.csv", "sub dir/d e.csv", "sub/c.csv"]);
        files.Select(f => f.Size).ShouldBe([2L, 4L, 3L]);
    }

    [FtpFact]
    public async Task List_Fingerprint_IsSizeAndExactServerTime()
    {
        using var dir = TestFtp.NewFolder();
        dir.Write("a.csv", "12345", Old);

        var file = (await ListAllAsync(new FtpSource(TestFtp.Options(dir.RemotePath), TimeProvider.System))).ShouldHaveSingleItem();

        // LIST shows no seconds for this date; the exact time comes from MDTM.
        file.Modified.ShouldBe(Old);
        file.Fingerprint.ShouldBe($"size:5;mtime:{Old.ToUnixTimeMilliseconds()}");
    }

    [FtpFact]
    public async Task List_WhenRemoteDirectoryIsMissing_IsConfig()
    {
        var source = new FtpSource(TestFtp.Options("/no-such-folder-" + Guid.NewGuid().ToString("N")), TimeProvider.System);

        var e = await Should.ThrowAsync<IntakeException>(() => ListAllAsync(source));

        e.Kind.ShouldBe(ErrorKind.Config);
        e.Message.ShouldContain("no-such-folder");
    }

    [FtpFact]
    public async Task Download_PlainFtp_IsByteExact() => await DownloadIsByteExactAsync(FtpTlsMode.None);

    [FtpFact]
    public async Task Download_ExplicitTls_IsByteExact() => await DownloadIsByteExactAsync(FtpTlsMode.Explicit);

    private static async Task DownloadIsByteExactAsync(FtpTlsMode tls)
    {
        using var dir = TestFtp.NewFolder();
        var content = TestFtp.RandomBytes(3_000_123, seed: 1);
        dir.Write("big.bin", content);
        var source = new FtpSource(TestFtp.Options(dir.RemotePath, tls), TimeProvider.System);

        var listed = (await ListAllAsync(source)).ShouldHaveSingleItem();
        await using (var stream = await source.OpenReadAsync(listed.Key, CancellationToken.None))
        {
            ShouldBeSameBytes(await ReadAllAsync(stream), content);
        }

        await using (var rest = await source.OpenReadAsync(listed.Key, 1_000_000, CancellationToken.None))
        {
            ShouldBeSameBytes(await ReadAllAsync(rest), content[1_000_000..]);
        }
    }

    [FtpFact]
    public async Task Tls_WithUntrustedCertificate_IsConfigShowingItsFingerprint()
    {
        using var dir = TestFtp.NewFolder();
        var options = TestFtp.Options(dir.RemotePath, FtpTlsMode.Explicit);
        options.TrustedCertificateFile = null; // the system store does not know the self-signed test certificate

        var e = await Should.ThrowAsync<IntakeException>(() => FtpClient.ConnectAsync(options, TimeProvider.System, CancellationToken.None));

        e.Kind.ShouldBe(ErrorKind.Config);
        e.Message.ShouldContain(ServerCertificateSha256());
    }

    [FtpFact]
    public async Task Tls_WithPinnedThumbprint_Connects_AndWithAnotherOne_IsRefused()
    {
        using var dir = TestFtp.NewFolder();
        var options = TestFtp.Options(dir.RemotePath, FtpTlsMode.Explicit);
        options.TrustedCertificateFile = null;
        options.CertificateThumbprint = string.Join(':', ServerCertificateSha256().Chunk(2).Select(c => new string(c)));

        await using (var client = await FtpClient.ConnectAsync(options, TimeProvider.System, CancellationToken.None))
        {
            client.IsEncrypted.ShouldBeTrue();
        }

        options.CertificateThumbprint = new string('A', 64);
        var e = await Should.ThrowAsync<IntakeException>(() => FtpClient.ConnectAsync(options, TimeProvider.System, CancellationToken.None));
        e.Kind.ShouldBe(ErrorKind.Config);
    }

    [FtpFact]
    public async Task Client_OverTls_ListsReadsSizeAndTime_AndRecoversFromAnAbandonedDownload()
    {
        using var dir = TestFtp.NewFolder();
        var content = TestFtp.RandomBytes(1_000_000, seed: 2);
        dir.Write("a.bin", content, Old);
        await using var client = await FtpClient.ConnectAsync(TestFtp.Options(dir.RemotePath, FtpTlsMode.Explicit), TimeProvider.System, CancellationToken.None);

        var item = (await client.ListAsync(dir.RemotePath, CancellationToken.None)).ShouldHaveSingleItem();
        item.ShouldBe(new FtpListItem("a.bin", FtpItemType.File, content.Length, item.Modified, false));
        await using (var partial = await client.OpenReadAsync(dir.RemotePath + "/a.bin", 0, content.Length, CancellationToken.None))
        {
            (await partial.ReadAsync(new byte[1000])).ShouldBeGreaterThan(0); // then walk away from the transfer
        }

        (await client.GetSizeAsync(dir.RemotePath + "/a.bin", CancellationToken.None)).ShouldBe(content.Length);
        (await client.GetModifiedAsync(dir.RemotePath + "/a.bin", CancellationToken.None)).ShouldBe(Old);
        client.IsEncrypted.ShouldBeTrue();
    }

    [FtpFact]
    public async Task OpenRead_FromAnOffset_ResumesWithRest()
    {
        using var dir = TestFtp.NewFolder();
        var content = TestFtp.RandomBytes(1_000_000, seed: 3);
        dir.Write("a.bin", content);
        await using var proxy = new FtpProxy(TestFtp.Host, TestFtp.Port);
        var source = new FtpSource(ThroughProxy(proxy, dir), TimeProvider.System);

        await using var stream = await source.OpenReadAsync("a.bin", 300_000, CancellationToken.None);

        ShouldBeSameBytes(await ReadAllAsync(stream), content[300_000..]);
        proxy.Commands.ShouldContain("REST 300000");
    }

    [FtpFact]
    public async Task ResumableRead_WhenDataConnectionsAreReset_ResumesAndTheBytesAreExact()
    {
        using var dir = TestFtp.NewFolder();
        var content = TestFtp.RandomBytes(3_000_000, seed: 4);
        dir.Write("big.bin", content);
        await using var proxy = new FtpProxy(TestFtp.Host, TestFtp.Port) { CutDataAfterBytes = 700_000, CutsLeft = 2, CutWithReset = true };
        var source = new FtpSource(ThroughProxy(proxy, dir), TimeProvider.System);

        await using var stream = await source.OpenResumableReadAsync("big.bin", content.Length, null, CancellationToken.None);

        ShouldBeSameBytes(await ReadAllAsync(stream), content);
        proxy.Cuts.ShouldBe(2);
        proxy.Commands.Count(c => c.StartsWith("RETR ", StringComparison.Ordinal)).ShouldBe(3);
    }

    [FtpFact]
    public async Task ResumableRead_WhenDataConnectionsEndEarly_ContinuesWhereTheyStopped()
    {
        using var dir = TestFtp.NewFolder();
        var content = TestFtp.RandomBytes(3_000_000, seed: 5);
        dir.Write("big.bin", content);
        await using var proxy = new FtpProxy(TestFtp.Host, TestFtp.Port) { CutDataAfterBytes = 700_000, CutsLeft = 2, CutWithReset = false };
        var source = new FtpSource(ThroughProxy(proxy, dir), TimeProvider.System);

        await using var stream = await source.OpenResumableReadAsync("big.bin", content.Length, null, CancellationToken.None);

        ShouldBeSameBytes(await ReadAllAsync(stream), content);
        // An early clean close delivers every byte before it, so each attempt continues exactly there.
        proxy.Commands.Where(c => c.StartsWith("REST ", StringComparison.Ordinal)).ShouldBe(["REST 700000", "REST 1400000"]);
    }

    [FtpFact]
    public async Task ResumableRead_WhenNoAttemptGetsAnyByte_GivesUpTransient()
    {
        using var dir = TestFtp.NewFolder();
        dir.Write("a.bin", TestFtp.RandomBytes(100_000, seed: 6));
        await using var proxy = new FtpProxy(TestFtp.Host, TestFtp.Port) { CutDataAfterBytes = 0, CutsLeft = 100 };
        var source = new FtpSource(ThroughProxy(proxy, dir), TimeProvider.System);
        var policy = new FtpResumePolicy { MaxRetries = 2, BaseDelay = TimeSpan.Zero, MaxDelay = TimeSpan.Zero };

        var e = await Should.ThrowAsync<IntakeException>(async () =>
        {
            await using var stream = await source.OpenResumableReadAsync("a.bin", 100_000, policy, CancellationToken.None);
            await stream.CopyToAsync(Stream.Null);
        });

        e.Kind.ShouldBe(ErrorKind.Transient);
        proxy.Cuts.ShouldBe(3); // the first attempt and two retries
    }

    [FtpFact]
    public async Task ResumableRead_WhenTheFileChangesBetweenAttempts_IsIntegrity()
    {
        using var dir = TestFtp.NewFolder();
        var content = TestFtp.RandomBytes(1_000_000, seed: 7);
        var path = dir.Write("a.bin", content);
        await using var proxy = new FtpProxy(TestFtp.Host, TestFtp.Port)
        {
            CutDataAfterBytes = 300_000,
            CutsLeft = 1,
            CutWithReset = false,
            OnCut = () => File.AppendAllText(path, "a new version"),
        };
        var source = new FtpSource(ThroughProxy(proxy, dir), TimeProvider.System);

        var e = await Should.ThrowAsync<IntakeException>(async () =>
        {
            await using var stream = await source.OpenResumableReadAsync("a.bin", content.Length, null, CancellationToken.None);
            await stream.CopyToAsync(Stream.Null);
        });

        e.Kind.ShouldBe(ErrorKind.Integrity);
    }

    [FtpFact]
    public async Task ResumableRead_WhenTheSizeIsNotTheListedOne_IsIntegrityAtOpen()
    {
        using var dir = TestFtp.NewFolder();
        dir.Write("a.bin", TestFtp.RandomBytes(1000, seed: 8));
        var source = new FtpSource(TestFtp.Options(dir.RemotePath), TimeProvider.System);

        var e = await Should.ThrowAsync<IntakeException>(() => source.OpenResumableReadAsync("a.bin", 999, null, CancellationToken.None));

        e.Kind.ShouldBe(ErrorKind.Integrity);
    }

    [FtpFact]
    public async Task OpenRead_WhenTheConnectionEndsEarly_ThrowsTransientInsteadOfEnding()
    {
        using var dir = TestFtp.NewFolder();
        dir.Write("a.bin", TestFtp.RandomBytes(2_000_000, seed: 9));
        await using var proxy = new FtpProxy(TestFtp.Host, TestFtp.Port) { CutDataAfterBytes = 500_000, CutsLeft = 1, CutWithReset = false };
        var source = new FtpSource(ThroughProxy(proxy, dir), TimeProvider.System);
        var received = new MemoryStream();

        var e = await Should.ThrowAsync<IntakeException>(async () =>
        {
            await using var stream = await source.OpenReadAsync("a.bin", CancellationToken.None);
            await stream.CopyToAsync(received);
        });

        e.Kind.ShouldBe(ErrorKind.Transient);
        received.Length.ShouldBe(500_000);
    }

    [FtpFact]
    public async Task OpenRead_MissingFile_ThrowsFileNotFound()
    {
        using var dir = TestFtp.NewFolder();
        var source = new FtpSource(TestFtp.Options(dir.RemotePath), TimeProvider.System);

        await Should.ThrowAsync<FileNotFoundException>(() => source.OpenReadAsync("nope.csv", CancellationToken.None));
        await Should.ThrowAsync<FileNotFoundException>(() => source.OpenResumableReadAsync("nope.csv", 10, null, CancellationToken.None));
    }

    [FtpFact]
    public async Task Login_WithWrongPassword_IsConfig_AndNeverShowsThePassword()
    {
        using var dir = TestFtp.NewFolder();
        var options = TestFtp.Options(dir.RemotePath);
        options.Password = "Wrong-Pa55word-4711";

        var e = await Should.ThrowAsync<IntakeException>(() => ListAllAsync(new FtpSource(options, TimeProvider.System)));

        e.Kind.ShouldBe(ErrorKind.Config);
        e.Message.ShouldContain(TestFtp.User);
        e.ToString().ShouldNotContain(options.Password);
    }

    [FtpFact]
    public async Task List_RecentOrChangingFiles_WaitUntilTheirTimeIsStableForOld_AndOneQuietListing()
    {
        using var dir = TestFtp.NewFolder();
        var t = new DateTimeOffset(2026, 2, 1, 10, 0, 0, TimeSpan.Zero);
        var path = dir.Write("new.csv", "1", t);
        dir.Write("old.csv", "old", t.AddDays(-1));
        var clock = new ManualTimeProvider(t.AddSeconds(10));
        var options = TestFtp.Options(dir.RemotePath);
        options.StableFor = TimeSpan.FromMinutes(1);
        var source = new FtpSource(options, clock);

        (await KeysAsync(source)).ShouldBe(["old.csv"]); // new.csv was written 10 s ago

        // The upload goes on while the uploader keeps stamping the old time (as clients preserving times do).
        File.WriteAllText(path, "12");
        File.SetLastWriteTimeUtc(path, t.UtcDateTime);
        clock.Advance(TimeSpan.FromMinutes(2));
        (await KeysAsync(source)).ShouldBe(["old.csv"]); // old by its time, but it changed since the last listing

        (await KeysAsync(source)).ShouldBe(["new.csv", "old.csv"]);
    }

    [FtpFact]
    public async Task List_FileWithATimeInTheFuture_IsOfferedAfterStayingUnchangedForStableFor()
    {
        using var dir = TestFtp.NewFolder();
        var t = new DateTimeOffset(2026, 2, 1, 10, 0, 0, TimeSpan.Zero);
        dir.Write("a.csv", "1", t.AddHours(1)); // the server's clock runs an hour ahead
        var clock = new ManualTimeProvider(t);
        var options = TestFtp.Options(dir.RemotePath);
        options.StableFor = TimeSpan.FromMinutes(1);
        var source = new FtpSource(options, clock);

        (await KeysAsync(source)).ShouldBeEmpty();
        clock.Advance(TimeSpan.FromSeconds(30));
        (await KeysAsync(source)).ShouldBeEmpty();
        clock.Advance(TimeSpan.FromSeconds(31));
        (await KeysAsync(source)).ShouldBe(["a.csv"]);
    }

    private static FtpSourceOptions ThroughProxy(FtpProxy proxy, TestFolder dir)
    {
        var options = TestFtp.Options(dir.RemotePath);
        options.Host = "127.0.0.1";
        options.Port = proxy.Port;
        return options;
    }

    private static string ServerCertificateSha256()
    {
        using var certificate = X509CertificateLoader.LoadCertificateFromFile(TestFtp.CertificateFile);
        return certificate.GetCertHashString(HashAlgorithmName.SHA256);
    }

    internal static async Task<List<SourceFile>> ListAllAsync(IFileSource source)
    {
        var files = new List<SourceFile>();
        await foreach (var file in source.ListAsync(CancellationToken.None))
        {
            files.Add(file);
        }

        return files;
    }

    private static async Task<List<string>> KeysAsync(IFileSource source) => (await ListAllAsync(source)).Select(f => f.Key).ToList();

    /// <summary>Byte arrays compared fast, reporting the first difference instead of megabytes of numbers.</summary>
    internal static void ShouldBeSameBytes(byte[] actual, byte[] expected)
    {
        actual.Length.ShouldBe(expected.Length);
        var firstDifference = actual.AsSpan().CommonPrefixLength(expected);
        firstDifference.ShouldBe(expected.Length, "the bytes differ from this offset on");
    }

    internal static async Task<byte[]> ReadAllAsync(Stream stream)
    {
        using var buffer = new MemoryStream();
        await stream.CopyToAsync(buffer);
        return buffer.ToArray();
    }
}
