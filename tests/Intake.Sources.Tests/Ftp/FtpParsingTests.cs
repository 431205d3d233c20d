using Intake.Sources.Ftp;

namespace Intake.Sources.Tests.Ftp;

public class FtpParsingTests
{
    private static readonly DateTimeOffset Now = new(2026, 3, 15, 12, 0, 0, TimeSpan.Zero);

    [Fact]
    public void UnixListLine_WithTime_IsThisYear_AndKeepsSpacesInTheName()
    {
        FtpParsing.TryParseListLine("-rw-r--r--    1 0        0         3000000 Mar 14 10:20 my  data.csv", Now, out var item).ShouldBeTrue();

        item.ShouldBe(new FtpListItem("my  data.csv", FtpItemType.File, 3000000, new DateTimeOffset(2026, 3, 14, 10, 20, 0, TimeSpan.Zero), false));
    }

    [Fact]
    public void UnixListLine_WithTimeLaterInTheYearThanNow_IsLastYear()
    {
        FtpParsing.TryParseListLine("-rw-r--r-- 1 ftp ftp 5 Dec 24 18:00 x", Now, out var item).ShouldBeTrue();

        item.Modified.ShouldBe(new DateTimeOffset(2025, 12, 24, 18, 0, 0, TimeSpan.Zero));
    }

    [Fact]
    public void UnixListLine_WithYearAndNoGroup_Parses()
    {
        FtpParsing.TryParseListLine("drwxr-xr-x 2 owner 4096 Jan 05  2024 archive", Now, out var item).ShouldBeTrue();

        item.ShouldBe(new FtpListItem("archive", FtpItemType.Directory, 4096, new DateTimeOffset(2024, 1, 5, 0, 0, 0, TimeSpan.Zero), false));
    }

    [Fact]
    public void UnixListLine_SymbolicLink_DropsTheTarget()
    {
        FtpParsing.TryParseListLine("lrwxrwxrwx 1 0 0 11 Jan 05  2024 latest.zip -> 2024/a.zip", Now, out var item).ShouldBeTrue();

        item.Name.ShouldBe("latest.zip");
        item.Type.ShouldBe(FtpItemType.Link);
    }

    [Theory]
    [InlineData("total 12")]
    [InlineData("drwxr-xr-x 2 0 0 4096 Jan 05  2024 .")]
    [InlineData("drwxr-xr-x 2 0 0 4096 Jan 05  2024 ..")]
    [InlineData("-rw-r--r-- 1 0 0 12 Foo 05  2024 x")]
    [InlineData("")]
    public void ListLine_NoiseAndSelfReferences_AreSkipped(string line) =>
        FtpParsing.TryParseListLine(line, Now, out _).ShouldBeFalse();

    [Fact]
    public void DosListLines_FilesAndFolders_Parse()
    {
        FtpParsing.TryParseListLine("01-15-24  10:20PM              1234 report 1.csv", Now, out var file).ShouldBeTrue();
        FtpParsing.TryParseListLine("01-15-2024  09:05       <DIR>          in", Now, out var dir).ShouldBeTrue();

        file.ShouldBe(new FtpListItem("report 1.csv", FtpItemType.File, 1234, new DateTimeOffset(2024, 1, 15, 22, 20, 0, TimeSpan.Zero), false));
        dir.Type.ShouldBe(FtpItemType.Directory);
        dir.Name.ShouldBe("in");
    }

    [Fact]
    public void MlsdLine_GivesExactFacts_AndNamesWithSpacesAndSemicolons()
    {
        FtpParsing.TryParseMlsdLine("Type=file;Size=42;Modify=20260101123456.789;UNIX.mode=0644; a; b.csv", out var item).ShouldBeTrue();

        item.ShouldBe(new FtpListItem("a; b.csv", FtpItemType.File, 42, new DateTimeOffset(2026, 1, 1, 12, 34, 56, 789, TimeSpan.Zero), true));
    }

    [Theory]
    [InlineData("type=cdir;modify=20260101000000; /in")]
    [InlineData("type=pdir;modify=20260101000000; ..")]
    [InlineData("size=1; no-type")]
    [InlineData("garbage")]
    public void MlsdLine_FolderItselfParentAndJunk_AreSkipped(string line) =>
        FtpParsing.TryParseMlsdLine(line, out _).ShouldBeFalse();

    [Fact]
    public void MlsdLine_Symlink_IsALink()
    {
        FtpParsing.TryParseMlsdLine("type=OS.unix=slink:/x;size=1; l", out var item).ShouldBeTrue();

        item.Type.ShouldBe(FtpItemType.Link);
    }

    [Theory]
    [InlineData("Entering Extended Passive Mode (|||40123|)", 40123)]
    [InlineData("Entering Extended Passive Mode (!!!2121!)", 2121)]
    public void Epsv_PortIsRead(string text, int port)
    {
        FtpParsing.TryParseEpsvPort(text, out var actual).ShouldBeTrue();
        actual.ShouldBe(port);
    }

    [Theory]
    [InlineData("Entering Extended Passive Mode (||40123|)")]
    [InlineData("Entering Extended Passive Mode")]
    [InlineData("Entering Extended Passive Mode (|||99999|)")]
    public void Epsv_Malformed_IsRejected(string text) => FtpParsing.TryParseEpsvPort(text, out _).ShouldBeFalse();

    [Fact]
    public void Pasv_AddressAndPortAreRead()
    {
        FtpParsing.TryParsePasv("Entering Passive Mode (0,0,0,0,156,64).", out var address, out var port).ShouldBeTrue();

        address.ShouldBe("0.0.0.0");
        port.ShouldBe((156 * 256) + 64);
    }

    [Fact]
    public void Pwd_WithDoubledQuotes_IsUnquoted() =>
        FtpParsing.ParsePwd("\"/data/say \"\"hi\"\"\" is the current directory").ShouldBe("/data/say \"hi\"");

    [Theory]
    [InlineData("20260102030405", "2026-01-02T03:04:05.0000000+00:00")]
    [InlineData("20260102030405.5", "2026-01-02T03:04:05.5000000+00:00")]
    public void TimeVal_IsUtc(string text, string expected)
    {
        FtpParsing.TryParseTimeVal(text, out var value).ShouldBeTrue();
        value.ToString("O", System.Globalization.CultureInfo.InvariantCulture).ShouldBe(expected);
    }

    [Theory]
    [InlineData("2026010203")]
    [InlineData("20261302030405")]
    [InlineData("20260102030405x")]
    public void TimeVal_Malformed_IsRejected(string text) => FtpParsing.TryParseTimeVal(text, out _).ShouldBeFalse();

    [Fact]
    public void Features_KeywordsAndParameters()
    {
        var features = FtpParsing.ParseFeatures("Features:\n AUTH TLS\n MLST type*;size*;modify*;\n SIZE\nEnd");

        features.Keys.ShouldBe(["AUTH", "MLST", "SIZE"], ignoreOrder: true);
        features["MLST"].ShouldBe("type*;size*;modify*;");
    }
}
