using System.Globalization;
using System.Text;
using System.Text.Json;
using Intake.Core.Errors;
using Intake.Core.Ports;

namespace Intake.Formats.Json;

/// <summary>
/// Reads newline-delimited JSON objects as rows: one column per top-level key (dotted keys of a flattened record
/// included), in the order given by <see cref="NdjsonColumns"/>, so every part of a load has the same columns.
/// Strings are their text, numbers their JSON text (no float rounding), booleans <c>true</c>/<c>false</c>, null and a
/// missing key null, and objects and arrays their compact JSON text. A line that is not a JSON object fails with
/// <see cref="ErrorKind.Format"/> and its line number.
/// </summary>
public sealed class NdjsonRowSource : IRowSource
{
    private readonly StreamReader _reader;
    private readonly Dictionary<string, int> _ordinals;
    private readonly string?[] _values;

    /// <param name="stream">The decompressed NDJSON; disposed with the source.</param>
    /// <param name="columns">Every column of the load, e.g. from <see cref="NdjsonColumns.ScanAsync"/>.</param>
    public NdjsonRowSource(Stream stream, string sourceName, IReadOnlyList<string> columns)
    {
        ArgumentNullException.ThrowIfNull(columns);
        _reader = new StreamReader(stream, new UTF8Encoding(false, throwOnInvalidBytes: true));
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

    public bool Read()
    {
        while (true)
        {
            string? line;
            try
            {
                line = _reader.ReadLine();
            }
            catch (DecoderFallbackException e)
            {
                throw IntakeException.Format($"{SourceName}: line {LineNumber + 1} is not UTF-8", e);
            }

            if (line is null)
            {
                return false;
            }

            LineNumber++;
            if (string.IsNullOrWhiteSpace(line))
            {
                continue; // a trailing newline or a blank line holds no record
            }

            Parse(line);
            RowNumber++;
            return true;
        }
    }

    private void Parse(string line)
    {
        Array.Clear(_values);
        try
        {
            using var doc = JsonDocument.Parse(line);
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
            {
                throw IntakeException.Format($"{SourceName}: line {LineNumber} is a JSON {doc.RootElement.ValueKind.ToString().ToLowerInvariant()}, not an object");
            }

            foreach (var p in doc.RootElement.EnumerateObject())
            {
                if (!_ordinals.TryGetValue(p.Name, out var ordinal))
                {
                    throw IntakeException.Schema($"{SourceName}: line {LineNumber} has key '{p.Name}', which the column scan did not see; the file changed while it was read");
                }

                _values[ordinal] = Text(p.Value);
            }
        }
        catch (JsonException e)
        {
            throw IntakeException.Format($"{SourceName}: line {LineNumber} is not valid JSON: {e.Message}", e);
        }
    }

    /// <summary>A JSON value as the text a warehouse column receives.</summary>
    public static string? Text(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.String => value.GetString(),
        JsonValueKind.Number => value.GetRawText(),
        JsonValueKind.True => "true",
        JsonValueKind.False => "false",
        JsonValueKind.Null or JsonValueKind.Undefined => null,
        _ => Compact(value),
    };

    private static string Compact(JsonElement value)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer))
        {
            value.WriteTo(w);
        }

        return Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length);
    }

    public string? GetString(int ordinal) => _values[ordinal];

    public void Dispose() => _reader.Dispose();

    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{SourceName} row {RowNumber}");
}

/// <summary>The first pass of a load of NDJSON: every top-level key of every record, in the order keys first appear.</summary>
public static class NdjsonColumns
{
    /// <summary>Adds the keys found in <paramref name="stream"/> (decompressed NDJSON) to <paramref name="columns"/>; reads to the end.</summary>
    public static async Task ScanAsync(Stream stream, string sourceName, List<string> columns, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(columns);
        var seen = new HashSet<string>(columns, StringComparer.Ordinal);
        using var reader = new StreamReader(stream, new UTF8Encoding(false, throwOnInvalidBytes: true));
        long lineNumber = 0;
        while (await reader.ReadLineAsync(cancellationToken) is { } line)
        {
            lineNumber++;
            if (string.IsNullOrWhiteSpace(line))
            {
                continue;
            }

            try
            {
                using var doc = JsonDocument.Parse(line);
                if (doc.RootElement.ValueKind != JsonValueKind.Object)
                {
                    throw IntakeException.Format($"{sourceName}: line {lineNumber} is not a JSON object");
                }

                foreach (var p in doc.RootElement.EnumerateObject())
                {
                    if (seen.Add(p.Name))
                    {
                        columns.Add(p.Name);
                    }
                }
            }
            catch (JsonException e)
            {
                throw IntakeException.Format($"{sourceName}: line {lineNumber} is not valid JSON: {e.Message}", e);
            }
        }
    }
}
