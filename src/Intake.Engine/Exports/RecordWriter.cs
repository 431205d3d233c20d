using System.Buffers;
using System.Data.Common;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Intake.Sources.Database;

namespace Intake.Engine.Exports;

/// <summary>
/// Turns data-reader rows into NDJSON or CSV lines. Each row is encoded into a private buffer first and only then
/// appended to the output, so a row that cannot be encoded (a NaN, an infinite number, a value the driver cannot
/// convert) is left out whole and reported, never half-written.
/// </summary>
internal abstract class RecordWriter : IDisposable
{
    protected RecordWriter(DbDataReader reader)
    {
        Names = Enumerable.Range(0, reader.FieldCount).Select(reader.GetName).ToArray();
    }

    protected string[] Names { get; }

    public static RecordWriter For(string format, DbDataReader reader) => format switch
    {
        "csv" => new CsvRecordWriter(reader),
        _ => new NdjsonRecordWriter(reader),
    };

    /// <summary>What starts every object (the CSV header); empty for NDJSON.</summary>
    public abstract ReadOnlyMemory<byte> Header { get; }

    /// <summary>Encodes the reader's current row, newline included. Throws when a value cannot be read or encoded.</summary>
    public abstract ReadOnlyMemory<byte> Encode(DbDataReader reader);

    public void Dispose()
    {
        Dispose(true);
        GC.SuppressFinalize(this);
    }

    protected virtual void Dispose(bool disposing)
    {
    }

    /// <summary>Exceptions that mean "this row", not "this connection": the row is reported as failed and the export goes on.</summary>
    public static bool IsRowFailure(Exception e) =>
        e is InvalidCastException or OverflowException or ArgumentException or FormatException or NotSupportedException;
}

internal sealed class NdjsonRecordWriter : RecordWriter
{
    private readonly JsonEncodedText[] _names;
    private readonly ArrayBufferWriter<byte> _buffer = new(1024);
    private readonly Utf8JsonWriter _json;

    public NdjsonRecordWriter(DbDataReader reader)
        : base(reader)
    {
        _names = Names.Select(n => JsonEncodedText.Encode(n)).ToArray();
        _json = new Utf8JsonWriter(_buffer, new JsonWriterOptions { SkipValidation = false });
    }

    public override ReadOnlyMemory<byte> Header => ReadOnlyMemory<byte>.Empty;

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _json.Dispose();
        }

        base.Dispose(disposing);
    }

    public override ReadOnlyMemory<byte> Encode(DbDataReader reader)
    {
        _buffer.ResetWrittenCount();
        _json.Reset(_buffer);
        _json.WriteStartObject();
        for (var i = 0; i < _names.Length; i++)
        {
            _json.WritePropertyName(_names[i]);
            if (reader.IsDBNull(i))
            {
                _json.WriteNullValue();
                continue;
            }

            switch (reader.GetValue(i))
            {
                case string s: _json.WriteStringValue(s); break;
                case long l: _json.WriteNumberValue(l); break;
                case int n: _json.WriteNumberValue(n); break;
                case short n: _json.WriteNumberValue(n); break;
                case byte n: _json.WriteNumberValue(n); break;
                case decimal m: _json.WriteNumberValue(m); break;
                // NaN and infinities are not JSON: the writer throws ArgumentException and the row fails.
                case double d: _json.WriteNumberValue(d); break;
                case float f: _json.WriteNumberValue(f); break;
                case bool b: _json.WriteBooleanValue(b); break;
                case DateTime t: _json.WriteStringValue(t); break;
                case DateTimeOffset t: _json.WriteStringValue(t); break;
                case Guid g: _json.WriteStringValue(g); break;
                case byte[] bytes: _json.WriteBase64StringValue(bytes); break;
                case var other: _json.WriteStringValue(SourceDatabase.Text(other)); break;
            }
        }

        _json.WriteEndObject();
        _json.Flush();
        _buffer.Write("\n"u8);
        return _buffer.WrittenMemory;
    }
}

internal sealed class CsvRecordWriter : RecordWriter
{
    private readonly StringBuilder _line = new(256);
    private byte[] _bytes = new byte[1024];

    public CsvRecordWriter(DbDataReader reader)
        : base(reader)
    {
        Header = Encoding.UTF8.GetBytes(string.Join(',', Names.Select(Quote)) + "\n");
    }

    public override ReadOnlyMemory<byte> Header { get; }

    public override ReadOnlyMemory<byte> Encode(DbDataReader reader)
    {
        _line.Clear();
        for (var i = 0; i < Names.Length; i++)
        {
            if (i > 0)
            {
                _line.Append(',');
            }

            if (reader.IsDBNull(i))
            {
                continue; // empty field: NULL
            }

            var text = reader.GetValue(i) switch
            {
                string s => s,
                bool b => b ? "true" : "false",
                DateTime t => t.ToString("O", CultureInfo.InvariantCulture),
                DateTimeOffset t => t.ToString("O", CultureInfo.InvariantCulture),
                byte[] bytes => Convert.ToBase64String(bytes),
                var other => SourceDatabase.Text(other),
            };
            _line.Append(Quote(text));
        }

        _line.Append('\n');
        var needed = Encoding.UTF8.GetMaxByteCount(_line.Length);
        if (_bytes.Length < needed)
        {
            _bytes = new byte[Math.Max(needed, _bytes.Length * 2)];
        }

        var count = Encoding.UTF8.GetBytes(_line.ToString(), _bytes);
        return _bytes.AsMemory(0, count);
    }

    /// <summary>RFC 4180: quoted when it holds a comma, a quote, a line break or edge spaces; quotes doubled.</summary>
    private static string Quote(string value) =>
        value.AsSpan().IndexOfAny(",\"\r\n") >= 0 || (value.Length > 0 && (value[0] == ' ' || value[^1] == ' '))
            ? "\"" + value.Replace("\"", "\"\"", StringComparison.Ordinal) + "\""
            : value;
}
