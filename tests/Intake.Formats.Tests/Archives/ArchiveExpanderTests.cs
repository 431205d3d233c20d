using System.Formats.Tar;
using System.IO.Compression;
using System.Text;
using Intake.Core.Errors;
using Intake.Formats.Archives;
using static Intake.Formats.Tests.Archives.TestArchives;

namespace Intake.Formats.Tests.Archives;

public sealed class ArchiveExpanderTests
{
    private const string Csv = "id,name\n1,alpha\n2,beta\n";

    // ---- plain and gzip ---------------------------------------------------------------------------------------

    [Fact]
    public async Task Expand_PlainFile_PassesThroughUnderItsFileName()
    {
        var entries = await ExpandAllAsync(Bytes(Csv), "inbox/acme/2024/orders.csv");

        entries.ShouldBe([("orders.csv", Csv)]);
    }

    [Fact]
    public async Task Expand_PlainFile_IsDisplayedUnderTheInputName()
    {
        await foreach (var entry in new ArchiveExpander().ExpandAsync(new MemoryStream(Bytes(Csv)), "inbox/orders.csv"))
        {
            entry.DisplayName.ShouldBe("inbox/orders.csv");
            entry.DeclaredLength.ShouldBe(Csv.Length);
        }
    }

    [Fact]
    public async Task Expand_Gzip_YieldsOneEntryNamedWithoutGz()
    {
        var entries = await ExpandAllAsync(Gzip(Bytes(Csv)), "orders.csv.gz");

        entries.ShouldBe([("orders.csv", Csv)]);
    }

    [Fact]
    public async Task Expand_GzipWithoutGzName_IsRecognisedByItsMagicBytes()
    {
        var entries = await ExpandAllAsync(Gzip(Bytes(Csv)), "orders.csv");

        entries.ShouldBe([("orders.csv", Csv)]);
    }

    [Fact]
    public async Task Expand_ConcatenatedGzipMembers_YieldsAllTheData()
    {
        byte[] twoMembers = [.. Gzip(Bytes("id,name\n1,alpha\n")), .. Gzip(Bytes("2,beta\n"))];

        var entries = await ExpandAllAsync(twoMembers, "orders.csv.gz", seekable: false);

        entries.ShouldBe([("orders.csv", Csv)]);
    }

    [Fact]
    public async Task Expand_LargeGzipReadInSmallChunks_YieldsEveryByte()
    {
        // Random-ish text over many deflate blocks and many feed slices exercises the trailer search.
        var text = new StringBuilder();
        var random = new Random(7);
        for (int i = 0; i < 60_000; i++)
        {
            text.Append(i).Append(',').Append(random.Next()).Append(",value").Append(random.Next(1000)).Append('\n');
        }
        string expected = text.ToString();

        var entries = await ExpandAllAsync(Gzip(Bytes(expected)), "big.csv.gz", seekable: false);

        entries.Single().Text.ShouldBe(expected);
    }

    // ---- zip, tar, tgz -----------------------------------------------------------------------------------------

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Expand_ZipOfSeveralCsvs_YieldsEachEntryInOrder(bool seekable)
    {
        var zip = Zip(("a.csv", Bytes("x\n1\n")), ("sub/b.csv", Bytes("y\n2\n")), ("c.csv", Bytes("z\n3\n")));

        var entries = await ExpandAllAsync(zip, "batch.zip", seekable: seekable);

        entries.ShouldBe([("a.csv", "x\n1\n"), ("sub/b.csv", "y\n2\n"), ("c.csv", "z\n3\n")]);
    }

    [Fact]
    public async Task Expand_ZipFromStream_DeletesItsSpoolFile()
    {
        string temp = Directory.CreateTempSubdirectory("intake-spool-test").FullName;
        try
        {
            var zip = Zip(("a.csv", Bytes(Csv)));

            var entries = await ExpandAllAsync(zip, "batch.zip", new ArchiveLimits { TempDirectory = temp }, seekable: false);

            entries.Count.ShouldBe(1);
            Directory.GetFiles(temp).ShouldBeEmpty();
        }
        finally
        {
            Directory.Delete(temp, recursive: true);
        }
    }

    [Fact]
    public async Task Expand_Tar_YieldsFilesAndSkipsDirectories()
    {
        var tar = Tar(TarDirectory("data/"), TarFile("data/a.csv", "x\n1\n"), TarFile("b.csv", "y\n2\n"));

        var entries = await ExpandAllAsync(tar, "batch.tar", seekable: false);

        entries.ShouldBe([("data/a.csv", "x\n1\n"), ("b.csv", "y\n2\n")]);
    }

    [Theory]
    [InlineData("batch.tgz")]
    [InlineData("batch.tar.gz")]
    [InlineData("batch.bin")]
    public async Task Expand_GzippedTar_YieldsTheTarEntries(string name)
    {
        var tgz = Gzip(Tar(TarFile("a.csv", "x\n1\n"), TarFile("b.csv", "y\n2\n")));

        var entries = await ExpandAllAsync(tgz, name, seekable: false);

        entries.ShouldBe([("a.csv", "x\n1\n"), ("b.csv", "y\n2\n")]);
    }

    [Fact]
    public async Task Expand_TarEntryLeftUnread_IsSkippedAndTheNextIsIntact()
    {
        var tgz = Gzip(Tar(TarFile("a.csv", new string('a', 100_000)), TarFile("b.csv", "y\n2\n")));
        var names = new List<string>();
        string? last = null;

        await foreach (var entry in new ArchiveExpander().ExpandAsync(new MemoryStream(tgz), "batch.tgz"))
        {
            names.Add(entry.Name);
            if (entry.Name == "b.csv")
            {
                last = await new StreamReader(entry.Content).ReadToEndAsync();
            }
        }

        names.ShouldBe(["a.csv", "b.csv"]);
        last.ShouldBe("y\n2\n");
    }

    // ---- nesting ----------------------------------------------------------------------------------------------

    [Fact]
    public async Task Expand_ZipInsideZip_IsExpandedOneLevel()
    {
        var inner = Zip(("a.csv", Bytes("x\n1\n")), ("b.csv", Bytes("y\n2\n")));
        var outer = Zip(("inner.zip", inner), ("c.csv", Bytes("z\n3\n")));

        var entries = await ExpandAllAsync(outer, "outer.zip");

        entries.ShouldBe([("inner.zip/a.csv", "x\n1\n"), ("inner.zip/b.csv", "y\n2\n"), ("c.csv", "z\n3\n")]);
    }

    [Fact]
    public async Task Expand_ArchiveTwoLevelsDown_IsPassedOnAsAPlainEntry()
    {
        var deepest = Zip(("deep.csv", Bytes("d\n4\n")));
        var inner = Zip(("deep.zip", deepest), ("a.csv", Bytes("x\n1\n")));
        var outer = Zip(("inner.zip", inner));
        var names = new List<(string Name, byte[] Data)>();

        await foreach (var entry in new ArchiveExpander().ExpandAsync(new MemoryStream(outer), "outer.zip"))
        {
            var copy = new MemoryStream();
            await entry.Content.CopyToAsync(copy);
            names.Add((entry.Name, copy.ToArray()));
        }

        names.Select(n => n.Name).ShouldBe(["inner.zip/deep.zip", "inner.zip/a.csv"]);
        names[0].Data.ShouldBe(deepest);
    }

    [Fact]
    public async Task Expand_WithNestingOff_PassesAnInnerZipOnWhole()
    {
        var inner = Zip(("a.csv", Bytes("x\n1\n")));
        var outer = Zip(("inner.zip", inner));

        var (name, data) = await FirstEntryBytesAsync(outer, "outer.zip", new ArchiveLimits { NestedLevels = 0 });

        name.ShouldBe("inner.zip");
        data.ShouldBe(inner);
    }

    [Fact]
    public async Task Expand_GzipInsideZip_YieldsTheDecompressedFile()
    {
        var outer = Zip(("day/orders.csv.gz", Gzip(Bytes(Csv))), ("day/tgz.tar.gz", Gzip(Tar(TarFile("t.csv", "t\n1\n")))));

        var entries = await ExpandAllAsync(outer, "outer.zip", seekable: false);

        entries.ShouldBe([("day/orders.csv", Csv), ("day/tgz.tar.gz/t.csv", "t\n1\n")]);
    }

    [Fact]
    public async Task Expand_SpreadsheetInsideZip_IsNotOpened()
    {
        var workbook = Zip(("xl/workbook.xml", Bytes("<workbook/>")));
        var outer = Zip(("report.xlsx", workbook));

        var (name, data) = await FirstEntryBytesAsync(outer, "outer.zip");

        name.ShouldBe("report.xlsx");
        data.ShouldBe(workbook);
    }

    // ---- security ---------------------------------------------------------------------------------------------

    [Fact]
    public async Task Expand_ZipWithParentTraversal_IsSecurityErrorAndNeverYieldsTheEntry()
    {
        var zip = Zip(("good.csv", Bytes(Csv)), ("../evil.csv", Bytes("pwned\n")));

        var (error, yielded) = await ExpandUntilFailureAsync(zip, "batch.zip");

        var intake = error.ShouldBeOfType<IntakeException>();
        intake.Kind.ShouldBe(ErrorKind.Security);
        intake.Message.ShouldContain("batch.zip");
        intake.Message.ShouldContain("../evil.csv");
        yielded.ShouldBeEmpty(); // the zip's directory is checked before anything is extracted

    }

    [Theory]
    [InlineData("/etc/cron.d/evil")]
    [InlineData("C:\\Windows\\evil.dll")]
    [InlineData("\\\\server\\share\\evil")]
    [InlineData("data\\..\\..\\evil")]
    public async Task Expand_ZipWithAbsoluteOrEscapingPath_IsSecurityError(string entryName)
    {
        var zip = Zip((entryName, Bytes(Csv)));

        var (error, yielded) = await ExpandUntilFailureAsync(zip, "batch.zip");

        error.ShouldBeOfType<IntakeException>().Kind.ShouldBe(ErrorKind.Security);
        yielded.ShouldBeEmpty();
    }

    [Fact]
    public async Task Expand_TarWithAbsolutePath_IsSecurityError()
    {
        var tar = Tar(TarFile("/etc/cron.d/evil", "* * * * * root sh\n"));

        var (error, yielded) = await ExpandUntilFailureAsync(tar, "batch.tar");

        error.ShouldBeOfType<IntakeException>().Kind.ShouldBe(ErrorKind.Security);
        yielded.ShouldBeEmpty();
    }

    [Fact]
    public async Task Expand_TarWithSymlinkToEtcPasswd_IsSecurityError()
    {
        var tar = Tar(
            new PaxTarEntry(TarEntryType.SymbolicLink, "passwd") { LinkName = "/etc/passwd" },
            TarFile("passwd", "root::0:0::/root:/bin/sh\n"));

        var (error, yielded) = await ExpandUntilFailureAsync(tar, "batch.tar");

        var intake = error.ShouldBeOfType<IntakeException>();
        intake.Kind.ShouldBe(ErrorKind.Security);
        intake.Message.ShouldContain("/etc/passwd");
        yielded.ShouldBeEmpty();
    }

    [Fact]
    public async Task Expand_TarWithDevice_IsSecurityError()
    {
        var tar = Tar(new PaxTarEntry(TarEntryType.CharacterDevice, "null") { DeviceMajor = 1, DeviceMinor = 3 });

        var (error, _) = await ExpandUntilFailureAsync(tar, "batch.tar");

        error.ShouldBeOfType<IntakeException>().Kind.ShouldBe(ErrorKind.Security);
    }

    [Fact]
    public async Task Expand_ZipBomb_IsRefusedBeforeExtracting()
    {
        // 50 MB of zeros deflate to about 50 KB: a ratio near 1000.
        var zip = Zip(("zeros.csv", new byte[50 * 1024 * 1024]));

        var (error, yielded) = await ExpandUntilFailureAsync(zip, "bomb.zip");

        var intake = error.ShouldBeOfType<IntakeException>();
        intake.Kind.ShouldBe(ErrorKind.Security);
        intake.Message.ShouldContain("bomb.zip");
        intake.Message.ShouldContain("zeros.csv");
        intake.Message.ShouldContain("200:1");
        yielded.ShouldBeEmpty();
    }

    [Theory]
    [InlineData("bomb.csv.gz", false, "bomb.csv.gz")]
    [InlineData("bomb.zip", true, "zeros.csv.gz")] // a gzip inside a zip: only found while streaming
    public async Task Expand_GzipBomb_IsStoppedSoonAfterTheAllowance(string name, bool insideZip, string culprit)
    {
        var gz = Gzip(new byte[20 * 1024 * 1024]);
        var input = insideZip ? Zip(("zeros.csv.gz", gz)) : gz;
        long read = 0;

        var error = await Should.ThrowAsync<IntakeException>(async () =>
        {
            await foreach (var entry in new ArchiveExpander().ExpandAsync(new MemoryStream(input), name))
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
        error.Message.ShouldContain(name);
        error.Message.ShouldContain(culprit);
        read.ShouldBeLessThan(2 * 1024 * 1024); // soon after the 1 MiB allowance, not at the end of the 20 MB
    }

    [Fact]
    public async Task Expand_ZipEntryHoldingMoreThanItDeclares_IsIntegrityError()
    {
        var zip = Zip(("zeros.csv", new byte[5 * 1024 * 1024]));
        // Make the local and central headers claim 1000 bytes uncompressed, as a bomb hiding its size would.
        PatchUInt32(zip, "PK\x03\x04"u8, 22, 1000);
        PatchUInt32(zip, "PK\x01\x02"u8, 24, 1000);

        var (error, _) = await ExpandUntilFailureAsync(zip, "liar.zip");

        var intake = error.ShouldBeOfType<IntakeException>();
        intake.Kind.ShouldBe(ErrorKind.Integrity);
        intake.Message.ShouldContain("zeros.csv"); // the reader stops at the declared size; the CRC-32 shows the rest is missing
    }

    private static void PatchUInt32(byte[] data, ReadOnlySpan<byte> signature, int offset, uint value)
    {
        int at = data.AsSpan().IndexOf(signature);
        at.ShouldBeGreaterThanOrEqualTo(0);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(data.AsSpan(at + offset), value);
    }

    [Fact]
    public async Task Expand_ZipDeclaringMoreThanMaxTotalBytes_IsRefusedBeforeExtracting()
    {
        var random = Incompressible(300_000);
        var zip = Zip(("a.bin", random), ("b.bin", random));

        var (error, yielded) = await ExpandUntilFailureAsync(zip, "big.zip", new ArchiveLimits { MaxTotalBytes = 500_000 });

        var intake = error.ShouldBeOfType<IntakeException>();
        intake.Kind.ShouldBe(ErrorKind.Security);
        intake.Message.ShouldContain("big.zip");
        intake.Message.ShouldContain("500000");
        yielded.ShouldBeEmpty();
    }

    [Fact]
    public async Task Expand_GzipPastMaxTotalBytes_IsSecurityErrorNamingTheEntry()
    {
        var tgz = Gzip(Tar(new PaxTarEntry(TarEntryType.RegularFile, "a.bin") { DataStream = new MemoryStream(Incompressible(300_000)) },
                           new PaxTarEntry(TarEntryType.RegularFile, "b.bin") { DataStream = new MemoryStream(Incompressible(300_000)) }));

        var (error, yielded) = await ExpandUntilFailureAsync(tgz, "big.tgz", new ArchiveLimits { MaxTotalBytes = 500_000 });

        var intake = error.ShouldBeOfType<IntakeException>();
        intake.Kind.ShouldBe(ErrorKind.Security);
        // Refused at b.bin's header, from the size it declares, before its data is decompressed.
        intake.Message.ShouldContain("'b.bin' declares 300000 bytes uncompressed; the entries before it declare 300000 bytes, 600000 with it, past the limit of 500000 bytes");
        yielded.ShouldBe(["a.bin"]);
    }

    private static byte[] Incompressible(int length)
    {
        var data = new byte[length];
        new Random(3).NextBytes(data); // the ratio stays near 1
        return data;
    }

    [Fact]
    public async Task Expand_MoreEntriesThanTheLimit_IsSecurityError()
    {
        var zip = Zip(Enumerable.Range(1, 5).Select(i => ($"f{i}.csv", Bytes(Csv))).ToArray());

        var (error, yielded) = await ExpandUntilFailureAsync(zip, "many.zip", new ArchiveLimits { MaxEntries = 3 });

        error.ShouldBeOfType<IntakeException>().Kind.ShouldBe(ErrorKind.Security);
        yielded.ShouldBeEmpty(); // the zip directory is counted before anything is extracted
    }

    // ---- corrupt and truncated --------------------------------------------------------------------------------

    [Theory]
    [InlineData(0.5)]  // in the middle of the deflate data
    [InlineData(-4)]   // only the length of the trailer missing
    [InlineData(-8)]   // the whole trailer missing
    [InlineData(5)]    // inside the header
    public async Task Expand_TruncatedGzip_IsIntegrityErrorNamingTheFile(double cut)
    {
        var text = string.Concat(Enumerable.Range(0, 5000).Select(i => $"{i},value {i * 7919 % 1000}\n"));
        var gz = Gzip(Bytes(text));
        int length = cut switch { < 0 => gz.Length + (int)cut, < 1 => (int)(gz.Length * cut), _ => (int)cut };

        var (error, _) = await ExpandUntilFailureAsync(gz[..length], "orders.csv.gz");

        var intake = error.ShouldBeOfType<IntakeException>();
        intake.Kind.ShouldBe(ErrorKind.Integrity);
        intake.Message.ShouldContain("orders.csv.gz");
        intake.Message.ShouldContain("truncated");
    }

    [Fact]
    public async Task Expand_TgzCutAfterTheTarEnds_IsIntegrityError()
    {
        // The tar's own end marker survives; only the gzip trailer is missing.
        var tgz = Gzip(Tar(TarFile("a.csv", Csv)));

        var (error, _) = await ExpandUntilFailureAsync(tgz[..^6], "batch.tgz");

        error.ShouldBeOfType<IntakeException>().Kind.ShouldBe(ErrorKind.Integrity);
    }

    [Fact]
    public async Task Expand_GzipWithAlteredData_IsIntegrityError()
    {
        var gz = Gzip(Bytes(string.Concat(Enumerable.Range(0, 2000).Select(i => $"{i},{i * i}\n"))));
        gz[gz.Length / 2] ^= 0x55;

        var (error, _) = await ExpandUntilFailureAsync(gz, "orders.csv.gz");

        error.ShouldBeOfType<IntakeException>().Kind.ShouldBe(ErrorKind.Integrity);
    }

    [Fact]
    public async Task Expand_TruncatedZip_IsIntegrityErrorNamingTheFile()
    {
        var zip = Zip(("a.csv", Bytes(Csv)), ("b.csv", Bytes(Csv)));

        var (error, _) = await ExpandUntilFailureAsync(zip[..(zip.Length - 30)], "batch.zip");

        var intake = error.ShouldBeOfType<IntakeException>();
        intake.Kind.ShouldBe(ErrorKind.Integrity);
        intake.Message.ShouldContain("batch.zip");
        intake.Message.ShouldContain("truncated");
    }

    [Fact]
    public async Task Expand_ZipWithCorruptEntryData_IsIntegrityErrorNamingTheEntry()
    {
        var text = string.Concat(Enumerable.Range(0, 2000).Select(i => $"{i},{i * i}\n"));
        var zip = Zip(("a.csv", Bytes(text)));
        // The compressed data starts after the 30-byte local header and the 5-byte name.
        for (int i = 60; i < 90; i++)
        {
            zip[i] ^= 0xA5;
        }

        var (error, _) = await ExpandUntilFailureAsync(zip, "batch.zip");

        var intake = error.ShouldBeOfType<IntakeException>();
        intake.Kind.ShouldBe(ErrorKind.Integrity);
        intake.Message.ShouldContain("a.csv");
    }

    [Fact]
    public async Task Expand_TruncatedTar_IsIntegrityError()
    {
        var tar = Tar(TarFile("a.csv", new string('x', 5000)));

        var (error, _) = await ExpandUntilFailureAsync(tar[..3000], "batch.tar");

        error.ShouldBeOfType<IntakeException>().Kind.ShouldBe(ErrorKind.Integrity);
    }

    [Theory]
    [InlineData("batch.zip")]
    [InlineData("batch.tar")]
    [InlineData("batch.tgz")]
    [InlineData("orders.csv.gz")]
    public async Task Expand_PlainFileNamedLikeAnArchive_IsFormatError(string name)
    {
        var html = Bytes("<html><body>Session expired</body></html>");

        var (error, _) = await ExpandUntilFailureAsync(html, name);

        var intake = error.ShouldBeOfType<IntakeException>();
        intake.Kind.ShouldBe(ErrorKind.Format);
        intake.Message.ShouldContain(name);
        intake.Message.ShouldContain("neither zip nor tar");
    }

    [Fact]
    public async Task Expand_SevenZip_IsFormatErrorSayingItIsNotSupported()
    {
        var (error, _) = await ExpandUntilFailureAsync([0x37, 0x7A, 0xBC, 0xAF, 0x27, 0x1C, 0, 4, .. new byte[64]], "batch.7z");

        var intake = error.ShouldBeOfType<IntakeException>();
        intake.Kind.ShouldBe(ErrorKind.Format);
        intake.Message.ShouldContain("7z");
        intake.Message.ShouldContain("not supported");
    }

    // ---- empty ------------------------------------------------------------------------------------------------

    public static TheoryData<string, byte[]> EmptyInputs => new()
    {
        { "empty.csv", [] },
        { "empty.zip", Zip() },
        { "empty-entries.zip", Zip(("a.csv", []), ("dir/", [])) },
        { "empty.tar", Tar() },
        { "empty.tgz", Gzip(Tar()) },
        { "empty.csv.gz", Gzip([]) },
    };

    [Theory]
    [MemberData(nameof(EmptyInputs))]
    public async Task Expand_EmptyInputOrArchive_IsEmptyErrorNamingTheFile(string name, byte[] input)
    {
        var (error, yielded) = await ExpandUntilFailureAsync(input, name);

        var intake = error.ShouldBeOfType<IntakeException>();
        intake.Kind.ShouldBe(ErrorKind.Empty);
        intake.Message.ShouldContain(name);
        yielded.ShouldBeEmpty();
    }

    [Fact]
    public async Task Expand_EmptyMemberBesideAFullOne_IsSkipped()
    {
        var entries = await ExpandAllAsync(Zip(("empty.csv", []), ("full.csv", Bytes(Csv))), "batch.zip");

        entries.ShouldBe([("full.csv", Csv)]);
    }

    // ---- contract ---------------------------------------------------------------------------------------------

    [Fact]
    public async Task Content_AfterTheNextEntryIsRequested_CannotBeRead()
    {
        var zip = Zip(("a.csv", Bytes(Csv)), ("b.csv", Bytes(Csv)));
        Stream? first = null;

        await foreach (var entry in new ArchiveExpander().ExpandAsync(new MemoryStream(zip), "batch.zip"))
        {
            first ??= entry.Content;
        }

        Should.Throw<ObjectDisposedException>(() => first!.ReadByte());
    }

    [Fact]
    public void Expand_Synchronously_YieldsTheSameEntries()
    {
        var zip = Zip(("a.csv", Bytes(Csv)), ("b.csv", Bytes(Csv)));

        var names = new ArchiveExpander().Expand(new MemoryStream(zip), "batch.zip").Select(e => e.DisplayName).ToList();

        names.ShouldBe(["batch.zip:a.csv", "batch.zip:b.csv"]);
    }

    [Fact]
    public void Limits_WhenInvalid_AreAllReportedAtOnce()
    {
        var error = Should.Throw<ArgumentException>(() => new ArchiveExpander(new ArchiveLimits { MaxRatio = 0, MaxEntries = 0 }));

        error.Message.ShouldContain("MaxRatio");
        error.Message.ShouldContain("MaxEntries");
    }

    private static async Task<(string Name, byte[] Data)> FirstEntryBytesAsync(byte[] input, string name, ArchiveLimits? limits = null)
    {
        await foreach (var entry in new ArchiveExpander(limits).ExpandAsync(new MemoryStream(input), name))
        {
            var copy = new MemoryStream();
            await entry.Content.CopyToAsync(copy);
            return (entry.Name, copy.ToArray());
        }
        throw new ShouldAssertException("no entry");
    }
}
