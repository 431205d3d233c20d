using System.Buffers.Binary;
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
internal sealed class PgBinaryCopyWriter
{
    // Large enough that the socket sees few writes, small enough to stay out of the large object heap's way.
    private const int BufferSize = 64 * 1024;
    private const int CancellationCheckInterval = 4096;

    // COPY BINARY header: signature, flags (no OIDs), header extension length.
    private static ReadOnlySpan<byte> Header => [(byte)'P', (byte)'G', (byte)'C', (byte)'O', (byte)'P', (byte)'Y', 0x0A, 0xFF, 0x0D, 0x0A, 0x00];

    private static readonly DateOnly PgEpochDate = new(2000, 1, 1);
    private static readonly long PgEpochTicks = new DateTime(2000, 1, 1, 0, 0, 0, DateTimeKind.Utc).Ticks;
    private static readonly UTF8Encoding Utf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private readonly Stream _output;
    private readonly byte[] _buffer = new byte[BufferSize];
    private int _position;

    public PgBinaryCopyWriter(Stream output) => _output = output;

    public void WriteHeader()
    {
        Ensure(19);
        Header.CopyTo(_buffer.AsSpan(_position));
        _position += Header.Length;
        WriteInt32(0);
        WriteInt32(0);
    }

    public void WriteTrailer()
    {
        Ensure(2);
        WriteInt16(-1);
        Flush();
    }

    public void Flush()
    {
        if (_position > 0)
        {
            _output.Write(_buffer, 0, _position);
            _position = 0;
        }
    }

    /// <summary>Encodes every row of the source, with the load id as the last field. Returns the rows read.</summary>
    public long WriteAll(CopyPlan plan, IRowSource source, long loadId, CancellationToken cancellationToken)
    {
        var count = plan.Columns.Count;
        var columns = plan.Columns.ToArray();
        var ordinals = plan.Ordinals.ToArray();
        var jsonb = columns.Select(c => c.Type == ColumnType.Json && c.StoreType != "json").ToArray();
        var needed = plan.MaxOrdinal + 1;
        var fieldCount = (short)(count + 1);
        long read = 0;
        while (source.Read())
        {
            read++;
            if (source.FieldCount < needed)
            {
                throw RowErrors.TooFewFields(source, needed);
            }

            Ensure(2);
            WriteInt16(fieldCount);
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

                WriteValue(source, column, value, jsonb[i]);
            }

            Ensure(12);
            WriteInt32(8);
            WriteInt64(loadId);
            if (read % CancellationCheckInterval == 0)
            {
                cancellationToken.ThrowIfCancellationRequested();
            }
        }

        return read;
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
                WriteNumeric(ValueCaster.TryDecimal(text, out var m) ? m : throw RowErrors.CannotCast(source, column, text.ToString()));
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
        if (max > _buffer.Length)
        {
            // A value larger than the buffer: encode it on its own.
            var bytes = new byte[Utf8.GetByteCount(text)];
            Utf8.GetBytes(text, bytes);
            Ensure(5);
            WriteInt32(bytes.Length + (versionByte ? 1 : 0));
            if (versionByte)
            {
                _buffer[_position++] = 1;
            }

            Flush();
            _output.Write(bytes);
            return;
        }

        Ensure(max);
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

    private void Ensure(int bytes)
    {
        if (_position + bytes > _buffer.Length)
        {
            Flush();
        }
    }

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
