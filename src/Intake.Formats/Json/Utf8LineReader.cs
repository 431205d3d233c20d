using Intake.Core.Errors;

namespace Intake.Formats.Json;

/// <summary>
/// Splits a UTF-8 stream into lines as bytes (LF or CRLF; a UTF-8 byte order mark at the start is dropped), keeping
/// each line's number and its offset in the stream, so a bad line can be named exactly. Nothing is decoded here: JSON
/// is parsed from the bytes, and <see cref="FirstInvalid"/> finds bytes that are not UTF-8. A line is valid until the
/// next one is asked for.
/// </summary>
internal sealed class Utf8LineReader : IDisposable, IAsyncDisposable
{
    /// <summary>Longest line (64 MiB): a record is held whole in memory, and a file without line breaks must not be.</summary>
    public const int MaxLineBytes = 64 * 1024 * 1024;

    private readonly Stream _stream;
    private readonly string _sourceName;
    private byte[] _buffer = new byte[64 * 1024];
    private int _start;
    private int _end;
    private long _offset; // raw offset of _buffer[0]
    private bool _eof;

    public Utf8LineReader(Stream stream, string sourceName)
    {
        _stream = stream;
        _sourceName = sourceName;
    }

    /// <summary>1-based number of the line last returned.</summary>
    public long LineNumber { get; private set; }

    /// <summary>Offset in the stream of the first byte of the line last returned.</summary>
    public long LineOffset { get; private set; }

    /// <summary>Reads more of the stream, blocking; call after <see cref="TryTake"/> said <see cref="LineTake.NeedMore"/>.</summary>
    public void Fill()
    {
        Prepare();
        Filled(_stream.Read(_buffer, _end, _buffer.Length - _end));
    }

    /// <summary><see cref="Fill"/>, awaiting the stream.</summary>
    public async ValueTask FillAsync(CancellationToken cancellationToken)
    {
        Prepare();
        Filled(await _stream.ReadAsync(_buffer.AsMemory(_end), cancellationToken));
    }

    public async ValueTask<ReadOnlyMemory<byte>?> ReadLineAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            switch (TryTake(out var line))
            {
                case LineTake.Line:
                    return line;
                case LineTake.End:
                    return null;
                default:
                    await FillAsync(cancellationToken);
                    break;
            }
        }
    }

    /// <summary>The next line if the buffer holds all of it (valid until the next call), else whether to fill or stop.</summary>
    public LineTake TryTake(out ReadOnlyMemory<byte> line)
    {
        line = default;
        var span = _buffer.AsSpan(_start, _end - _start);
        int newline = span.IndexOf((byte)'\n');
        int length;
        int consumed;
        if (newline >= 0)
        {
            length = newline;
            consumed = newline + 1;
        }
        else if (!_eof)
        {
            return LineTake.NeedMore;
        }
        else if (span.IsEmpty)
        {
            return LineTake.End;
        }
        else
        {
            length = consumed = span.Length; // the last line needs no line break
        }

        LineNumber++;
        int start = _start;
        if (LineNumber == 1 && span.StartsWith("\uFEFF"u8))
        {
            start += 3;
            length -= 3;
        }

        if (length > 0 && _buffer[start + length - 1] == '\r')
        {
            length--;
        }

        LineOffset = _offset + start;
        line = _buffer.AsMemory(start, length);
        _start += consumed;
        return LineTake.Line;
    }

    /// <summary>Keeps the unfinished line at the start of the buffer, growing it when the line fills it.</summary>
    private void Prepare()
    {
        if (_start > 0)
        {
            Buffer.BlockCopy(_buffer, _start, _buffer, 0, _end - _start);
            _offset += _start;
            _end -= _start;
            _start = 0;
        }

        if (_end == _buffer.Length)
        {
            if (_buffer.Length > MaxLineBytes)
            {
                throw IntakeException.Format($"{_sourceName}: line {LineNumber + 1} is longer than {MaxLineBytes / (1024 * 1024)} MiB; is it NDJSON (one record per line)?");
            }

            Array.Resize(ref _buffer, Math.Min(_buffer.Length * 2, MaxLineBytes + 1));
        }
    }

    private void Filled(int n)
    {
        if (n == 0)
        {
            _eof = true;
        }

        _end += n;
    }

    public void Dispose() => _stream.Dispose();

    public ValueTask DisposeAsync() => _stream.DisposeAsync();
}

/// <summary>What <see cref="Utf8LineReader.TryTake"/> found in the buffer: a whole line, part of one, or the end.</summary>
internal enum LineTake { Line, NeedMore, End }
