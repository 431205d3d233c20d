using System.Globalization;
using System.Text;
using Intake.Core.Errors;
using Intake.Formats.Csv;
using Intake.Formats.Tests.Archives;

namespace Intake.Formats.Tests.Csv;

public sealed class CsvRowSourceTests
{
    private static CsvRowSource Open(string text, CsvOptions? options = null, Encoding? encoding = null) =>
        new(new MemoryStream((encoding ?? Encoding.UTF8).GetBytes(text)), "test.csv", options);

    private static List<string?[]> ReadAll(CsvRowSource source)
    {
        var rows = new List<string?[]>();
        while (source.Read())
        {
            rows.Add(Enumerable.Range(0, source.FieldCount).Select(source.GetString).ToArray());
        }
        return rows;
    }

    [Fact]
    public void GetSpan_GivesEveryFieldAsGetStringDoes_IncludingSeveralDoubledQuotesInOneRow()
    {
        // Values with doubled quotes are unescaped into a scratch area that the row's fields share; the second must
        // not overwrite the first. Enough rows to cross several 64 Ki-character refills, which re-parse a cut row.
        var text = new StringBuilder("a,b,c,d\n");
        for (var i = 0; i < 10_000; i++)
        {
            text.Append(CultureInfo.InvariantCulture, $"\"x\"\"{i}\"\"\",,\"\",\"say \"\"hi\"\" {i}\"\n");
        }

        using var spans = Open(text.ToString());
        using var strings = Open(text.ToString());
        var rows = 0;
        while (spans.Read() && strings.Read())
        {
            for (var f = 0; f < 4; f++)
            {
                var span = spans.GetSpan(f, out var missing);
                var expected = strings.GetString(f);
                missing.ShouldBe(expected is null);
                span.ToString().ShouldBe(expected ?? "");
            }

            spans.GetString(0).ShouldBe($"x\"{rows}\"");
            spans.GetString(3).ShouldBe($"say \"hi\" {rows}");
            rows++;
        }

        rows.ShouldBe(10_000);
    }

    [Fact]
    public void Read_SimpleFile_GivesColumnsAndRows()
    {
        using var csv = Open("id, name ,amount\n1,alpha,10.5\n2,beta,-3\n");

        csv.Columns.ShouldBe(["id", "name", "amount"]);
        ReadAll(csv).ShouldBe([["1", "alpha", "10.5"], ["2", "beta", "-3"]]);
    }

    [Fact]
    public void Read_QuotedFields_KeepDelimitersAndUndoubleQuotes()
    {
        using var csv = Open("a,b,c\n\"x, y\",\"say \"\"hi\"\"\",\"\"\"\"\n");

        ReadAll(csv).ShouldBe([["x, y", "say \"hi\"", "\""]]);
    }

    [Fact]
    public void Read_QuotedFieldWithLineBreaks_KeepsThemAndCountsLines()
    {
        using var csv = Open("id,note\n1,\"first\nsecond\r\nthird\"\n2,plain\n");

        csv.Read().ShouldBeTrue();
        csv.GetString(1).ShouldBe("first\nsecond\r\nthird");
        csv.LineNumber.ShouldBe(2);
        csv.Read().ShouldBeTrue();
        csv.GetString(1).ShouldBe("plain");
        csv.LineNumber.ShouldBe(5);
        csv.RowNumber.ShouldBe(2);
    }

    [Fact]
    public void Read_UnquotedEmptyIsNull_QuotedEmptyIsEmptyString()
    {
        using var csv = Open("a,b,c,d\n,\"\",x,\n");

        ReadAll(csv).ShouldBe([[null, "", "x", null]]);
    }

    [Fact]
    public void Read_Utf8ByteOrderMark_IsNotPartOfTheFirstColumnName()
    {
        byte[] bytes = [0xEF, 0xBB, 0xBF, .. Encoding.UTF8.GetBytes("id,name\n1,é\n")];
        using var csv = new CsvRowSource(new MemoryStream(bytes), "bom.csv");

        csv.Columns.ShouldBe(["id", "name"]);
        ReadAll(csv).ShouldBe([["1", "é"]]);
    }

    [Fact]
    public void Read_SemicolonDelimiter_SplitsOnSemicolonsOnly()
    {
        using var csv = Open("id;amount\n1;3,14\n2;\"a;b\"\n", new CsvOptions { Delimiter = ';' });

        ReadAll(csv).ShouldBe([["1", "3,14"], ["2", "a;b"]]);
    }

    [Fact]
    public void Read_Latin1File_DecodesAccents()
    {
        using var csv = Open("ville\nS\u00e3o Paulo\nZ\u00fcrich\n", new CsvOptions { Encoding = Encoding.Latin1 }, Encoding.Latin1);

        ReadAll(csv).ShouldBe([["S\u00e3o Paulo"], ["Z\u00fcrich"]]);
    }

    [Fact]
    public void Read_Latin1BytesAsUtf8_IsFormatErrorNamingTheFile()
    {
        using var latin1 = new MemoryStream(Encoding.Latin1.GetBytes("ville\nZ\u00fcrich\n"));

        var error = Should.Throw<IntakeException>(() => ReadAll(new CsvRowSource(latin1, "cities.csv")));

        error.Kind.ShouldBe(ErrorKind.Format);
        error.Message.ShouldContain("cities.csv");
        error.Message.ShouldContain("utf-8");
    }

    [Theory]
    [InlineData("\r\n")]
    [InlineData("\n")]
    [InlineData("\r")]
    public void Read_AnyLineEnding_GivesTheSameRowsAndLines(string newline)
    {
        using var csv = Open(string.Join(newline, "a,b", "1,2", "\"x\",\"y\"", "3,4") + newline);

        ReadAll(csv).ShouldBe([["1", "2"], ["x", "y"], ["3", "4"]]);
        csv.LineNumber.ShouldBe(4);
    }

    [Fact]
    public void Read_LastLineWithoutLineEnd_IsRead()
    {
        using var csv = Open("a,b\n1,2\n3,");

        ReadAll(csv).ShouldBe([["1", "2"], ["3", null]]);
    }

    [Fact]
    public void Read_BlankLines_AreSkippedButCountedAsLines()
    {
        using var csv = Open("a,b\n\n1,2\r\n\r\n3,4\n\n");

        csv.Read().ShouldBeTrue();
        (csv.RowNumber, csv.LineNumber).ShouldBe((1, 3));
        csv.Read().ShouldBeTrue();
        (csv.RowNumber, csv.LineNumber).ShouldBe((2, 5));
        csv.Read().ShouldBeFalse();
    }

    [Fact]
    public void Read_WrongFieldCount_IsFormatErrorNamingSourceLineAndCounts()
    {
        using var csv = Open("a,b,c\n1,2,3\n4,5\n");
        csv.Read().ShouldBeTrue();

        var error = Should.Throw<IntakeException>(() => csv.Read());

        error.Kind.ShouldBe(ErrorKind.Format);
        error.Message.ShouldContain("test.csv");
        error.Message.ShouldContain("line 3");
        error.Message.ShouldContain("expected 3 fields, found 2");
    }

    [Fact]
    public void Read_UnterminatedQuote_IsFormatErrorNamingTheLineWhereItOpens()
    {
        using var csv = Open("a,b\n1,2\n3,\"never closed\n4,5\n");
        csv.Read().ShouldBeTrue();

        var error = Should.Throw<IntakeException>(() => csv.Read());

        error.Kind.ShouldBe(ErrorKind.Format);
        error.Message.ShouldContain("line 3");
        error.Message.ShouldContain("not closed");
    }

    [Fact]
    public void Read_TextAfterClosingQuote_IsFormatError()
    {
        using var csv = Open("a,b\n\"x\"y,2\n");

        Should.Throw<IntakeException>(() => csv.Read()).Kind.ShouldBe(ErrorKind.Format);
    }

    [Fact]
    public void Read_RowLongerThanTheLimitWithinOneBlock_IsFormatError()
    {
        using var csv = Open("a\n" + new string('x', 3000) + "\n", new CsvOptions { MaxRowChars = 2048 });

        Should.Throw<IntakeException>(() => csv.Read()).Message.ShouldContain("2048");
    }

    [Fact]
    public void Read_QuoteInsideUnquotedField_IsKept()
    {
        using var csv = Open("height\n5'11\"\n");

        ReadAll(csv).ShouldBe([["5'11\""]]);
    }

    [Fact]
    public void Read_RowLongerThanTheLimit_IsFormatError()
    {
        // A quote that never closes would swallow the rest of the file into one row.
        using var csv = Open("a\n\"" + string.Concat(Enumerable.Repeat("xxxxxxxxx\n", 30_000)), new CsvOptions { MaxRowChars = 100_000 });

        var error = Should.Throw<IntakeException>(() => csv.Read());

        error.Kind.ShouldBe(ErrorKind.Format);
        error.Message.ShouldContain("line 2");
        error.Message.ShouldContain("100000");
    }

    [Theory]
    [InlineData("id,,name\n1,2,3\n", "column 2 has no name")]
    [InlineData("id,name,ID\n1,2,3\n", "column 3 'ID' repeats column 1")]
    public void Open_BadHeader_IsFormatErrorNamingThePosition(string text, string expected)
    {
        var error = Should.Throw<IntakeException>(() => Open(text));

        error.Kind.ShouldBe(ErrorKind.Format);
        error.Message.ShouldContain(expected);
    }

    [Theory]
    [InlineData("")]
    [InlineData("\uFEFF")]
    [InlineData("\n\r\n")]
    public void Open_NoHeaderRow_IsEmptyErrorNamingTheFile(string text)
    {
        var error = Should.Throw<IntakeException>(() => Open(text));

        error.Kind.ShouldBe(ErrorKind.Empty);
        error.Message.ShouldContain("test.csv");
    }

    [Fact]
    public void Read_HeaderOnly_GivesNoRows()
    {
        using var csv = Open("a,b\n");

        csv.Columns.ShouldBe(["a", "b"]);
        csv.Read().ShouldBeFalse();
    }

    [Fact]
    public void Read_WithoutHeader_FirstLineIsDataAndColumnsAreNumbered()
    {
        using var csv = Open("1,x\n2,y\n", new CsvOptions { HasHeader = false });

        csv.Columns.ShouldBe(["column1", "column2"]);
        ReadAll(csv).ShouldBe([["1", "x"], ["2", "y"]]);
        csv.LineNumber.ShouldBe(2);
    }

    [Fact]
    public void Read_WithoutHeaderAndConfiguredColumns_UsesTheConfiguredNames()
    {
        using var csv = Open("1,x\n", new CsvOptions { HasHeader = false, Columns = ["id", "code"] });

        csv.Columns.ShouldBe(["id", "code"]);
        ReadAll(csv).ShouldBe([["1", "x"]]);
    }

    [Fact]
    public void Read_StreamReturningOneByteAtATime_GivesTheSameRows()
    {
        // Every row, quote pair and CRLF is cut by a block boundary at some point.
        string text = "a,b\r\n\"x\"\"1\",\"line\r\nbreak\"\r\n,\"\"\r\nlast,row";
        using var csv = new CsvRowSource(new ForwardOnlyStream(new MemoryStream(Encoding.UTF8.GetBytes(text)), chunk: 1), "slow.csv");

        ReadAll(csv).ShouldBe([["x\"1", "line\r\nbreak"], [null, ""], ["last", "row"]]);
        csv.LineNumber.ShouldBe(5);
    }

    [Fact]
    public void Read_200kGeneratedRows_StreamsThemAllWithRightValues()
    {
        const int rows = 200_000;
        using var csv = new CsvRowSource(new GeneratedCsvStream(rows), "generated.csv");
        long count = 0;
        long sum = 0;

        while (csv.Read())
        {
            count++;
            long id = long.Parse(csv.GetString(0)!, System.Globalization.CultureInfo.InvariantCulture);
            id.ShouldBe(count);
            sum += id;
            if (id % 997 == 0)
            {
                csv.GetString(2).ShouldBe($"note \"{id}\",\nsecond line");
            }
        }

        count.ShouldBe(rows);
        sum.ShouldBe((long)rows * (rows + 1) / 2);
        csv.LineNumber.ShouldBe(rows + 1 + (rows / 997)); // header + rows + the embedded line breaks
    }

    [Fact]
    public void GetString_BeforeRead_Throws()
    {
        using var csv = Open("a\n1\n");

        Should.Throw<InvalidOperationException>(() => csv.GetString(0));
    }

    [Fact]
    public void Options_WhenInvalid_AreAllReportedAtOnce()
    {
        var error = Should.Throw<ArgumentException>(() => Open("a\n", new CsvOptions { Delimiter = '"', MaxRowChars = 10 }));

        error.Message.ShouldContain("Delimiter");
        error.Message.ShouldContain("MaxRowChars");
    }

    /// <summary>Produces a CSV of <paramref name="rows"/> rows on the fly: nothing is held in memory.</summary>
    private sealed class GeneratedCsvStream(int rows) : Stream
    {
        private readonly StringBuilder _line = new();
        private byte[] _pending = Encoding.UTF8.GetBytes("id,name,note,amount\r\n");
        private int _offset;
        private int _next = 1;

        public override int Read(byte[] buffer, int offset, int count)
        {
            while (_offset == _pending.Length)
            {
                if (_next > rows)
                {
                    return 0;
                }
                _line.Clear();
                int id = _next++;
                _line.Append(id).Append(",name").Append(id).Append(',');
                _line.Append(id % 997 == 0 ? $"\"note \"\"{id}\"\",\nsecond line\"" : $"note {id}");
                _line.Append(',').Append(id * 3).Append(".25\r\n");
                _pending = Encoding.UTF8.GetBytes(_line.ToString());
                _offset = 0;
            }
            int n = Math.Min(count, _pending.Length - _offset);
            Array.Copy(_pending, _offset, buffer, offset, n);
            _offset += n;
            return n;
        }

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
