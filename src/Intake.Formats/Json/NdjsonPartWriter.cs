using System.IO.Compression;
using System.Text.Json;
using System.Runtime.InteropServices;

namespace Intake.Formats.Json;

/// <summary>
/// Writes records as gzipped newline-delimited JSON, one compact record per line, into a stream the caller owns
/// (a temporary file before it is put into a store). Memory stays at one record plus the compressor's window
/// whatever the number of records.
/// <para>
/// <see cref="EndMember"/> closes the current gzip member, so the bytes written so far are a complete gzip file that a
/// resumed writer can append to: concatenated members are one valid gzip file (RFC 1952, 2.2), read as one by
/// <see cref="GZipStream"/>, <c>gzip -dc</c> and the archive expander.
/// </para>
/// </summary>
public sealed class NdjsonPartWriter : IAsyncDisposable
{
    private static readonly byte[] NewLine = "\n"u8.ToArray();
    private readonly Stream _output;
    private readonly CompressionLevel _level;
    private readonly Utf8JsonWriter _json;
    private readonly bool _flatten;
    // Null between EndMember and the next record: the next member starts only when there is something to put in it.
    private GZipStream? _gzip;

    /// <param name="output">Receives the gzip bytes; left open.</param>
    /// <param name="flatten">Nested objects become dotted keys (see <see cref="JsonFlattener"/>).</param>
    public NdjsonPartWriter(Stream output, bool flatten, CompressionLevel level = CompressionLevel.Fastest)
    {
        _output = output;
        _level = level;
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
        if (_gzip is null)
        {
            _gzip = new GZipStream(_output, _level, leaveOpen: true);
            _json.Reset(_gzip);
        }

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

    /// <summary>
    /// Ends the current gzip member: every record written so far is then in the output as complete gzip data (the
    /// caller flushes its own stream). The next record starts a new member. Each member costs its header, trailer and
    /// a fresh compression window, so call it per batch (a page), not per record.
    /// </summary>
    public void EndMember()
    {
        if (_gzip is null)
        {
            return;
        }

        _json.Flush();
        _gzip.Dispose(); // leaveOpen: writes the final block and the trailer into the output only
        _gzip = null;
        _json.Reset(Stream.Null); // never flushes into the closed member
    }

    /// <summary>Ends the gzip member, so the output is a complete .gz file.</summary>
    public async ValueTask DisposeAsync()
    {
        await _json.DisposeAsync();
        if (_gzip is not null)
        {
            await _gzip.DisposeAsync();
            _gzip = null;
        }
    }
}
