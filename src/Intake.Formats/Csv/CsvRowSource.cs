using System.Buffers;
using System.Text;
using Intake.Core.Errors;
using Intake.Core.Ports;

namespace Intake.Formats.Csv;

/// <summary>
/// Streams rows out of a CSV file (RFC 4180 plus the usual variants: any delimiter, CR, LF or CRLF line ends, a
/// byte order mark). This is the bulk path, so it reads large character blocks, finds field ends with vectorised
/// span searches and allocates nothing per row but the values' strings; memory is bounded by the longest row.
/// </summary>
/// <remarks>
/// <para>An unquoted empty field reads as null, a quoted empty field (<c>""</c>) as the empty string, so both can be
/// told apart downstream. Values are not trimmed; header names are.</para>
/// <para>Lines with no characters at all are skipped (trailing blank lines are common in exports); they still count
/// for <see cref="LineNumber"/>. A quote in the middle of an unquoted field is an ordinary character; anything but a
/// delimiter or a line end right after a closing quote is an error, since it means the quoting is broken.</para>
/// <para>Errors are <see cref="IntakeException"/>s naming the source, the line and the record (the data row, counted
/// from 1 after the header): <c>Empty</c> when there is no header row, <c>Format</c> for a wrong field count, an
/// unclosed quote, a bad header, and bytes that are not text in the encoding, which also give their offset in the
/// file and their value in hex (see <see cref="StrictTextReader"/>: nothing is ever replaced by U+FFFD).</para>
/// </remarks>
public sealed class CsvRowSource : IRowSource
{
    private const int InitialBufferChars = 64 * 1024;

    private readonly StrictTextReader _reader;
    private readonly Encoding _encoding;
    private readonly int _headerRows;
    private readonly char _delimiter;
    private readonly char _quote;
    private readonly SearchValues<char> _unquotedStops;
    private readonly int _maxRowChars;
    private readonly bool _hasHeader;
    private readonly IReadOnlyList<string>? _configuredColumns;
    private string[] _columns = [];

    private char[] _buffer = new char[InitialBufferChars];
    private int _start;
    private int _end;
    private bool _eof;

    // The current row's values, reused from row to row: where each one is (in the buffer, or in the scratch when
    // it had doubled quotes), and its string once somebody asked for one. A value is only copied into a string on
    // request, so a loader that reads spans allocates nothing per field.
    private FieldRef[] _fields = new FieldRef[16];
    private string?[] _strings = new string?[16];
    private int _fieldCount;
    private char[] _scratch = new char[256];
    private int _rowScratch;

    private enum FieldAt : byte { Null, Buffer, Scratch }

    private readonly record struct FieldRef(FieldAt At, int Start, int Length);

    private long _nextLine = 1;
    private long _rowLine;
    private long _rowsParsed; // rows of the file parsed so far, the header included
    private bool _pending;
    private bool _hasRow;
    private bool _disposed;

    /// <summary>
    /// Reads the header (or the first row, without one) at once, so <see cref="Columns"/> is known; the reads block.
    /// See <see cref="OpenAsync"/> for a stream that may be slow.
    /// </summary>
    /// <param name="stream">The CSV bytes, read forward once.</param>
    /// <param name="sourceName">Names the file in error messages (e.g. <c>archive.zip:a.csv</c>).</param>
    /// <param name="options">Format; null for the defaults.</param>
    /// <param name="leaveOpen">Whether disposing this reader leaves <paramref name="stream"/> open.</param>
    public CsvRowSource(Stream stream, string sourceName, CsvOptions? options = null, bool leaveOpen = false)
        : this(stream, sourceName, options, leaveOpen, readHeader: true)
    {
    }

    private CsvRowSource(Stream stream, string sourceName, CsvOptions? options, bool leaveOpen, bool readHeader)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentException.ThrowIfNullOrWhiteSpace(sourceName);
        options ??= new CsvOptions();
        options.Validate();

        SourceName = sourceName;
        _encoding = options.Encoding;
        _delimiter = options.Delimiter;
        _quote = options.Quote;
        _unquotedStops = SearchValues.Create([_delimiter, '\r', '\n']);
        _maxRowChars = options.MaxRowChars;
        _hasHeader = options.HasHeader;
        _configuredColumns = options.Columns;
        _headerRows = options.HasHeader ? 1 : 0;
        // The byte order mark is handled below for every encoding, so the reader must not guess from it.
        _reader = new StrictTextReader(stream, options.Encoding, rejectC1Controls: IsLatin1(options.Encoding), leaveOpen);
        if (!readHeader)
        {
            return;
        }

        try
        {
            Refill();
            SkipByteOrderMark();
            Parse first;
            while ((first = TryParseNext()) == Parse.NeedMore)
            {
                Refill();
            }

            TakeColumns(first);
        }
        catch
        {
            _reader.Dispose();
            throw;
        }
    }

    /// <summary>
    /// A source whose header (or first row, without one) has been read, waiting for the stream rather than blocking on
    /// it; the stream is disposed when this fails, unless <paramref name="leaveOpen"/>. Parameters as for the constructor.
    /// </summary>
    public static async ValueTask<CsvRowSource> OpenAsync(
        Stream stream, string sourceName, CsvOptions? options = null, bool leaveOpen = false, CancellationToken cancellationToken = default)
    {
        var source = new CsvRowSource(stream, sourceName, options, leaveOpen, readHeader: false);
        try
        {
            await source.RefillAsync(cancellationToken);
            source.SkipByteOrderMark();
            Parse first;
            while ((first = source.TryParseNext()) == Parse.NeedMore)
            {
                await source.RefillAsync(cancellationToken);
            }

            source.TakeColumns(first);
            return source;
        }
        catch
        {
            await source.DisposeAsync();
            throw;
        }
    }

    /// <summary>Steps over a byte order mark at the start of the first block read.</summary>
    private void SkipByteOrderMark()
    {
        if (_end > 0 && _buffer[0] == '\uFEFF')
        {
            _start = 1;
        }
    }

    private void TakeColumns(Parse first)
    {
        if (first != Parse.Row)
        {
            throw IntakeException.Empty($"{SourceName} is empty: it has no {(_hasHeader ? "header row" : "rows")}");
        }

        _columns = _hasHeader ? HeaderColumns(_configuredColumns) : FirstRowColumns(_configuredColumns);
    }

    public string SourceName { get; }

    public IReadOnlyList<string> Columns => _columns;

    public int FieldCount => _columns.Length;

    public long RowNumber { get; private set; }

    public long LineNumber { get; private set; }

    /// <summary>Advances to the next row, blocking on the stream when the buffer runs out; false at the end.</summary>
    public bool Read()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_pending)
        {
            // Without a header the first row was read to learn the columns; it is the first data row.
            _pending = false;
            return Accept();
        }
        Parse next;
        while ((next = TryParseNext()) == Parse.NeedMore)
        {
            Refill();
        }
        return next == Parse.Row ? Accept() : End();
    }

    /// <summary>
    /// Advances to the next row; false at the end. Synchronous (no task, no allocation) while the row is in the
    /// buffer, which holds tens of thousands of characters; only a refill awaits the stream.
    /// </summary>
    public ValueTask<bool> ReadAsync(CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_pending)
        {
            _pending = false;
            return new ValueTask<bool>(Accept());
        }
        var next = TryParseNext();
        return next == Parse.NeedMore ? ReadMoreAsync(cancellationToken) : new ValueTask<bool>(next == Parse.Row ? Accept() : End());
    }

    private async ValueTask<bool> ReadMoreAsync(CancellationToken cancellationToken)
    {
        Parse next;
        do
        {
            await RefillAsync(cancellationToken);
        }
        while ((next = TryParseNext()) == Parse.NeedMore);
        return next == Parse.Row ? Accept() : End();
    }

    private bool End()
    {
        _hasRow = false;
        return false;
    }

    /// <summary>Makes the parsed row the current one, once its field count is checked.</summary>
    private bool Accept()
    {
        if (_fieldCount != _columns.Length)
        {
            throw WrongFieldCount();
        }
        RowNumber++;
        LineNumber = _rowLine;
        _hasRow = true;
        return true;
    }

    // Out of line, so that the per-row path stays small.
    private IntakeException WrongFieldCount()
    {
        _hasRow = false;
        return IntakeException.Format($"{SourceName}: line {_rowLine} (record {RowNumber + 1}): expected {_columns.Length} fields, found {_fieldCount}");
    }

    public string? GetString(int ordinal)
    {
        if (!_hasRow)
        {
            throw new InvalidOperationException("There is no current row: call Read() first, and only while it returns true.");
        }
        ArgumentOutOfRangeException.ThrowIfNegative(ordinal);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(ordinal, _columns.Length);
        return _strings[ordinal] ??= Materialize(ordinal);
    }

    /// <summary>The current row's value without a copy; valid until the next <see cref="Read"/>.</summary>
    public ReadOnlySpan<char> GetSpan(int ordinal, out bool isNull)
    {
        if (!_hasRow)
        {
            throw new InvalidOperationException("There is no current row: call Read() first, and only while it returns true.");
        }
        ArgumentOutOfRangeException.ThrowIfNegative(ordinal);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(ordinal, _columns.Length);
        isNull = _fields[ordinal].At == FieldAt.Null;
        return Span(ordinal);
    }

    private ReadOnlySpan<char> Span(int index)
    {
        var f = _fields[index];
        return f.At switch
        {
            FieldAt.Buffer => _buffer.AsSpan(f.Start, f.Length),
            FieldAt.Scratch => _scratch.AsSpan(f.Start, f.Length),
            _ => default,
        };
    }

    private string? Materialize(int index) => _fields[index].At == FieldAt.Null ? null : new string(Span(index));

    public void Dispose()
    {
        if (!_disposed)
        {
            _disposed = true;
            _reader.Dispose();
        }
    }

    public ValueTask DisposeAsync()
    {
        if (_disposed)
        {
            return ValueTask.CompletedTask;
        }
        _disposed = true;
        return _reader.DisposeAsync();
    }

    private string[] HeaderColumns(IReadOnlyList<string>? overrides)
    {
        var names = new string[_fieldCount];
        var seen = new Dictionary<string, int>(StringComparer.OrdinalIgnoreCase);
        for (int i = 0; i < _fieldCount; i++)
        {
            string name = Materialize(i)?.Trim() ?? "";
            if (name.Length == 0)
            {
                throw IntakeException.Format($"{SourceName}: line {_rowLine} (the header): column {i + 1} has no name");
            }
            // Case-insensitive: the warehouses fold or compare column names without case.
            if (!seen.TryAdd(name, i))
            {
                throw IntakeException.Format($"{SourceName}: line {_rowLine} (the header): column {i + 1} '{name}' repeats column {seen[name] + 1}");
            }
            names[i] = name;
        }
        if (overrides is null)
        {
            return names;
        }
        if (overrides.Count != names.Length)
        {
            throw IntakeException.Format($"{SourceName}: line {_rowLine} (the header): it has {names.Length} columns but {overrides.Count} column names were configured");
        }
        return overrides.Select(c => c.Trim()).ToArray();
    }

    private string[] FirstRowColumns(IReadOnlyList<string>? configured)
    {
        _pending = true;
        if (configured is not null)
        {
            return configured.Select(c => c.Trim()).ToArray();
        }
        return Enumerable.Range(1, _fieldCount).Select(i => $"column{i}").ToArray();
    }

    // ---- parsing --------------------------------------------------------------------------------------------

    private enum Parse { Row, Blank, End, NeedMore }

    /// <summary>
    /// Parses the next non-blank row in the buffer into <see cref="_fields"/>: <see cref="Parse.Row"/>, <see cref="Parse.End"/>
    /// at the end of the input, or <see cref="Parse.NeedMore"/> when the row runs past what is buffered (refill and call again).
    /// </summary>
    private Parse TryParseNext()
    {
        while (true)
        {
            switch (ParseRow(out int consumed, out int lineBreaks))
            {
                case Parse.Row:
                    if (consumed > _maxRowChars)
                    {
                        throw RowTooLong();
                    }
                    _start += consumed;
                    _rowLine = _nextLine;
                    _nextLine += lineBreaks;
                    _rowsParsed++;
                    return Parse.Row;
                case Parse.Blank:
                    _start += consumed;
                    _nextLine++;
                    break;
                case var other:
                    return other;
            }
        }
    }

    /// <summary>
    /// Parses one row starting at <see cref="_start"/>. Nothing is committed unless it returns <see cref="Parse.Row"/>
    /// or <see cref="Parse.Blank"/>: a row cut by the end of the buffer is parsed again from its start after a refill,
    /// which costs one row per 64 Ki characters.
    /// </summary>
    private Parse ParseRow(out int consumed, out int lineBreaks)
    {
        consumed = 0;
        lineBreaks = 1;
        ReadOnlySpan<char> d = _buffer.AsSpan(_start, _end - _start);
        if (d.IsEmpty)
        {
            return _eof ? Parse.End : Parse.NeedMore;
        }
        if (d[0] == '\n')
        {
            consumed = 1;
            return Parse.Blank;
        }
        if (d[0] == '\r')
        {
            if (d.Length == 1 && !_eof)
            {
                return Parse.NeedMore;
            }
            consumed = d.Length > 1 && d[1] == '\n' ? 2 : 1;
            return Parse.Blank;
        }

        int count = 0;
        int i = 0;
        _rowScratch = 0; // a row cut by the end of the buffer is parsed again from its start
        while (true)
        {
            if (i < d.Length && d[i] == _quote)
            {
                // Quoted field: runs to a quote that is not doubled.
                int j = i + 1;
                int segment = j;
                int scratchStart = _rowScratch;
                bool escaped = false;
                int close;
                while (true)
                {
                    int k = d[j..].IndexOf(_quote);
                    if (k < 0)
                    {
                        if (!_eof)
                        {
                            return Parse.NeedMore;
                        }
                        throw IntakeException.Format($"{At(_nextLine)}: a quoted field is not closed before the end of the file");
                    }
                    int q = j + k;
                    if (q + 1 == d.Length && !_eof)
                    {
                        return Parse.NeedMore; // a doubled quote may continue in the next block
                    }
                    if (q + 1 < d.Length && d[q + 1] == _quote)
                    {
                        AppendScratch(d[segment..(q + 1)]);
                        escaped = true;
                        j = q + 2;
                        segment = j;
                        continue;
                    }
                    close = q;
                    break;
                }
                FieldRef value;
                if (escaped)
                {
                    AppendScratch(d[segment..close]);
                    value = new FieldRef(FieldAt.Scratch, scratchStart, _rowScratch - scratchStart);
                }
                else
                {
                    // A quoted empty field is an empty string, not a missing value.
                    value = new FieldRef(FieldAt.Buffer, _start + segment, close - segment);
                }
                lineBreaks += CountLineBreaks(d[(i + 1)..close]);
                SetField(count++, value);
                i = close + 1;
                if (i == d.Length)
                {
                    consumed = i; // only reached at the end of the input
                    return Parse.Row;
                }
                char after = d[i];
                if (after == _delimiter)
                {
                    i++;
                    continue;
                }
                if (after is not ('\r' or '\n'))
                {
                    throw IntakeException.Format($"{At(_nextLine + lineBreaks - 1)}: unexpected '{after}' after the closing quote of field {count} (a quote inside a quoted field must be doubled)");
                }
            }
            else
            {
                int k = d[i..].IndexOfAny(_unquotedStops);
                if (k < 0)
                {
                    if (!_eof)
                    {
                        return Parse.NeedMore;
                    }
                    SetField(count++, i == d.Length ? default : new FieldRef(FieldAt.Buffer, _start + i, d.Length - i));
                    consumed = d.Length;
                    return Parse.Row;
                }
                SetField(count++, k == 0 ? default : new FieldRef(FieldAt.Buffer, _start + i, k));
                i += k;
                if (d[i] == _delimiter)
                {
                    i++;
                    continue;
                }
            }

            // At a line end.
            if (d[i] == '\n')
            {
                consumed = i + 1;
            }
            else if (i + 1 < d.Length)
            {
                consumed = d[i + 1] == '\n' ? i + 2 : i + 1;
            }
            else if (_eof)
            {
                consumed = i + 1;
            }
            else
            {
                return Parse.NeedMore; // a CR at the end of the block may be half of a CRLF
            }
            _fieldCount = count;
            return Parse.Row;
        }
    }

    private IntakeException RowTooLong() =>
        IntakeException.Format($"{At(_nextLine)}: the row is longer than {_maxRowChars} characters (is a quote not closed?)");

    /// <summary>The file, the line and the row being parsed, for messages: <c>a.csv: line 7 (record 6)</c>.</summary>
    private string At(long line)
    {
        long record = _rowsParsed + 1 - _headerRows;
        return record < 1 ? $"{SourceName}: line {line} (the header)" : $"{SourceName}: line {line} (record {record})";
    }

    private static bool IsLatin1(Encoding encoding) => encoding.CodePage == 28591;

    /// <summary>
    /// The parser has used every character before the bad bytes (see <see cref="Refill"/>), so they are on the line
    /// after the line breaks still unparsed in the buffer, in the row being parsed.
    /// </summary>
    private IntakeException NotText(DecodeFailure failure)
    {
        long line = _nextLine + CountLineBreaks(_buffer.AsSpan(_start, _end - _start));
        string where = $"{At(line)}, byte offset {failure.Offset}";
        if (failure.Control is { } control)
        {
            return IntakeException.Format(
                $"{where}: byte 0x{failure.Bytes[0]:X2} is the control character U+{(int)control:X4} in {_encoding.WebName}, which text files do not hold; " +
                "the file is almost certainly windows-1252 (where 0x80 to 0x9F are characters such as € and ’): set csv.encoding: windows-1252");
        }

        string bytes = failure.Bytes.Length == 0 ? "the bytes there" : string.Join(' ', failure.Bytes.Select(b => $"0x{b:X2}"));
        return IntakeException.Format(
            $"{where}: {(failure.Bytes.Length == 1 ? "byte" : "bytes")} {bytes} {(failure.Bytes.Length == 1 ? "is" : "are")} not valid {_encoding.WebName}; " +
            "the file is in another encoding: set csv.encoding to it");
    }

    private void SetField(int index, FieldRef value)
    {
        if (index == _fields.Length)
        {
            Array.Resize(ref _fields, _fields.Length * 2);
            Array.Resize(ref _strings, _fields.Length);
        }
        _fields[index] = value;
        _strings[index] = null;
        _fieldCount = index + 1;
    }

    private void AppendScratch(ReadOnlySpan<char> chars)
    {
        if (_rowScratch + chars.Length > _scratch.Length)
        {
            Array.Resize(ref _scratch, Math.Max(_scratch.Length * 2, _rowScratch + chars.Length));
        }
        chars.CopyTo(_scratch.AsSpan(_rowScratch));
        _rowScratch += chars.Length;
    }

    /// <summary>Line breaks inside a quoted value: LF, CRLF and a lone CR each count once.</summary>
    private static int CountLineBreaks(ReadOnlySpan<char> value)
    {
        int first = value.IndexOfAny('\r', '\n');
        if (first < 0)
        {
            return 0;
        }
        int breaks = 0;
        for (int i = first; i < value.Length; i++)
        {
            char c = value[i];
            if (c == '\n' || (c == '\r' && (i + 1 == value.Length || value[i + 1] != '\n')))
            {
                breaks++;
            }
        }
        return breaks;
    }

    /// <summary>Keeps the unfinished row, grows the buffer if the row fills it, and reads until the buffer is full.</summary>
    private void Refill()
    {
        MakeRoom();
        // Filling the whole free space (not just one read's worth) keeps a long row from being re-parsed per small read.
        int added = 0;
        while (_end < _buffer.Length && !_eof && Took(_reader.Read(_buffer.AsSpan(_end)), ref added))
        {
        }
    }

    /// <summary><see cref="Refill"/>, awaiting the stream.</summary>
    private async ValueTask RefillAsync(CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        MakeRoom();
        int added = 0;
        while (_end < _buffer.Length && !_eof && Took(await _reader.ReadAsync(_buffer.AsMemory(_end), cancellationToken), ref added))
        {
        }
    }

    private void MakeRoom()
    {
        if (_start > 0)
        {
            Array.Copy(_buffer, _start, _buffer, 0, _end - _start);
            _end -= _start;
            _start = 0;
        }
        if (_end == _buffer.Length)
        {
            if (_buffer.Length >= _maxRowChars)
            {
                throw RowTooLong();
            }
            Array.Resize(ref _buffer, (int)Math.Min(_buffer.Length * 2L, _maxRowChars));
        }
    }

    /// <summary>Takes <paramref name="n"/> characters read into the buffer; false to stop filling it.</summary>
    private bool Took(int n, ref int added)
    {
        if (n == 0)
        {
            if (_reader.Failure is { } failure)
            {
                if (added > 0)
                {
                    return false; // the rows before the bad bytes are parsed first, so the error names the right record
                }
                throw NotText(failure);
            }
            _eof = true;
        }
        _end += n;
        added += n;
        return true;
    }
}
