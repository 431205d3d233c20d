using System.Globalization;
using System.Text;
using System.Text.Json;
using Intake.Core.Errors;
using Intake.Core.Ports;
using Intake.Shared.Json;

namespace Intake.Formats.Json;

/// <summary>
/// Reads newline-delimited JSON objects as rows: one column per top-level key (or per leaf, flattened to dotted keys),
/// in the order given by <see cref="NdjsonColumns"/>, so every file of a load has the same columns.
/// Strings are their text, numbers their JSON text (no float rounding), booleans <c>true</c>/<c>false</c>, null and a
/// missing key null, and objects and arrays their compact JSON text. Blank lines are skipped.
/// </summary>
/// <remarks>
/// A line that is not a JSON object, or holds bytes that are not UTF-8, fails with <see cref="ErrorKind.Format"/>
/// naming the file, the line, the record (the non-blank lines counted from 1) and the byte offset in the file; bytes
/// that are not UTF-8 are never replaced by U+FFFD.
/// </remarks>
public sealed class NdjsonRowSource : IRowSource
{
    private readonly Utf8LineReader _lines;
    private readonly Dictionary<string, int> _ordinals;
    private readonly string?[] _values;
    private readonly bool _flatten;
    private readonly List<KeyValuePair<string, JsonElement>> _leaves = [];

    /// <param name="stream">The decompressed NDJSON; disposed with the source.</param>
    /// <param name="columns">Every column of the load, e.g. from <see cref="NdjsonColumns.ScanAsync(Stream, string, List{string}, bool, CancellationToken)"/>.</param>
    /// <param name="flatten">Nested objects are read as dotted keys (see <see cref="JsonFlattener"/>).</param>
    public NdjsonRowSource(Stream stream, string sourceName, IReadOnlyList<string> columns, bool flatten = false)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(columns);
        _lines = new Utf8LineReader(stream, sourceName);
        _flatten = flatten;
        SourceName = sourceName;
        Columns = columns;
        _ordinals = new Dictionary<string, int>(columns.Count, StringComparer.Ordinal);
        for (var i = 0; i < columns.Count; i++)
        {
            _ordinals.TryAdd(columns[i], i);
        }

        _values = new string?[columns.Count];
    }

    public string SourceName { get; }
    public IReadOnlyList<string> Columns { get; }
    public int FieldCount => _values.Length;
    public long RowNumber { get; private set; }
    public long LineNumber { get; private set; }

    /// <summary>Advances to the next record, blocking on the stream when the buffer runs out; false at the end.</summary>
    public bool Read()
    {
        bool? next;
        while ((next = Next()) is null)
        {
            _lines.Fill();
        }

        return next.Value;
    }

    /// <summary>Advances to the next record; synchronous while its line is buffered, awaiting the stream only to refill.</summary>
    public ValueTask<bool> ReadAsync(CancellationToken cancellationToken) =>
        Next() is { } next ? new ValueTask<bool>(next) : ReadMoreAsync(cancellationToken);

    private async ValueTask<bool> ReadMoreAsync(CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        bool? next;
        do
        {
            await _lines.FillAsync(cancellationToken);
        }
        while ((next = Next()) is null);
        return next.Value;
    }

    /// <summary>Parses the next record out of the buffer: true, false at the end, null when its line is not all buffered.</summary>
    private bool? Next()
    {
        while (true)
        {
            switch (_lines.TryTake(out var line))
            {
                case LineTake.End:
                    return false;
                case LineTake.NeedMore:
                    return null;
            }

            LineNumber = _lines.LineNumber;
            if (NdjsonLines.IsBlank(line.Span))
            {
                continue; // a trailing newline or a blank line holds no record
            }

            Parse(line);
            RowNumber++;
            return true;
        }
    }

    private void Parse(ReadOnlyMemory<byte> line)
    {
        Array.Clear(_values);
        using var doc = NdjsonLines.ParseObject(line, _lines, SourceName, RowNumber + 1);
        NdjsonLines.Members(doc.RootElement, _flatten, _leaves);
        foreach (var (name, value) in _leaves)
        {
            if (!_ordinals.TryGetValue(name, out var ordinal))
            {
                throw IntakeException.Schema($"{SourceName}: line {LineNumber} (record {RowNumber + 1}) has key '{name}', which the column scan did not see; the file changed while it was read");
            }

            _values[ordinal] = Text(value);
        }
    }

    /// <summary>A JSON value as the text a warehouse column receives.</summary>
    public static string? Text(JsonElement value) => JsonText.Of(value);

    public string? GetString(int ordinal) => _values[ordinal];

    public void Dispose() => _lines.Dispose();

    public ValueTask DisposeAsync() => _lines.DisposeAsync();

    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{SourceName} row {RowNumber}");
}

/// <summary>The first pass of a load of NDJSON: every column of every record, in the order they first appear.</summary>
public static class NdjsonColumns
{
    /// <summary>Adds the top-level keys found in <paramref name="stream"/> (decompressed NDJSON) to <paramref name="columns"/>; reads to the end.</summary>
    public static Task<long> ScanAsync(Stream stream, string sourceName, List<string> columns, CancellationToken cancellationToken) =>
        ScanAsync(stream, sourceName, columns, flatten: false, cancellationToken);

    /// <summary>
    /// Adds the columns found in <paramref name="stream"/> (decompressed NDJSON; disposed) to <paramref name="columns"/>,
    /// reading to the end, and returns how many records it holds. With <paramref name="flatten"/> the columns are the
    /// records' leaves as dotted keys.
    /// </summary>
    public static async Task<long> ScanAsync(Stream stream, string sourceName, List<string> columns, bool flatten, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(columns);
        var seen = new HashSet<string>(columns, StringComparer.Ordinal);
        var members = new List<KeyValuePair<string, JsonElement>>();
        await using var lines = new Utf8LineReader(stream, sourceName);
        long records = 0;
        while (await lines.ReadLineAsync(cancellationToken) is { } line)
        {
            if (NdjsonLines.IsBlank(line.Span))
            {
                continue;
            }

            using var doc = NdjsonLines.ParseObject(line, lines, sourceName, records + 1);
            NdjsonLines.Members(doc.RootElement, flatten, members);
            foreach (var (name, _) in members)
            {
                if (seen.Add(name))
                {
                    columns.Add(name);
                }
            }

            records++;
        }

        return records;
    }
}

/// <summary>What the two passes share: a line checked as UTF-8 and parsed as one JSON object, and its members.</summary>
internal static class NdjsonLines
{
    public static bool IsBlank(ReadOnlySpan<byte> line) => line.IndexOfAnyExcept(" \t\r"u8) < 0;

    /// <summary>The line as a JSON object; the document reads <paramref name="line"/> in place, so it is disposed before the next line.</summary>
    public static JsonDocument ParseObject(ReadOnlyMemory<byte> line, Utf8LineReader lines, string sourceName, long record)
    {
        string at = $"{sourceName}: line {lines.LineNumber} (record {record})";
        if (Utf8Check.FirstInvalid(line.Span) is { } bad)
        {
            throw IntakeException.Format(
                $"{at}, byte offset {lines.LineOffset + bad.Index}: {Utf8Check.Describe(line.Span.Slice(bad.Index, bad.Length))} not valid UTF-8, which JSON must be");
        }

        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(line);
        }
        catch (JsonException e)
        {
            long column = (e.BytePositionInLine ?? 0) + 1;
            throw IntakeException.Format($"{at}, byte offset {lines.LineOffset + column - 1}: not valid JSON: {Reason(e)}", e);
        }

        if (doc.RootElement.ValueKind != JsonValueKind.Object)
        {
            var kind = doc.RootElement.ValueKind.ToString().ToLowerInvariant();
            doc.Dispose();
            throw IntakeException.Format($"{at}: is a JSON {kind}, not an object (NDJSON holds one object per line)");
        }

        return doc;
    }

    /// <summary>The parser's reason without its own position suffix (the message gives the file's line and offset).</summary>
    private static string Reason(JsonException e)
    {
        var text = e.Message;
        int at = text.IndexOf(" LineNumber:", StringComparison.Ordinal);
        return (at > 0 ? text[..at] : text).TrimEnd('.', ' ');
    }

    public static void Members(JsonElement record, bool flatten, List<KeyValuePair<string, JsonElement>> into)
    {
        into.Clear();
        if (flatten)
        {
            JsonFlattener.Leaves(record, into);
            return;
        }

        foreach (var p in record.EnumerateObject())
        {
            into.Add(new(p.Name, p.Value));
        }
    }
}
