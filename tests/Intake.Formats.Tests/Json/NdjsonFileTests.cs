using System.Text;
using Intake.Core.Errors;
using Intake.Formats.Json;
using Intake.Formats.Tests.Archives;

namespace Intake.Formats.Tests.Json;

/// <summary>NDJSON read as data files: UTF-8 checked byte by byte, bad lines located, nested records flattened.</summary>
public sealed class NdjsonFileTests
{
    private static List<string?[]> ReadAll(byte[] bytes, IReadOnlyList<string> columns, bool flatten = false, int chunk = 4096)
    {
        using var rows = new NdjsonRowSource(new ForwardOnlyStream(new MemoryStream(bytes), chunk), "f.ndjson", columns, flatten);
        var result = new List<string?[]>();
        while (rows.Read())
        {
            result.Add(Enumerable.Range(0, rows.FieldCount).Select(rows.GetString).ToArray());
        }

        return result;
    }

    [Theory]
    [InlineData(4096)]
    [InlineData(1)]
    public void Read_InvalidUtf8_IsFormatErrorWithLineRecordOffsetAndBytes_NeverReplaced(int chunk)
    {
        byte[] bytes = [.. "{\"id\":1}\n\n{\"id\":2,\"name\":\"x"u8, 0xED, 0xA0, 0x80, .. "\"}\n"u8];

        var e = Should.Throw<IntakeException>(() => ReadAll(bytes, ["id", "name"], chunk: chunk));

        e.Kind.ShouldBe(ErrorKind.Format);
        // ED A0 80 would be a surrogate (U+D800), which UTF-8 may not encode.
        e.Message.ShouldBe("f.ndjson: line 3 (record 2), byte offset 27: byte 0xED is not valid UTF-8, which JSON must be");
    }

    [Fact]
    public void Read_BadJson_NamesLineRecordOffsetAndTheParsersReasonWithoutItsOwnPosition()
    {
        var e = Should.Throw<IntakeException>(() => ReadAll("{\"id\":1}\n{\"id\": tru}\n"u8.ToArray(), ["id"]));

        e.Kind.ShouldBe(ErrorKind.Format);
        e.Message.ShouldStartWith("f.ndjson: line 2 (record 2), byte offset ");
        e.Message.ShouldContain(": not valid JSON: ");
        e.Message.ShouldNotContain("LineNumber");
        e.Message.ShouldNotContain("Exception");
    }

    [Fact]
    public void Read_ByteOrderMarkCrlfAndALastLineWithoutBreak_AreRead()
    {
        ReadAll([.. "\uFEFF"u8, .. "{\"id\":1}\r\n{\"id\":2}"u8], ["id"]).ShouldBe([["1"], ["2"]]);
    }

    [Fact]
    public async Task ScanAndRead_Flattened_GiveOneColumnPerLeaf()
    {
        var bytes = Encoding.UTF8.GetBytes("""
            {"id":1,"customer":{"name":"Zoë","address":{"city":"Oslo"}},"tags":["a"],"empty":{}}
            {"id":2,"customer":{"name":null}}
            """);
        var columns = new List<string>();

        var records = await NdjsonColumns.ScanAsync(new MemoryStream(bytes), "f.ndjson", columns, flatten: true, default);

        records.ShouldBe(2);
        columns.ShouldBe(["id", "customer.name", "customer.address.city", "tags", "empty"]);
        ReadAll(bytes, columns, flatten: true).ShouldBe([["1", "Zoë", "Oslo", "[\"a\"]", "{}"], ["2", null, null, null, null]]);
    }

    [Fact]
    public async Task Scan_InvalidUtf8_FailsLikeTheRead()
    {
        var e = await Should.ThrowAsync<IntakeException>(() => NdjsonColumns.ScanAsync(new MemoryStream([.. "{\"a\":\""u8, 0xFF, .. "\"}"u8]), "f.ndjson", [], flatten: false, default));

        e.Message.ShouldBe("f.ndjson: line 1 (record 1), byte offset 6: byte 0xFF is not valid UTF-8, which JSON must be");
    }
}
