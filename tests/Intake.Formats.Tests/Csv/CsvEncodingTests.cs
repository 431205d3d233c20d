using System.Text;
using Intake.Core.Errors;
using Intake.Formats.Csv;
using Intake.Formats.Tests.Archives;

namespace Intake.Formats.Tests.Csv;

/// <summary>Bytes that are not text in the declared encoding: never replaced, always located exactly.</summary>
public sealed class CsvEncodingTests
{
    static CsvEncodingTests() => Encoding.RegisterProvider(CodePagesEncodingProvider.Instance);

    private static IntakeException ReadToFailure(byte[] bytes, CsvOptions? options = null, int chunk = 4096, string name = "test.csv")
    {
        using var csv = new CsvRowSource(new ForwardOnlyStream(new MemoryStream(bytes), chunk), name, options);
        var values = new List<string?>();
        var error = Should.Throw<IntakeException>(() =>
        {
            while (csv.Read())
            {
                values.AddRange(Enumerable.Range(0, csv.FieldCount).Select(csv.GetString));
            }
        });
        values.ShouldNotContain(v => v != null && v.Contains('\uFFFD'));
        error.Kind.ShouldBe(ErrorKind.Format);
        return error;
    }

    /// <summary>A CSV of <paramref name="rows"/> rows of about 40 bytes, then a row with <paramref name="bad"/> in its second field.</summary>
    private static (byte[] Bytes, long Offset) WithBadBytesAfter(int rows, byte[] bad)
    {
        var text = new StringBuilder("id,name,note\n");
        for (var i = 1; i <= rows; i++)
        {
            text.Append(i).Append(",name ").Append(i).Append(",\"a note, é\"\n");
        }

        text.Append(rows + 1).Append(",bad ");
        var head = Encoding.UTF8.GetBytes(text.ToString());
        return ([.. head, .. bad, .. " tail,x\n1,2,3\n"u8], head.Length);
    }

    [Theory]
    [InlineData(5, 4096)]
    [InlineData(5, 1)] // one byte per read
    [InlineData(5_000, 4096)] // past several 64 KiB blocks
    [InlineData(5_000, 7)]
    public void InvalidUtf8_IsFormatErrorWithLineRecordOffsetAndBytes(int rows, int chunk)
    {
        var (bytes, offset) = WithBadBytesAfter(rows, [0xFF, 0xFE]);

        var error = ReadToFailure(bytes, chunk: chunk);

        error.Message.ShouldBe($"test.csv: line {rows + 2} (record {rows + 1}), byte offset {offset}: byte 0xFF is not valid utf-8; the file is in another encoding: set csv.encoding to it");
    }

    [Fact]
    public void InvalidUtf8_WithAReplacingEncodingInstance_IsStillRefused()
    {
        // Encoding.UTF8 replaces bad bytes by default; the reader must not.
        var (bytes, offset) = WithBadBytesAfter(3, [0xC3, 0x28]);

        var error = ReadToFailure(bytes, new CsvOptions { Encoding = Encoding.UTF8 });

        error.Message.ShouldContain($"line 5 (record 4), byte offset {offset}: byte 0xC3 is not valid utf-8");
    }

    [Fact]
    public void TruncatedUtf8AtTheEnd_IsRefusedAtItsOffset()
    {
        byte[] bytes = [.. "a,b\n1,x"u8, 0xE2, 0x82];

        var error = ReadToFailure(bytes);

        error.Message.ShouldContain("line 2 (record 1), byte offset 7: bytes 0xE2 0x82 are not valid utf-8");
    }

    [Fact]
    public void InvalidUtf8InTheHeader_SaysSo()
    {
        var error = Should.Throw<IntakeException>(() => new CsvRowSource(new MemoryStream([.. "id,n"u8, 0xE9, .. "\n1,2\n"u8]), "h.csv"));

        error.Message.ShouldStartWith("h.csv: line 1 (the header), byte offset 4: byte 0xE9");
    }

    [Fact]
    public void InvalidUtf8AfterAQuotedLineBreak_CountsThePhysicalLine()
    {
        byte[] bytes = [.. "a,b\n1,\"x\ny\"\n2,\"p\nq"u8, 0xFF, .. "\"\n"u8];

        var error = ReadToFailure(bytes, chunk: 1);

        error.Message.ShouldContain("line 5 (record 2), byte offset 18: byte 0xFF");
    }

    [Fact]
    public void InvalidUtf8AfterALongRowWithoutLineBreaks_KeepsItsExactOffset()
    {
        // A 200 KB row has no line break in a whole block: the block is cut at its end instead.
        var text = "a,b\n1," + string.Concat(Enumerable.Repeat("é", 100_000)) + "\n2,ok\n3,";
        var head = Encoding.UTF8.GetBytes(text);

        var error = ReadToFailure([.. head, 0xFF, .. "\n"u8], chunk: 10_000);

        error.Message.ShouldContain($"line 4 (record 3), byte offset {head.Length}: byte 0xFF");
    }

    [Fact]
    public void Utf16_IsReadAcrossBlocks_AndABrokenSurrogateIsLocated()
    {
        var text = new StringBuilder("id,name\r\n");
        for (var i = 0; i < 20_000; i++)
        {
            text.Append(i).Append(",Zoë ").Append(i).Append("\r\n");
        }

        var good = Encoding.Unicode.GetBytes(text.ToString());
        using (var csv = new CsvRowSource(new ForwardOnlyStream(new MemoryStream(good), 333), "u16.csv", new CsvOptions { Encoding = Encoding.Unicode }))
        {
            var rows = 0;
            while (csv.Read())
            {
                csv.GetString(1).ShouldBe($"Zoë {rows}");
                rows++;
            }

            rows.ShouldBe(20_000);
        }

        var error = ReadToFailure([.. good, .. Encoding.Unicode.GetBytes("x,"), 0x3D, 0xD8, .. Encoding.Unicode.GetBytes("y\r\n")], new CsvOptions { Encoding = Encoding.Unicode }, chunk: 333);

        error.Message.ShouldContain($"line 20002 (record 20001), byte offset {good.Length + 4}: bytes 0x3D 0xD8 are not valid utf-16");
    }

    [Fact]
    public void Windows1252_ReadsTheEuroSignAndCurlyQuotes()
    {
        using var csv = new CsvRowSource(new MemoryStream([.. "a\n"u8, 0x80, 0x20, 0x92, 0x93, 0x94, .. "\n"u8]), "w.csv", new CsvOptions { Encoding = Encoding.GetEncoding(1252) });

        csv.Read().ShouldBeTrue();
        csv.GetString(0).ShouldBe("€ ’“”");
    }

    [Fact]
    public void ShiftJis_InvalidPair_IsLocated()
    {
        var sjis = Encoding.GetEncoding("shift_jis");
        var head = sjis.GetBytes("id,city\n1,東京\n2,");

        var error = ReadToFailure([.. head, 0x81, 0x20, .. "\n"u8], new CsvOptions { Encoding = sjis });

        error.Message.ShouldContain($"line 3 (record 2), byte offset {head.Length}: bytes 0x81 0x20 are not valid shift_jis");
    }

    [Fact]
    public void Latin1_WithAC1Control_IsFormatErrorSuggestingWindows1252()
    {
        var error = ReadToFailure([.. "a,b\n1,caf"u8, 0xE9, .. "\n2,"u8, 0x80, .. " 5\n"u8], new CsvOptions { Encoding = Encoding.Latin1 });

        error.Message.ShouldBe(
            "test.csv: line 3 (record 2), byte offset 13: byte 0x80 is the control character U+0080 in iso-8859-1, which text files do not hold; " +
            "the file is almost certainly windows-1252 (where 0x80 to 0x9F are characters such as € and ’): set csv.encoding: windows-1252");
    }
}
