using System.Text;

namespace Intake.Sources.Ftp;

/// <summary>
/// Reads CRLF (or bare LF) terminated lines from a byte source with one fixed buffer: control replies
/// and listing lines. A line longer than the buffer is a protocol error, so a broken or hostile server
/// cannot make us buffer without end.
/// </summary>
internal sealed class FtpLineReader
{
    public const int MaxLineBytes = 64 * 1024;

    private static readonly Encoding Utf8 = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: false);

    private readonly byte[] _buffer = new byte[MaxLineBytes];
    private Func<Memory<byte>, CancellationToken, ValueTask<int>> _read;
    private int _start;
    private int _end;

    public FtpLineReader(Func<Memory<byte>, CancellationToken, ValueTask<int>> read) => _read = read;

    /// <summary>True when bytes after the last returned line are already buffered.</summary>
    public bool HasBufferedData => _end > _start;

    /// <summary>Switches the byte source (after the TLS upgrade of the control connection).</summary>
    public void SetSource(Func<Memory<byte>, CancellationToken, ValueTask<int>> read) => _read = read;

    /// <summary>The next line without its line break; the rest of the data when it ends without one; null at the end.</summary>
    /// <exception cref="InvalidDataException">A line is longer than <see cref="MaxLineBytes"/>.</exception>
    public async ValueTask<string?> ReadLineAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            var newline = Array.IndexOf(_buffer, (byte)'\n', _start, _end - _start);
            if (newline >= 0)
            {
                var length = newline - _start;
                if (length > 0 && _buffer[newline - 1] == '\r')
                {
                    length--;
                }

                var line = Utf8.GetString(_buffer, _start, length);
                _start = newline + 1;
                return line;
            }

            if (_start > 0)
            {
                Buffer.BlockCopy(_buffer, _start, _buffer, 0, _end - _start);
                _end -= _start;
                _start = 0;
            }

            if (_end == _buffer.Length)
            {
                throw new InvalidDataException($"the server sent a line longer than {MaxLineBytes} bytes");
            }

            var n = await _read(_buffer.AsMemory(_end), cancellationToken);
            if (n == 0)
            {
                if (_end == _start)
                {
                    return null;
                }

                var rest = Utf8.GetString(_buffer, _start, _end - _start).TrimEnd('\r');
                _start = _end = 0;
                return rest;
            }

            _end += n;
        }
    }
}
