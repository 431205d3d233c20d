using System.Text;
using Intake.Engine.Mail;

namespace Intake.Engine.Tests.Mail;

/// <summary>Every way a sender's name is made one safe file name in its folder, and how equal names are told apart.</summary>
public sealed class PartNamesTests
{
    [Theory]
    [InlineData("report.csv", "report.csv")]
    [InlineData("Rapport été 日本.csv", "Rapport été 日本.csv")]
    [InlineData("../../x", "x")]
    [InlineData("../../../etc/cron.d/evil", "evil")]
    [InlineData("/etc/passwd", "passwd")]
    [InlineData("..\\..\\x", "x")]
    [InlineData("C:\\Users\\bob\\report.csv", "report.csv")]
    [InlineData("\\\\server\\share\\a.txt", "a.txt")]
    [InlineData("line\nbreak\u0007bell.csv", "line_break_bell.csv")]
    [InlineData("tab\there", "tab_here")]
    [InlineData("nul\0name.txt", "nul_name.txt")]
    [InlineData("del\u007F.txt", "del_.txt")]
    [InlineData("c1\u0085control.txt", "c1_control.txt")]
    [InlineData("invoice\u202Efdp.exe", "invoice_fdp.exe")] // right-to-left override: would show as "invoiceexe.pdf"
    [InlineData("zero\u200Bwidth.txt", "zero_width.txt")]
    [InlineData("line\u2028sep.txt", "line_sep.txt")]
    [InlineData("private\uE000use.txt", "private_use.txt")]
    [InlineData("no\u00A0break\u3000space.txt", "no break space.txt")]
    [InlineData("a<b>c:d\"e|f?g*.txt", "a_b_c_d_e_f_g_.txt")]
    [InlineData(".htaccess", "_.htaccess")]
    [InlineData("..hidden", "_..hidden")]
    [InlineData("a.csv.", "a.csv")]
    [InlineData("a.csv. . ", "a.csv")]
    [InlineData("  padded.csv  ", "padded.csv")]
    [InlineData("CON", "_CON")]
    [InlineData("con.txt", "_con.txt")]
    [InlineData("Nul.tar.gz", "_Nul.tar.gz")]
    [InlineData("COM1.csv", "_COM1.csv")]
    [InlineData("lpt9", "_lpt9")]
    [InlineData("COM\u00B9.txt", "_COM\u00B9.txt")]
    [InlineData("CONSOLE.txt", "CONSOLE.txt")]
    [InlineData("COM10.txt", "COM10.txt")]
    [InlineData("__", "__")]
    public void Clean_MakesTheNameOneSafeFileName(string sent, string expected)
    {
        PartNames.Clean(sent).ShouldBe(expected);
    }

    [Fact]
    public void Clean_ALoneSurrogate_IsReplaced()
    {
        // Not inline data: the test runner would turn the lone surrogate into replacement characters on its way here.
        PartNames.Clean("\uD800x.txt").ShouldBe("_x.txt");
        PartNames.Clean("x\uDC00.txt").ShouldBe("x_.txt");
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData(".")]
    [InlineData("..")]
    [InlineData("...")]
    [InlineData(". .")]
    [InlineData("a/b/")]
    [InlineData("../..")]
    [InlineData("..\\")]
    [InlineData("\u0001\u0002\u0003")]
    [InlineData("\u202E")]
    public void Clean_WhenNothingUsableIsLeft_ReturnsNull(string? sent)
    {
        PartNames.Clean(sent).ShouldBeNull();
    }

    [Fact]
    public void Clean_ADecomposedName_IsKeptAsSent_SoItNeverReplacesTheComposedOne()
    {
        var names = new PartNames();

        var decomposed = names.Claim("re\u0301sume\u0301.txt", "part-1.txt");
        var composed = names.Claim("r\u00E9sum\u00E9.txt", "part-2.txt");

        decomposed.ShouldBe("re\u0301sume\u0301.txt");
        composed.ShouldBe("r\u00E9sum\u00E9.txt");
        decomposed.ShouldNotBe(composed);
    }

    [Fact]
    public void Clean_ALongName_IsShortenedToTheLimit_KeepingItsExtension()
    {
        var clean = PartNames.Clean(new string('a', 300) + ".csv")!;

        Encoding.UTF8.GetByteCount(clean).ShouldBe(PartNames.MaxBytes);
        clean.ShouldEndWith("a.csv");
    }

    [Fact]
    public void Clean_ALongNameOfWideCharacters_IsCutBetweenWholeCharacters()
    {
        // 2 bytes each (é) and 4 bytes each (𝄞, a surrogate pair): a cut by bytes or by UTF-16 units would split them.
        var clean = PartNames.Clean(string.Concat(Enumerable.Repeat("é𝄞", 60)) + ".txt")!;

        Encoding.UTF8.GetByteCount(clean).ShouldBeLessThanOrEqualTo(PartNames.MaxBytes);
        clean.ShouldEndWith(".txt");
        clean.ShouldNotContain('\uFFFD');
        Encoding.UTF8.GetString(Encoding.UTF8.GetBytes(clean)).ShouldBe(clean); // no lone surrogate left
    }

    [Fact]
    public void Clean_ALongExtension_IsNotKeptWhole()
    {
        var clean = PartNames.Clean("a." + new string('b', 300))!;

        Encoding.UTF8.GetByteCount(clean).ShouldBe(PartNames.MaxBytes);
        clean.ShouldStartWith("a.bbb");
    }

    [Fact]
    public void Claim_EqualNames_IgnoringCase_AreNumbered()
    {
        var names = new PartNames();

        names.Claim("report.csv", "g").ShouldBe("report.csv");
        names.Claim("report.csv", "g").ShouldBe("report (2).csv");
        names.Claim("REPORT.CSV", "g").ShouldBe("REPORT (3).CSV");
        names.Claim("report (2).csv", "g").ShouldBe("report (2) (2).csv");
        names.Claim("../report.csv", "g").ShouldBe("report (4).csv");
        names.Claim("noextension", "g").ShouldBe("noextension");
        names.Claim("noextension", "g").ShouldBe("noextension (2)");
        names.Claim(".htaccess", "g").ShouldBe("_.htaccess");
        names.Claim(".htaccess", "g").ShouldBe("_ (2).htaccess");
    }

    [Fact]
    public void Claim_WithoutAUsableName_TakesTheGeneratedOne_AlsoNumberedWhenTaken()
    {
        var names = new PartNames();

        names.Claim(null, "part-2.pdf").ShouldBe("part-2.pdf");
        names.Claim("part-2.pdf", "part-3.pdf").ShouldBe("part-2 (2).pdf");
        names.Claim("...", "part-4.bin").ShouldBe("part-4.bin");
        names.Claim("\u0001", "part-5.bin").ShouldBe("part-5.bin");
    }

    [Fact]
    public void Claim_ALongNameTakenTwice_StaysWithinTheLimit()
    {
        var names = new PartNames();
        var name = new string('x', 400) + ".csv";

        var first = names.Claim(name, "g");
        var second = names.Claim(name, "g");

        second.ShouldNotBe(first);
        second.ShouldEndWith(" (2).csv");
        Encoding.UTF8.GetByteCount(second).ShouldBeLessThanOrEqualTo(PartNames.MaxBytes);
    }
}
