using System.IO.Compression;
using System.Text;
using System.Text.Json;
using Intake.Core.Errors;
using Intake.Formats.Json;

namespace Intake.Formats.Tests.Json;

public sealed class NdjsonTests
{
    private static async Task<byte[]> WriteAsync(bool flatten, params string[] records)
    {
        using var buffer = new MemoryStream();
        await using (var writer = new NdjsonPartWriter(buffer, flatten))
        {
            foreach (var r in records)
            {
                using var doc = JsonDocument.Parse(r);
                await writer.WriteAsync(doc.RootElement, default);
            }
        }

        return buffer.ToArray();
    }

    private static string Unzip(byte[] gz)
    {
        using var s = new GZipStream(new MemoryStream(gz), CompressionMode.Decompress);
        using var r = new StreamReader(s);
        return r.ReadToEnd();
    }

    [Fact]
    public async Task Write_PrettyPrintedRecords_OneCompactLineEach()
    {
        var text = Unzip(await WriteAsync(false, "{\n  \"id\": 1,\n  \"note\": \"a\\nb\"\n}", "{\"id\": 2, \"name\": \"Zoë\"}"));

        text.ShouldBe("{\"id\":1,\"note\":\"a\\nb\"}\n{\"id\": 2, \"name\": \"Zoë\"}\n"); // a one-line record keeps its bytes
    }

    [Fact]
    public async Task Write_Flattened_NestedObjectsBecomeDottedKeysAndArraysStay()
    {
        var text = Unzip(await WriteAsync(true, """{"id":1,"customer":{"id":"c1","address":{"city":"Oslo"}},"tags":["a",{"x":1}],"empty":{},"n":null}"""));

        text.ShouldBe("{\"id\":1,\"customer.id\":\"c1\",\"customer.address.city\":\"Oslo\",\"tags\":[\"a\",{\"x\":1}],\"empty\":{},\"n\":null}\n");
    }

    [Fact]
    public async Task Read_PartsWithDifferentKeys_GivesEveryColumnAndNullsForMissingKeys()
    {
        var first = Unzip(await WriteAsync(false, """{"id":1,"amount":12.50,"ok":true}"""));
        var second = Unzip(await WriteAsync(false, """{"id":2,"meta":{"k":"v"},"ok":false}""", """{"id":3,"amount":null}"""));
        var columns = new List<string>();
        await NdjsonColumns.ScanAsync(new MemoryStream(Encoding.UTF8.GetBytes(first)), "a", columns, default);
        await NdjsonColumns.ScanAsync(new MemoryStream(Encoding.UTF8.GetBytes(second)), "b", columns, default);

        columns.ShouldBe(["id", "amount", "ok", "meta"]);
        using var rows = new NdjsonRowSource(new MemoryStream(Encoding.UTF8.GetBytes(second)), "b", columns);
        rows.Read().ShouldBeTrue();
        Enumerable.Range(0, 4).Select(rows.GetString).ShouldBe(["2", null, "false", "{\"k\":\"v\"}"]);
        rows.Read().ShouldBeTrue();
        Enumerable.Range(0, 4).Select(rows.GetString).ShouldBe(["3", null, null, null]);
        rows.RowNumber.ShouldBe(2);
        rows.Read().ShouldBeFalse();
    }

    [Fact]
    public void Read_NumbersKeepTheirExactText()
    {
        using var rows = new NdjsonRowSource(new MemoryStream("{\"v\":0.1000000000000000055511151231257827}\n"u8.ToArray()), "n", ["v"]);

        rows.Read().ShouldBeTrue();
        rows.GetString(0).ShouldBe("0.1000000000000000055511151231257827");
    }

    [Fact]
    public void Read_ALineThatIsNotJson_FailsAsFormatWithItsLine()
    {
        using var rows = new NdjsonRowSource(new MemoryStream("{\"id\":1}\n\n{\"id\": oops}\n"u8.ToArray()), "part-1", ["id"]);

        rows.Read().ShouldBeTrue();
        var e = Should.Throw<IntakeException>(() => rows.Read());
        e.Kind.ShouldBe(ErrorKind.Format);
        e.Message.ShouldContain("part-1: line 3");
    }
}
