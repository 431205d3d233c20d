using System.Text;
using Intake.Engine.Streams;

namespace Intake.Engine.Tests.Streams;

/// <summary>What a request body becomes in the spool, and what is refused with the record named.</summary>
public sealed class StreamRecordsTests
{
    private static (StreamRecords? Records, List<string> Problems) Parse(string body)
    {
        var problems = new List<string>();
        return (StreamRecords.Parse(Encoding.UTF8.GetBytes(body), problems), problems);
    }

    private static string Text(StreamRecords records) => Encoding.UTF8.GetString(records.Lines.Span);

    [Fact]
    public void Ndjson_EachRecordIsOneLine_BlankLinesAndCarriageReturnsDropped()
    {
        var (records, problems) = Parse("{\"id\":1}\r\n\n  {\"id\": 2, \"name\": \"a b\"}  \n{\"id\":3}");

        problems.ShouldBeEmpty();
        records!.Count.ShouldBe(3);
        Text(records).ShouldBe("{\"id\":1}\n{\"id\": 2, \"name\": \"a b\"}\n{\"id\":3}\n");
    }

    [Fact]
    public void JsonArray_PrettyPrinted_EachRecordOnOneLine_WithItsTokensAsSent()
    {
        var (records, problems) = Parse("""
            [
              {"id": 1, "name": "two\nlines \u00e9", "n": 1.50},
              {
                "id": 2,
                "tags": [ "a" , "b" ]
              }
            ]
            """);

        problems.ShouldBeEmpty();
        records!.Count.ShouldBe(2);
        // A record already on one line is kept as it is; one spread over lines loses only the whitespace between its tokens.
        Text(records).ShouldBe("{\"id\": 1, \"name\": \"two\\nlines \\u00e9\", \"n\": 1.50}\n{\"id\":2,\"tags\":[\"a\",\"b\"]}\n");
    }

    [Fact]
    public void Ndjson_BadRecords_AreEachNamedByLineAndRecord_AndNothingIsKept()
    {
        var (records, problems) = Parse("{\"id\":1}\n\nnot json\n[1]\n{\"a\":\"\\u0000\"}\n{\"b\":1} x\n{\"c\":\"\uD800\"}\n{\"d\":\"\\udc00\"}\n");

        records.ShouldBeNull();
        problems.Count.ShouldBe(5);
        problems[0].ShouldStartWith("line 3 (record 2): not valid JSON at byte 2");
        problems[1].ShouldBe("line 4 (record 3): is a JSON array, not an object (each record is one JSON object)");
        problems[2].ShouldStartWith("line 5 (record 4): has \\u0000 in a string at byte 6, which PostgreSQL cannot store");
        problems[3].ShouldStartWith("line 6 (record 5): not valid JSON at byte 9 ('x' is invalid after a single JSON value");
        problems[4].ShouldStartWith("line 8 (record 7): has a string that is not valid text (an unpaired");
    }

    [Fact]
    public void Ndjson_BytesThatAreNotUtf8_AreNamedByTheirOffsetInTheRecord()
    {
        var problems = new List<string>();
        StreamRecords.Parse((byte[])[.. "{\"a\":\"x"u8, 0xFF, .. "\"}\n"u8], problems).ShouldBeNull();

        problems.ShouldHaveSingleItem().ShouldBe("line 1 (record 1): byte 8: byte 0xFF is not valid UTF-8, which JSON must be");
    }

    [Fact]
    public void JsonArray_BadItems_AreNamedByIndex()
    {
        var (records, problems) = Parse("[{\"id\":1}, 2, \"x\", {\"id\": [1,2}]");

        records.ShouldBeNull();
        problems.ShouldBe([
            "item 2: is a JSON number, not an object (each record is one JSON object)",
            "item 3: is a JSON string, not an object (each record is one JSON object)",
            "item 4: not valid JSON at line 1, byte 31 of the body ('}' is invalid without a matching open)",
        ]);
    }

    [Fact]
    public void JsonArray_FollowedByMore_IsRefused()
    {
        var (_, problems) = Parse("[{\"id\":1}] {\"id\":2}");

        problems.ShouldHaveSingleItem().ShouldStartWith("after the array: not valid JSON at line 1, byte 12 of the body");
    }

    [Theory]
    [InlineData("")]
    [InlineData(" \n\r\n")]
    [InlineData("[]")]
    public void Body_WithoutRecords_IsRefused(string body) =>
        Parse(body).Problems.ShouldHaveSingleItem().ShouldContain("holds no records");

    [Fact]
    public void ManyBadRecords_AreListedUpToALimit_ThenCounted()
    {
        var (_, problems) = Parse(string.Concat(Enumerable.Repeat("x\n", 50)));

        problems.Count.ShouldBe(StreamRecords.MaxProblems + 1);
        problems[^1].ShouldContain("more records are refused");
    }

    [Fact]
    public void FromValues_OneRecordPerValue_AsAKafkaConsumerWouldHandThemOver()
    {
        var problems = new List<string>();
        var records = StreamRecords.FromValues(["{\"id\":1}"u8.ToArray(), "{\n \"id\": 2\n}"u8.ToArray()], problems);

        problems.ShouldBeEmpty();
        Text(records!).ShouldBe("{\"id\":1}\n{\"id\":2}\n");

        StreamRecords.FromValues(["{\"id\":1}"u8.ToArray(), "oops"u8.ToArray()], problems).ShouldBeNull();
        problems.ShouldHaveSingleItem().ShouldStartWith("record 2: not valid JSON");
    }
}
