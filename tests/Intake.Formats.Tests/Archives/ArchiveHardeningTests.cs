using System.Text;
using Intake.Core.Errors;
using Intake.Formats.Archives;
using static Intake.Formats.Tests.Archives.TestArchives;

namespace Intake.Formats.Tests.Archives;

/// <summary>
/// Inputs that must never be changed or lost silently: colliding names, truncation and damage told apart from a wrong
/// format, limits refused from declared sizes, and bzip2, xz and zstd held to the gzip rules.
/// </summary>
public sealed class ArchiveHardeningTests
{
    private static ArchiveLimits LimitsOf(ArchiveCorpus.Case c)
    {
        var limits = new ArchiveLimits();
        if (c.MaxBytes is { } bytes)
        {
            limits.MaxTotalBytes = bytes;
        }
        if (c.MaxRatio is { } ratio)
        {
            limits.MaxRatio = ratio;
        }
        return limits;
    }

    [Theory]
    [MemberData(nameof(ArchiveCorpus.Labels), MemberType = typeof(ArchiveCorpus))]
    public async Task Expand_CorpusCase_EndsWithTheExpectedKind(string label)
    {
        var c = ArchiveCorpus.Get(label);
        var input = c.Build();

        Exception? error = null;
        try
        {
            await ExpandAllAsync(input, c.FileName, LimitsOf(c), seekable: false);
        }
        catch (Exception e)
        {
            error = e;
        }

        if (c.ExpectedFromExpander is { } kind)
        {
            var intake = error.ShouldBeOfType<IntakeException>($"{label}: expected {kind}");
            intake.Kind.ShouldBe(kind, intake.Message);
            intake.Message.ShouldContain(c.FileName);
            intake.Message.ShouldNotContain("Exception");
        }
        else
        {
            error.ShouldBeNull();
        }
    }

    // ---- 2: colliding names ----------------------------------------------------------------------------------

    [Fact]
    public async Task Expand_ZipWithTwoEntriesOfOneName_IsFormatErrorNamingTheName_BeforeAnythingIsHandedOut()
    {
        // Before: the second dup.csv replaced the first in the work area, whose rows were lost without a word.
        var zip = Zip(("dup.csv", Bytes("id\n1\n")), ("other.csv", Bytes("id\n2\n")), ("dup.csv", Bytes("id\n3\n")));

        var (error, yielded) = await ExpandUntilFailureAsync(zip, "batch.zip");

        var intake = error.ShouldBeOfType<IntakeException>();
        intake.Kind.ShouldBe(ErrorKind.Format);
        intake.Message.ShouldContain("batch.zip: two entries are named 'dup.csv'");
        yielded.ShouldBeEmpty();
    }

    public static TheoryData<string, byte[], string> CollidingNames => new()
    {
        { "batch.tar", Tar(TarFile("dup.csv", "id\n1\n"), TarFile("dup.csv", "id\n2\n")), "two entries are named 'dup.csv'" },
        { "batch.zip", Zip(("a/./b.csv", Bytes("id\n1\n")), ("a/b.csv", Bytes("id\n2\n"))), "entries 'a/./b.csv' and 'a/b.csv' both extract to 'a/b.csv'" },
        { "batch.zip", Zip(("Data.csv", Bytes("id\n1\n")), ("data.csv", Bytes("id\n2\n"))), "entries 'Data.csv' and 'data.csv' differ only in case" },
        { "batch.zip", Zip(("x.csv", Bytes("id\n1\n")), ("x.csv.gz", Gzip(Bytes("id\n2\n")))), "entries 'x.csv' and 'x.csv.gz' both extract to 'x.csv'" },
        { "batch.zip", Zip(("x", Bytes("id\n1\n")), ("x/y.csv", Bytes("id\n2\n"))), "'x' is both a file ('x') and the folder of 'x/y.csv'" },
        { "batch.zip", Zip(("empty.csv", []), ("empty.csv", Bytes("id\n2\n"))), "two entries are named 'empty.csv'" },
    };

    [Theory]
    [MemberData(nameof(CollidingNames))]
    public async Task Expand_NamesThatCollide_AreFormatErrorNamingThem(string name, byte[] input, string expected)
    {
        var (error, _) = await ExpandUntilFailureAsync(input, name);

        var intake = error.ShouldBeOfType<IntakeException>();
        intake.Kind.ShouldBe(ErrorKind.Format);
        intake.Message.ShouldContain(expected);
    }

    [Fact]
    public async Task Expand_SameNameInTwoFolders_IsNotACollision()
    {
        var zip = Zip(("jan/data.csv", Bytes("id\n1\n")), ("feb/data.csv", Bytes("id\n2\n")));

        var entries = await ExpandAllAsync(zip, "batch.zip");

        entries.Select(e => e.Name).ShouldBe(["jan/data.csv", "feb/data.csv"]);
    }

    // ---- 4: what the caller does not read is checked all the same -------------------------------------------

    [Fact]
    public async Task Expand_EntryTheCallerSkips_IsStillCheckedToItsEnd()
    {
        // The streamed load reads only the data files; a damaged entry it skips must fail it as the decompress step would.
        var zip = ArchiveCorpus.PatchZip(Zip(("notes.md", Bytes(ArchiveCorpus.Csv(1, 500))), ("a.csv", Bytes("id\n1\n"))), localOffset: 14, centralOffset: 16, delta: 1);

        var error = await Should.ThrowAsync<IntakeException>(async () =>
        {
            await foreach (var entry in new ArchiveExpander().ExpandAsync(new MemoryStream(zip), "batch.zip"))
            {
                // read nothing
            }
        });

        error.Kind.ShouldBe(ErrorKind.Integrity);
        error.Message.ShouldContain("notes.md");
        error.Message.ShouldContain("CRC-32");
    }

    [Fact]
    public async Task Expand_TarCutInsideAMember_FailsAtTheReadThatMeetsTheCut_NotWithAShorterFile()
    {
        // Before: the member's data just ended early, and a CSV reader saw a broken last row.
        var tar = Tar(TarFile("a.csv", ArchiveCorpus.Csv(1, 2000)))[..6000];
        var read = new MemoryStream();

        var error = await Should.ThrowAsync<IntakeException>(async () =>
        {
            await foreach (var entry in new ArchiveExpander().ExpandAsync(new MemoryStream(tar), "batch.tar"))
            {
                await entry.Content.CopyToAsync(read);
            }
        });

        error.Kind.ShouldBe(ErrorKind.Integrity);
        error.Message.ShouldContain("batch.tar, entry 'a.csv': the archive is truncated: the entry ends after");
    }

    // ---- 5: damaged is integrity, wrong or invalid is format -------------------------------------------------

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Expand_TarCutBetweenTwoMembers_IsIntegrityError(bool pax)
    {
        // A clean cut at a header boundary: the entries before it are whole, the archive is not. Before: format.
        var tar = pax ? Tar(TarFile("a.csv", "id\n1\n"), TarFile("b.csv", "id\n2\n")) : ArchiveCorpus.UstarTar(("a.csv", "id\n1\n"), ("b.csv", "id\n2\n"));
        int secondHeader = tar.AsSpan(512).IndexOf("b.csv"u8) + 512;
        var cut = tar[..(secondHeader / 512 * 512)];

        var (error, yielded) = await ExpandUntilFailureAsync(cut, "batch.tar");

        var intake = error.ShouldBeOfType<IntakeException>();
        intake.Kind.ShouldBe(ErrorKind.Integrity);
        intake.Message.ShouldContain("batch.tar: the archive is truncated");
        yielded.ShouldBe(["a.csv"]);
    }

    [Fact]
    public async Task Expand_TarHeaderFailingItsChecksum_IsIntegrityError_NotAnotherName()
    {
        // Before: the framework reader does not check header checksums, and a.csv came out as a.csb.
        var tar = ArchiveCorpus.UstarTar(("a.csv", "id\n1\n"));
        tar[4] ^= 0x14;

        var (error, yielded) = await ExpandUntilFailureAsync(tar, "batch.tar");

        var intake = error.ShouldBeOfType<IntakeException>();
        intake.Kind.ShouldBe(ErrorKind.Integrity);
        intake.Message.ShouldContain("fails its checksum");
        yielded.ShouldBeEmpty();
    }

    [Fact]
    public async Task Expand_ZipWithAWrongCrc_IsIntegrityErrorNamingTheEntry()
    {
        var zip = ArchiveCorpus.PatchZip(Zip(("a.csv", Bytes(ArchiveCorpus.Csv(1, 100)))), localOffset: 14, centralOffset: 16, delta: 1);

        var (error, _) = await ExpandUntilFailureAsync(zip, "batch.zip");

        var intake = error.ShouldBeOfType<IntakeException>();
        intake.Kind.ShouldBe(ErrorKind.Integrity);
        intake.Message.ShouldContain("batch.zip, entry 'a.csv': the archive is damaged: the entry's CRC-32 is");
    }

    [Fact]
    public async Task Expand_GzipFollowedByOtherData_IsFormatError()
    {
        var (error, _) = await ExpandUntilFailureAsync([.. Gzip(Bytes("id\n1\n")), .. Bytes("<html>")], "orders.csv.gz");

        var intake = error.ShouldBeOfType<IntakeException>();
        intake.Kind.ShouldBe(ErrorKind.Format);
        intake.Message.ShouldContain("unexpected data after the end of the gzip data");
    }

    // ---- 7: limits from declared sizes, with the running total ----------------------------------------------

    [Fact]
    public async Task Expand_NestedZipBomb_IsRefusedFromTheInnerDirectories_BeforeAnythingIsHandedOut()
    {
        string temp = Directory.CreateTempSubdirectory("intake-nested-bomb").FullName;
        try
        {
            var bomb = ArchiveCorpus.Get("nested zip bomb");
            var limits = LimitsOf(bomb);
            limits.TempDirectory = temp;

            var (error, yielded) = await ExpandUntilFailureAsync(bomb.Build(), "bomb.zip", limits);

            var intake = error.ShouldBeOfType<IntakeException>();
            intake.Kind.ShouldBe(ErrorKind.Security);
            intake.Message.ShouldContain("bomb.zip: 'inner03.zip/zeros03.bin' declares 4194304 bytes uncompressed; the entries before it declare ");
            intake.Message.ShouldContain("past the limit of 10000000 bytes decompressed");
            long before = long.Parse(intake.Message.Split("the entries before it declare ")[1].Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture);
            before.ShouldBeGreaterThan(2 * 4194304); // inner01 and inner02 count in the running total
            yielded.ShouldBeEmpty(); // a.csv comes first in the zip, but nothing is handed out before the inner directories are read
            Directory.GetFiles(temp).ShouldBeEmpty();
        }
        finally
        {
            Directory.Delete(temp, recursive: true);
        }
    }

    [Fact]
    public async Task Expand_BombProducingPastTheLimit_SaysHowMuchTheEntriesProducedSoFar()
    {
        var gz = Gzip(Incompressible(600_000));

        var (error, _) = await ExpandUntilFailureAsync(gz, "big.bin.gz", new ArchiveLimits { MaxTotalBytes = 500_000 });

        var intake = error.ShouldBeOfType<IntakeException>();
        intake.Kind.ShouldBe(ErrorKind.Security);
        intake.Message.ShouldContain("passes the limit of 500000 bytes decompressed (the entries so far produced ");
    }

    private static byte[] Incompressible(int length)
    {
        var data = new byte[length];
        new Random(5).NextBytes(data);
        return data;
    }

    // ---- 9: bzip2, xz, zstd ----------------------------------------------------------------------------------

    [Theory]
    [InlineData("bz2")]
    [InlineData("xz")]
    [InlineData("zst")]
    public async Task Expand_CompressedCsv_IsRecognisedByContentAndNamedWithoutTheSuffix(string kind)
    {
        string csv = ArchiveCorpus.Csv(1, 500);

        var named = await ExpandAllAsync(Compress(kind, Bytes(csv)), $"orders.csv.{kind}", seekable: false);
        var misnamed = await ExpandAllAsync(Compress(kind, Bytes(csv)), "orders.csv");

        named.ShouldBe([("orders.csv", csv)]);
        misnamed.ShouldBe([("orders.csv", csv)]);
    }

    [Theory]
    [InlineData("bz2", "batch.tar.bz2")]
    [InlineData("bz2", "batch.tbz2")]
    [InlineData("xz", "batch.tar.xz")]
    [InlineData("xz", "batch.txz")]
    [InlineData("zst", "batch.tar.zst")]
    public async Task Expand_CompressedTar_YieldsTheTarEntries(string kind, string name)
    {
        var input = Compress(kind, Tar(TarFile("a.csv", "x\n1\n"), TarFile("b.csv", "y\n2\n")));

        var entries = await ExpandAllAsync(input, name, seekable: false);

        entries.ShouldBe([("a.csv", "x\n1\n"), ("b.csv", "y\n2\n")]);
    }

    [Theory]
    [InlineData("bz2")]
    [InlineData("xz")]
    [InlineData("zst")]
    public async Task Expand_CompressedCsvCutAnywhere_IsIntegrityError_NeverAShorterFile(string kind)
    {
        var full = Compress(kind, Bytes(ArchiveCorpus.Csv(1, 3000)));
        // From just past the magic to one byte short: the start, the middle, and every one of the last 40 bytes
        // (end markers, footers, checksums).
        var cuts = new[] { 6, 64, full.Length / 3, full.Length / 2, full.Length * 9 / 10 }.Concat(Enumerable.Range(1, 40).Select(k => full.Length - k));

        foreach (int cut in cuts)
        {
            var (error, _) = await ExpandUntilFailureAsync(full[..cut], $"orders.csv.{kind}");

            var intake = error.ShouldBeOfType<IntakeException>($"{kind} cut at {cut} of {full.Length}");
            intake.Kind.ShouldBe(ErrorKind.Integrity, $"{kind} cut at {cut} of {full.Length}: {intake.Message}");
            intake.Message.ShouldContain($"orders.csv.{kind}");
        }
    }

    [Theory]
    [InlineData("bz2")]
    [InlineData("xz")]
    [InlineData("zst")]
    public async Task Expand_CompressedCsvWithDamagedData_IsIntegrityError(string kind)
    {
        var data = Compress(kind, Bytes(ArchiveCorpus.Csv(1, 3000)));
        data[data.Length / 2] ^= 0x10;

        var (error, _) = await ExpandUntilFailureAsync(data, $"orders.csv.{kind}");

        error.ShouldBeOfType<IntakeException>().Kind.ShouldBe(ErrorKind.Integrity);
    }

    [Fact]
    public async Task Expand_ConcatenatedXzStreams_YieldsAllTheData()
    {
        // xz(1) decodes every stream of a file; the library stops after the first, which would drop the rest.
        byte[] two = [.. Xz(Bytes("id\n1\n")), 0, 0, 0, 0, .. Xz(Bytes("2\n"))];

        var entries = await ExpandAllAsync(two, "orders.csv.xz", seekable: false);

        entries.ShouldBe([("orders.csv", "id\n1\n2\n")]);
    }

    [Theory]
    [InlineData("bz2")]
    [InlineData("xz")]
    [InlineData("zst")]
    public async Task Expand_CompressedStreamFollowedByOtherData_IsFormatError(string kind)
    {
        byte[] input = [.. Compress(kind, Bytes(ArchiveCorpus.Csv(1, 200))), .. Encoding.ASCII.GetBytes("<html>not compressed</html>")];

        var (error, _) = await ExpandUntilFailureAsync(input, $"orders.csv.{kind}");

        var intake = error.ShouldBeOfType<IntakeException>();
        intake.Kind.ShouldBe(ErrorKind.Format, intake.Message);
        intake.Message.ShouldContain("unexpected data after the end of the");
    }

    [Theory]
    [InlineData("bz2")]
    [InlineData("xz")]
    [InlineData("zst")]
    public async Task Expand_CompressedBomb_IsStoppedSoonAfterTheAllowance(string kind)
    {
        var bomb = Compress(kind, new byte[20 * 1024 * 1024]);
        long read = 0;

        var error = await Should.ThrowAsync<IntakeException>(async () =>
        {
            await foreach (var entry in new ArchiveExpander().ExpandAsync(new MemoryStream(bomb), $"zeros.bin.{kind}"))
            {
                var buffer = new byte[81920];
                int n;
                while ((n = await entry.Content.ReadAsync(buffer)) > 0)
                {
                    read += n;
                }
            }
        });

        error.Kind.ShouldBe(ErrorKind.Security);
        error.Message.ShouldContain("200:1");
        read.ShouldBeLessThan(4 * 1024 * 1024);
    }
}
