using System.IO.Compression;
using System.Text.Json;
using System.Runtime.InteropServices;

namespace Intake.Formats.Json;

/// <summary>
/// Writes records as gzipped newline-delimited JSON, one compact record per line, into a stream the caller owns
/// (a temporary file before it is put into a store). Memory stays at one record plus the compressor's window
/// whatever the number of records.
/// </summary>
public sealed class NdjsonPartWriter : IAsyncDisposable
{
    private static readonly byte[] NewLine = "\n"u8.ToArray();
    private readonly GZipStream _gzip;
    private readonly Utf8JsonWriter _json;
    private readonly bool _flatten;

    /// <param name="output">Receives the gzip bytes; left open.</param>
    /// <param name="flatten">Nested objects become dotted keys (see <see cref="JsonFlattener"/>).</param>
    public NdjsonPartWriter(Stream output, bool flatten, CompressionLevel level = CompressionLevel.Fastest)
    {
        _gzip = new GZipStream(output, level, leaveOpen: true);
        // Compact output with no escaping of non-ASCII beyond what JSON needs: a line is a record, always.
        _json = new Utf8JsonWriter(_gzip, new JsonWriterOptions { Indented = false, SkipValidation = false, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
        _flatten = flatten;
    }

    public long Records { get; private set; }

    /// <summary>Appends one record as one line.</summary>
    public ValueTask WriteAsync(JsonElement record, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        // Compression is CPU work into a local file: written synchronously, one record at a time.
        var raw = JsonMarshal.GetRawUtf8Value(record);
        if (!_flatten && raw.IndexOfAny((byte)'\n', (byte)'\r') < 0)
        {
            // Already one line (a newline can only be whitespace between tokens; inside strings it is escaped):
            // the bytes as the API sent them, without parsing them into a writer again.
            _gzip.Write(raw);
        }
        else
        {
            if (_flatten)
            {
                JsonFlattener.Write(record, _json);
            }
            else
            {
                record.WriteTo(_json);
            }

            _json.Flush();
            _json.Reset();
        }

        _gzip.Write(NewLine);
        Records++;
        return ValueTask.CompletedTask;
    }

    /// <summary>Ends the gzip member, so the output is a complete .gz file.</summary>
    public async ValueTask DisposeAsync()
    {
        await _json.DisposeAsync();
        await _gzip.DisposeAsync();
    }
}
