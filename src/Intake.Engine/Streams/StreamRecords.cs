using System.Buffers;
using System.Globalization;
using System.Text.Json;
using Intake.Shared.Json;

namespace Intake.Engine.Streams;

/// <summary>
/// Records checked and ready for a stream's spool: each one JSON object on one line, ending in '\n' (NDJSON), so
/// the spool appends them as they are and a batch file is the lines of its records. Built only by <see cref="Parse"/>
/// (a request body) or <see cref="FromValues"/> (one value per record, e.g. Kafka messages), which refuse the whole
/// set when one record is bad: a client learns which records to fix, and nothing of a refused set is ever kept.
/// </summary>
/// <remarks>
/// A record must be what the pipeline's NDJSON reader will take, checked here rather than when the batch is loaded
/// (where one bad record would fail the load of all the batch's records): UTF-8, one JSON object, nested at most 64
/// deep; and every string valid text without <c>\u0000</c>, which PostgreSQL cannot store.
/// </remarks>
public sealed class StreamRecords
{
    /// <summary>Problems listed in one answer; the rest are counted.</summary>
    public const int MaxProblems = 20;

    /// <summary>The NDJSON reader's nesting limit (JsonDocument's default).</summary>
    private const int MaxDepth = 64;

    private StreamRecords(ReadOnlyMemory<byte> lines, int count)
    {
        Lines = lines;
        Count = count;
    }

    /// <summary>The records, one per line, each line ending in '\n'.</summary>
    public ReadOnlyMemory<byte> Lines { get; }

    /// <summary>How many records (lines).</summary>
    public int Count { get; }

    /// <summary>
    /// Reads a request body: a JSON array of objects (it starts with '['), or NDJSON, one object per line (blank lines
    /// are skipped, a line may end in "\r\n"). Null when the body is refused; then <paramref name="problems"/> says
    /// why, naming each bad record by its line (NDJSON) or item (array), at most <see cref="MaxProblems"/>.
    /// </summary>
    public static StreamRecords? Parse(ReadOnlyMemory<byte> body, List<string> problems)
    {
        ArgumentNullException.ThrowIfNull(problems);
        var span = body.Span;
        var bom = span.StartsWith("\uFEFF"u8) ? 3 : 0;
        var first = span[bom..].IndexOfAnyExcept(" \t\r\n"u8);
        if (first < 0)
        {
            problems.Add("the body holds no records; send NDJSON (one JSON object per line) or a JSON array of objects");
            return null;
        }

        var output = new ArrayBufferWriter<byte>(body.Length + 16);
        var count = span[bom + first] == (byte)'['
            ? ReadArray(span[bom..], output, problems)
            : ReadLines(span[bom..], output, problems);
        if (problems.Count == 0 && count == 0)
        {
            problems.Add("the body holds no records: the array is empty");
        }

        return problems.Count > 0 ? null : new StreamRecords(output.WrittenMemory, count);
    }

    /// <summary>
    /// Records from separate values, one record each (the messages of a Kafka topic, say); null when one is refused,
    /// with <paramref name="problems"/> naming it by its position (from 1).
    /// </summary>
    public static StreamRecords? FromValues(IEnumerable<ReadOnlyMemory<byte>> values, List<string> problems)
    {
        ArgumentNullException.ThrowIfNull(values);
        ArgumentNullException.ThrowIfNull(problems);
        var output = new ArrayBufferWriter<byte>();
        var count = 0;
        var index = 0;
        foreach (var value in values)
        {
            index++;
            var trimmed = Flat(Trim(value.Span));
            if (Problem(trimmed) is { } problem)
            {
                Add(problems, $"record {Number(index)}: {problem}");
                continue;
            }

            count++;
            Append(output, trimmed);
        }

        if (problems.Count == 0 && count == 0)
        {
            problems.Add("no records");
        }

        return problems.Count > 0 ? null : new StreamRecords(output.WrittenMemory, count);
    }

    /// <summary>Why one record (a trimmed line, or one value) cannot be kept, or null when it can.</summary>
    internal static string? Problem(ReadOnlySpan<byte> record)
    {
        if (Utf8Check.FirstInvalid(record) is { } bad)
        {
            return $"byte {Number(bad.Index + 1)}: {Utf8Check.Describe(record.Slice(bad.Index, bad.Length))} not valid UTF-8, which JSON must be";
        }

        var reader = new Utf8JsonReader(record, new JsonReaderOptions { MaxDepth = MaxDepth });
        try
        {
            if (!reader.Read())
            {
                return "is empty";
            }

            if (reader.TokenType != JsonTokenType.StartObject)
            {
                return $"is a JSON {Kind(reader.TokenType)}, not an object (each record is one JSON object)";
            }

            // Reading to the end checks the syntax, the depth, and that nothing follows the object on the line.
            while (reader.Read())
            {
                if (reader.TokenType is JsonTokenType.String or JsonTokenType.PropertyName && reader.ValueIsEscaped && TextProblem(ref reader) is { } text)
                {
                    return text;
                }
            }

            return null;
        }
        catch (JsonException e)
        {
            return $"not valid JSON at byte {Number((e.BytePositionInLine ?? 0) + 1)} ({Reason(e)})";
        }
    }

    /// <summary>Only escaped strings can hide <c>\u0000</c> or an unpaired surrogate: plain ones are checked by the parser and the UTF-8 check.</summary>
    private static string? TextProblem(ref Utf8JsonReader reader)
    {
        string text;
        try
        {
            text = reader.GetString()!;
        }
        catch (InvalidOperationException)
        {
            return $"has a {(reader.TokenType == JsonTokenType.PropertyName ? "property name" : "string")} that is not valid text (an unpaired \\uD800-\\uDFFF escape) at byte {Number(reader.TokenStartIndex + 1)}";
        }

        return text.Contains('\0', StringComparison.Ordinal)
            ? $"has \\u0000 in a {(reader.TokenType == JsonTokenType.PropertyName ? "property name" : "string")} at byte {Number(reader.TokenStartIndex + 1)}, which PostgreSQL cannot store; remove the character"
            : null;
    }

    private static int ReadLines(ReadOnlySpan<byte> body, ArrayBufferWriter<byte> output, List<string> problems)
    {
        var count = 0;
        var line = 0;
        var record = 0;
        var position = 0;
        while (position < body.Length)
        {
            var end = body[position..].IndexOf((byte)'\n');
            var text = end < 0 ? body[position..] : body.Slice(position, end);
            position = end < 0 ? body.Length : position + end + 1;
            line++;
            var trimmed = Trim(text);
            if (trimmed.IsEmpty)
            {
                continue; // a blank line, or the newline after the last record
            }

            record++;
            if (Problem(trimmed) is { } problem)
            {
                Add(problems, $"line {Number(line)} (record {Number(record)}): {problem}");
                continue;
            }

            count++;
            if (problems.Count == 0)
            {
                Append(output, trimmed);
            }
        }

        return count;
    }

    private static int ReadArray(ReadOnlySpan<byte> body, ArrayBufferWriter<byte> output, List<string> problems)
    {
        var reader = new Utf8JsonReader(body, new JsonReaderOptions { MaxDepth = MaxDepth + 1 });
        var count = 0;
        var item = 0;
        try
        {
            reader.Read(); // '['
            while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
            {
                item++;
                var start = (int)reader.TokenStartIndex;
                var kind = reader.TokenType;
                if (kind is JsonTokenType.StartObject or JsonTokenType.StartArray)
                {
                    reader.Skip();
                }

                var value = Flat(body[start..(int)reader.BytesConsumed]);
                var problem = kind == JsonTokenType.StartObject ? Problem(value) : $"is a JSON {Kind(kind)}, not an object (each record is one JSON object)";
                if (problem is not null)
                {
                    Add(problems, $"item {Number(item)}: {problem}");
                    continue;
                }

                count++;
                if (problems.Count == 0)
                {
                    Append(output, value);
                }
            }

            // Nothing may follow the array: the reader refuses a second value.
            item = -1;
            while (reader.Read())
            {
            }
        }
        catch (JsonException e)
        {
            var where = item switch { > 0 => $"item {Number(item)}: ", < 0 => "after the array: ", _ => "" };
            Add(problems, $"{where}not valid JSON at line {Number((e.LineNumber ?? 0) + 1)}, byte {Number((e.BytePositionInLine ?? 0) + 1)} of the body ({Reason(e)})");
        }

        return count;
    }

    /// <summary>
    /// A record written over several lines (a pretty-printed array), on one line: the whitespace between tokens
    /// dropped, every token exactly as the client sent it (a string's escapes, a number's text).
    /// </summary>
    private static ReadOnlySpan<byte> Flat(ReadOnlySpan<byte> value)
    {
        if (value.IndexOfAny((byte)'\n', (byte)'\r') < 0)
        {
            return value;
        }

        var flat = new byte[value.Length];
        var length = 0;
        var inString = false;
        for (var i = 0; i < value.Length; i++)
        {
            var b = value[i];
            if (inString)
            {
                flat[length++] = b;
                if (b == (byte)'\\' && i + 1 < value.Length)
                {
                    flat[length++] = value[++i];
                }
                else if (b == (byte)'"')
                {
                    inString = false;
                }
            }
            else if (b is not ((byte)' ' or (byte)'\t' or (byte)'\r' or (byte)'\n'))
            {
                flat[length++] = b;
                inString = b == (byte)'"';
            }
        }

        return flat.AsSpan(0, length);
    }

    private static void Append(ArrayBufferWriter<byte> output, ReadOnlySpan<byte> record)
    {
        var span = output.GetSpan(record.Length + 1);
        record.CopyTo(span);
        span[record.Length] = (byte)'\n';
        output.Advance(record.Length + 1);
    }

    private static ReadOnlySpan<byte> Trim(ReadOnlySpan<byte> text) => text.Trim(" \t\r"u8);

    private static void Add(List<string> problems, string problem)
    {
        if (problems.Count < MaxProblems)
        {
            problems.Add(problem);
        }
        else if (problems.Count == MaxProblems)
        {
            problems.Add("more records are refused; fix the ones above and send the body again");
        }
    }

    private static string Kind(JsonTokenType token) => token switch
    {
        JsonTokenType.StartArray => "array",
        JsonTokenType.String => "string",
        JsonTokenType.Number => "number",
        JsonTokenType.True or JsonTokenType.False => "boolean",
        JsonTokenType.Null => "null",
        _ => "value",
    };

    /// <summary>The parser's reason without its own position suffix (the message gives the line and byte).</summary>
    private static string Reason(JsonException e)
    {
        var text = e.Message;
        var at = text.IndexOf(" LineNumber:", StringComparison.Ordinal);
        return (at > 0 ? text[..at] : text).TrimEnd('.', ' ');
    }

    private static string Number(long n) => n.ToString(CultureInfo.InvariantCulture);
}
