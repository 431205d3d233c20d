using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Text;
using Intake.Core.Ports;
using Intake.Warehouse.Loading;

namespace Intake.Warehouse.Postgres;

/// <summary>
/// The hot loop of a PostgreSQL load, encoding rows in COPY's binary format ourselves and writing the bytes
/// to a raw COPY stream. Npgsql's typed importer resolves a converter and binds a parameter for every value;
/// at ten values a row that per-value cost was most of the load's time, while the encoding itself is a few
/// byte copies. Values are cast exactly as <see cref="ValueCaster"/> defines, so errors name the row and column.
/// </summary>
/// <remarks>
/// Rows are encoded synchronously into a buffer and the buffer goes to the server asynchronously between rows, once
/// it is nearly full: the only awaits are a source's refill and a write of tens of kilobytes, never one per row.
/// A row that does not fit in the room left grows the buffer rather than writing in the middle of it.
/// </remarks>
internal sealed class PgBinaryCopyWriter
{
    // Large enough that the socket sees few writes, small enough to stay out of the large object heap's way.
    private const int BufferSize = 64 * 1024;
    // Written once a row leaves the buffer this full: the 8 KiB left take the next row of any usual width
    // without growing the buffer.
    private const int FlushAt = BufferSize - (8 * 1024);
    private const int CancellationCheckInterval = 4096;

    // COPY BINARY header: signature, flags (no OIDs), header extension length.
    private static ReadOnlySpan<byte> Header => [(byte)'P', (byte)'G', (byte)'C', (byte)'O', (byte)'P', (byte)'Y', 0x0A, 0xFF, 0x0D, 0x0A, 0x00];

    /// <summary>What <see cref="WriteHeader"/> writes: the header, flags and extension length, for rows encoded without it.</summary>
    public static ReadOnlyMemory<byte> HeaderBytes { get; } = (byte[])[.. Header, 0, 0, 0, 0, 0, 0, 0, 0];

    /// <summary>What <see cref="WriteTrailerAsync"/> writes: the end of the rows (a field count of -1).</summary>
    public static ReadOnlyMemory<byte> TrailerBytes { get; } = new byte[] { 0xFF, 0xFF };

    private static readonly DateOnly PgEpochDate = new(2000, 1, 1);
    private static readonly long PgEpochTicks = new DateTime(2000, 1, 1, 0, 0, 0, DateTimeKind.Utc).Ticks;
    private static readonly UTF8Encoding Utf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private readonly Stream _output;
    private readonly TargetColumn[] _columns;
    private readonly int[] _ordinals;
    private readonly bool[] _jsonb;
    private readonly int _needed;
    private readonly long _loadId;
    private byte[] _buffer = GC.AllocateUninitializedArray<byte>(BufferSize);
    private int _position;

    /// <param name="output">The COPY stream.</param>
    /// <param name="plan">The source's fields to write, in the COPY's column order.</param>
    /// <param name="loadId">Written as every row's last field.</param>
    public PgBinaryCopyWriter(Stream output, CopyPlan plan, long loadId)
    {
        _output = output;
        _columns = [.. plan.Columns];
        _ordinals = [.. plan.Ordinals];
        _jsonb = [.. _columns.Select(c => c.Type == ColumnType.Json && c.StoreType != "json")];
        _needed = plan.MaxOrdinal + 1;
        _loadId = loadId;
    }

    public void WriteHeader()
    {
        Ensure(19);
        Header.CopyTo(_buffer.AsSpan(_position));
        _position += Header.Length;
        WriteInt32(0);
        WriteInt32(0);
    }

    public async Task WriteTrailerAsync(CancellationToken cancellationToken)
    {
        Ensure(2);
        WriteInt16(-1);
        await FlushAsync(cancellationToken);
    }

    /// <summary>Writes what is encoded so far to the output.</summary>
    public async ValueTask FlushAsync(CancellationToken cancellationToken)
    {
        if (_position > 0)
        {
            await _output.WriteAsync(_buffer.AsMemory(0, _position), cancellationToken);
            _position = 0;
        }
    }

    /// <summary>Encodes every row of the source, with the load id as the last field. Returns the rows read.</summary>
    public async Task<long> WriteAllAsync(IRowSource source, CancellationToken cancellationToken)
    {
        long read = 0;
        // Completes synchronously while the source has the row buffered: no task and no allocation per row.
        while (await source.ReadAsync(cancellationToken))
        {
            read++;
            WriteRow(source);
            if (_position >= FlushAt)
            {
                await FlushAsync(cancellationToken);
            }

            if (read % CancellationCheckInterval == 0)
            {
                cancellationToken.ThrowIfCancellationRequested();
            }
        }

        return read;
    }

    /// <summary>The current row, encoded into the buffer (synchronous, so its values stay spans into the source's buffer).</summary>
    private void WriteRow(IRowSource source)
    {
        var columns = _columns;
        var ordinals = _ordinals;
        var count = columns.Length;
        if (source.FieldCount < _needed)
        {
            throw RowErrors.TooFewFields(source, _needed);
        }

        Ensure(2);
        WriteInt16((short)(count + 1));
        for (var i = 0; i < count; i++)
        {
            var column = columns[i];
            // A span: parsed or encoded straight out of the reader's buffer, no string per field.
            var value = source.GetSpan(ordinals[i], out var missing);
            if (ValueCaster.IsNull(value, missing, column.Type))
            {
                if (!column.Nullable)
                {
                    throw RowErrors.NullNotAllowed(source, column);
                }

                Ensure(4);
                WriteInt32(-1);
                continue;
            }

            WriteValue(source, column, value, _jsonb[i]);
        }

        Ensure(12);
        WriteInt32(8);
        WriteInt64(_loadId);
    }

    private void WriteValue(IRowSource source, TargetColumn column, ReadOnlySpan<char> text, bool jsonb)
    {
        switch (column.Type)
        {
            case ColumnType.Text:
                WriteText(text, versionByte: false);
                break;
            case ColumnType.Integer:
                Ensure(8);
                WriteInt32(4);
                WriteInt32(ValueCaster.TryInt32(text, out var i) ? i : throw RowErrors.CannotCast(source, column, text.ToString()));
                break;
            case ColumnType.BigInt:
                Ensure(12);
                WriteInt32(8);
                WriteInt64(ValueCaster.TryInt64(text, out var l) ? l : throw RowErrors.CannotCast(source, column, text.ToString()));
                break;
            case ColumnType.Decimal:
                if (!TryWriteNumeric(text))
                {
                    WriteNumeric(ValueCaster.TryDecimal(text, out var m) ? m : throw RowErrors.CannotCast(source, column, text.ToString()));
                }

                break;
            case ColumnType.Double:
                Ensure(12);
                WriteInt32(8);
                WriteInt64(BitConverter.DoubleToInt64Bits(ValueCaster.TryDouble(text, out var d) ? d : throw RowErrors.CannotCast(source, column, text.ToString())));
                break;
            case ColumnType.Boolean:
                Ensure(5);
                WriteInt32(1);
                _buffer[_position++] = (byte)((ValueCaster.TryBoolean(text, out var b) ? b : throw RowErrors.CannotCast(source, column, text.ToString())) ? 1 : 0);
                break;
            case ColumnType.Date:
                Ensure(8);
                WriteInt32(4);
                WriteInt32((ValueCaster.TryDate(text, out var date) ? date : throw RowErrors.CannotCast(source, column, text.ToString())).DayNumber - PgEpochDate.DayNumber);
                break;
            case ColumnType.Timestamp:
                Ensure(12);
                WriteInt32(8);
                WriteInt64(Microseconds(ValueCaster.TryTimestamp(text, out var ts) ? ts : throw RowErrors.CannotCast(source, column, text.ToString())));
                break;
            case ColumnType.TimestampTz:
                Ensure(12);
                WriteInt32(8);
                WriteInt64(Microseconds(ValueCaster.TryTimestampTz(text, out var tz) ? tz : throw RowErrors.CannotCast(source, column, text.ToString())));
                break;
            case ColumnType.Json:
                WriteText(ValueCaster.IsJson(text) ? text : throw RowErrors.CannotCast(source, column, text.ToString()), versionByte: jsonb);
                break;
            default:
                throw new InvalidOperationException($"Unhandled column type {column.Type}.");
        }
    }

    private static long Microseconds(DateTime value) => (value.Ticks - PgEpochTicks) / 10;

    private void WriteText(ReadOnlySpan<char> text, bool versionByte)
    {
        var max = Utf8.GetMaxByteCount(text.Length) + 5;
        // A long value makes room for its exact length (one more pass over it), not for the worst case of three
        // bytes a character, so a large document grows the buffer only as far as it needs.
        Ensure(max <= BufferSize ? max : Utf8.GetByteCount(text) + 5);
        var lengthAt = _position;
        _position += 4;
        if (versionByte)
        {
            _buffer[_position++] = 1; // jsonb wire format version
        }

        var written = Utf8.GetBytes(text, _buffer.AsSpan(_position));
        _position += written;
        BinaryPrimitives.WriteInt32BigEndian(_buffer.AsSpan(lengthAt), written + (versionByte ? 1 : 0));
    }

    /// <summary>
    /// PostgreSQL's numeric: base-10000 digits, most significant first, with the weight of the first digit,
    /// the sign and the display scale. The decimal's 96-bit mantissa is scaled so that its fraction ends on a
    /// 4-digit boundary, then cut into base-10000 digits.
    /// </summary>
    private void WriteNumeric(decimal value)
    {
        Span<int> bits = stackalloc int[4];
        decimal.GetBits(value, bits);
        var scale = (bits[3] >> 16) & 0xFF;
        var negative = bits[3] < 0;
        var mantissa = ((UInt128)(uint)bits[2] << 64) | ((UInt128)(uint)bits[1] << 32) | (uint)bits[0];
        var pad = (4 - (scale % 4)) % 4;
        for (var p = 0; p < pad; p++)
        {
            mantissa *= 10;
        }

        var fractionGroups = (scale + pad) / 4;
        Span<short> digits = stackalloc short[16]; // least significant first; 10^32 needs 9 groups
        var n = 0;
        while (mantissa != 0)
        {
            digits[n++] = (short)(ushort)(mantissa % 10000);
            mantissa /= 10000;
        }

        // Trailing zero groups carry no information: the weight places the rest.
        var low = 0;
        while (low < n && digits[low] == 0)
        {
            low++;
        }

        var ndigits = n - low;
        var weight = n == 0 ? 0 : n - 1 - fractionGroups;
        Ensure(4 + 8 + (2 * ndigits));
        WriteInt32(8 + (2 * ndigits));
        WriteInt16((short)ndigits);
        WriteInt16((short)weight);
        WriteInt16(negative && ndigits > 0 ? unchecked((short)0x4000) : (short)0);
        WriteInt16((short)scale);
        for (var k = n - 1; k >= low; k--)
        {
            WriteInt16(digits[k]);
        }
    }

    /// <summary>
    /// Writes a plain decimal (<c>-?digits(.digits)?</c>) as numeric straight from its digits, grouped by four around
    /// the point, without parsing it into a <see cref="decimal"/> and dividing that by 10000 a group at a time: the
    /// same bytes as <see cref="WriteNumeric(decimal)"/> for every value it takes. It takes only values that
    /// <see cref="decimal"/> holds exactly (28 significant digits at most), so what is loaded and what is refused stays
    /// as before; every other form (an exponent, blanks, a '+', more digits) returns false for the general path.
    /// </summary>
    internal bool TryWriteNumeric(ReadOnlySpan<char> text)
    {
        const int MaxDigits = 28;
        var negative = !text.IsEmpty && text[0] == '-';
        var body = negative ? text[1..] : text;
        var point = body.IndexOf('.');
        var whole = point < 0 ? body : body[..point];
        var fraction = point < 0 ? default : body[(point + 1)..];
        if (whole.IsEmpty || (point >= 0 && fraction.IsEmpty) || !AllDigits(whole) || !AllDigits(fraction))
        {
            return false;
        }

        var firstNonZero = whole.IndexOfAnyExcept('0');
        whole = firstNonZero < 0 ? default : whole[firstNonZero..];
        if (whole.Length + fraction.Length > MaxDigits)
        {
            return false;
        }

        // Base-10000 digits, most significant first: the whole part's from the point leftwards (the first one short
        // when its length is not a multiple of four), then the fraction's from the point rightwards (the last one
        // padded with zeros on the right).
        Span<short> digits = stackalloc short[16];
        var n = 0;
        var length = whole.Length % 4 == 0 ? 4 : whole.Length % 4;
        for (var at = 0; at < whole.Length; at += length, length = 4)
        {
            digits[n++] = Group(whole.Slice(at, length));
        }

        var wholeGroups = n;
        for (var at = 0; at < fraction.Length; at += 4)
        {
            var part = fraction[at..Math.Min(at + 4, fraction.Length)];
            var group = Group(part);
            for (var pad = part.Length; pad < 4; pad++)
            {
                group = (short)(group * 10);
            }

            digits[n++] = group;
        }

        // Zero groups at either end carry no information: the weight places the rest.
        var first = 0;
        while (first < n && digits[first] == 0)
        {
            first++;
        }

        var last = n;
        while (last > first && digits[last - 1] == 0)
        {
            last--;
        }

        var ndigits = last - first;
        var weight = ndigits == 0 ? 0 : wholeGroups - 1 - first;
        Ensure(4 + 8 + (2 * ndigits));
        WriteInt32(8 + (2 * ndigits));
        WriteInt16((short)ndigits);
        WriteInt16((short)weight);
        WriteInt16(negative && ndigits > 0 ? unchecked((short)0x4000) : (short)0);
        WriteInt16((short)fraction.Length);
        for (var k = first; k < last; k++)
        {
            WriteInt16(digits[k]);
        }

        return true;
    }

    // A loop rather than ContainsAnyExceptInRange: that generic boxed its bounds on every call until it was optimised.
    private static bool AllDigits(ReadOnlySpan<char> text)
    {
        foreach (var c in text)
        {
            if ((uint)(c - '0') > 9)
            {
                return false;
            }
        }

        return true;
    }

    private static short Group(ReadOnlySpan<char> digits)
    {
        var value = 0;
        foreach (var c in digits)
        {
            value = (value * 10) + (c - '0');
        }

        return (short)value;
    }

    /// <summary>What has been encoded and not yet written to the stream (for tests).</summary>
    internal ReadOnlySpan<byte> Pending => _buffer.AsSpan(0, _position);

    /// <summary><see cref="WriteNumeric(decimal)"/> for tests: the general path's bytes.</summary>
    internal void WriteDecimal(decimal value) => WriteNumeric(value);

    private void Ensure(int bytes)
    {
        if (_position + bytes > _buffer.Length)
        {
            Grow(bytes);
        }
    }

    // Rare: a row wider than the room left after FlushAt. The buffer stays larger for the rest of this source,
    // which bounds it by the widest row, as the CSV reader's own buffer is.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void Grow(int bytes) => Array.Resize(ref _buffer, Math.Max(_buffer.Length * 2, _position + bytes));

    private void WriteInt16(short v)
    {
        BinaryPrimitives.WriteInt16BigEndian(_buffer.AsSpan(_position), v);
        _position += 2;
    }

    private void WriteInt32(int v)
    {
        BinaryPrimitives.WriteInt32BigEndian(_buffer.AsSpan(_position), v);
        _position += 4;
    }

    private void WriteInt64(long v)
    {
        BinaryPrimitives.WriteInt64BigEndian(_buffer.AsSpan(_position), v);
        _position += 8;
    }
}
