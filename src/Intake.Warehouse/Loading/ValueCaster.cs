using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Intake.Core.Ports;

namespace Intake.Warehouse.Loading;

/// <summary>
/// Casts the strings a source reads into the values a typed column stores. Every parser is invariant-culture
/// and exact about the forms it accepts: a value read one way on one machine and another way elsewhere
/// would corrupt data silently, so anything ambiguous is refused and reported as a schema error instead.
/// </summary>
internal static class ValueCaster
{
    private static readonly string[] DateFormats = ["yyyy-MM-dd", "yyyy/MM/dd", "yyyyMMdd", "yyyy-M-d"];

    // ISO-8601 date-times, with 'T' or a space, optional seconds and fraction ("ss.FFFFFFF" also matches
    // no fraction at all), and an optional offset: Z, +hh:mm, or +hh as PostgreSQL prints it.
    private static readonly string[] TimestampFormats = BuildTimestampFormats();

    public static string TypeWord(ColumnType type) => type switch
    {
        ColumnType.Text => "text",
        ColumnType.Integer => "integer",
        ColumnType.BigInt => "bigint",
        ColumnType.Decimal => "decimal",
        ColumnType.Double => "double",
        ColumnType.Boolean => "boolean",
        ColumnType.Date => "date",
        ColumnType.Timestamp => "timestamp",
        ColumnType.TimestampTz => "timestamptz",
        ColumnType.Json => "json",
        _ => type.ToString().ToLowerInvariant(),
    };

    /// <summary>
    /// Whether a value is SQL NULL for a column of this type. An empty (or blank) value of a typed column is
    /// NULL; for text only a missing value is, so a quoted empty string stays an empty string.
    /// </summary>
    public static bool IsNull(string? value, ColumnType type) => IsNull(value, value is null, type);

    /// <summary><see cref="IsNull(string?, ColumnType)"/> for a value read as a span (<paramref name="missing"/>: no value at all).</summary>
    public static bool IsNull(ReadOnlySpan<char> value, bool missing, ColumnType type) =>
        // The first character settles nearly every value without a call (it runs once for every typed value).
        missing || (type != ColumnType.Text && (value.IsEmpty || (char.IsWhiteSpace(value[0]) && value.IsWhiteSpace())));

    // The casts take spans, so that the loaders parse straight out of the CSV reader's buffer; strings convert implicitly.
    public static bool TryInt32(ReadOnlySpan<char> value, out int result) =>
        int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out result);

    public static bool TryInt64(ReadOnlySpan<char> value, out long result) =>
        long.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out result);

    // NumberStyles.Float: sign, decimal point, exponent, surrounding blanks; no thousands separators,
    // because "1,5" must never become 15.
    public static bool TryDecimal(ReadOnlySpan<char> value, out decimal result) =>
        decimal.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out result);

    public static bool TryDouble(ReadOnlySpan<char> value, out double result) =>
        TryShortDouble(value, out result) || TryDoubleExact(value, out result);

    /// <summary><see cref="TryDouble"/> by the framework's parser alone (what the short path must agree with).</summary>
    internal static bool TryDoubleExact(ReadOnlySpan<char> value, out double result) =>
        double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out result);

    // 10^0 to 10^22: every one is a double exactly. An array, not a span over constant data: that form allocated a
    // little on every call until the method was optimised, which on a big load showed as a rise in memory.
    private static readonly double[] PowersOfTen =
    [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
    ];

    /// <summary>
    /// A plain decimal (<c>-?digits(.digits)?</c>) of at most 15 digits, as a double without the general parser. Its
    /// digits as an integer (below 2^53) and the power of ten it is divided by (at most 10^22) are both doubles
    /// exactly, so the one division IEEE rounds correctly gives the nearest double to the value: the same double
    /// that the general parser, which rounds correctly too, returns (Clinger's fast path). Other forms return false.
    /// </summary>
    private static bool TryShortDouble(ReadOnlySpan<char> value, out double result)
    {
        result = 0;
        var negative = !value.IsEmpty && value[0] == '-';
        var i = negative ? 1 : 0;
        long digits = 0;
        var count = 0;
        var wholeStart = i;
        while (i < value.Length && (uint)(value[i] - '0') <= 9)
        {
            digits = (digits * 10) + (value[i++] - '0');
            count++;
        }

        if (i == wholeStart)
        {
            return false;
        }

        var scale = 0;
        if (i < value.Length)
        {
            if (value[i] != '.' || ++i == value.Length)
            {
                return false;
            }

            while (i < value.Length && (uint)(value[i] - '0') <= 9)
            {
                digits = (digits * 10) + (value[i++] - '0');
                count++;
                scale++;
            }

            if (i < value.Length)
            {
                return false;
            }
        }

        if (count > 15)
        {
            return false;
        }

        var magnitude = digits / PowersOfTen[scale];
        result = negative ? -magnitude : magnitude;
        return true;
    }

    public static bool TryBoolean(ReadOnlySpan<char> value, out bool result)
    {
        var s = value.Trim();
        if (s.Equals("true", StringComparison.OrdinalIgnoreCase) || s.Equals("t", StringComparison.OrdinalIgnoreCase)
            || s.Equals("1", StringComparison.Ordinal) || s.Equals("yes", StringComparison.OrdinalIgnoreCase))
        {
            result = true;
            return true;
        }

        if (s.Equals("false", StringComparison.OrdinalIgnoreCase) || s.Equals("f", StringComparison.OrdinalIgnoreCase)
            || s.Equals("0", StringComparison.Ordinal) || s.Equals("no", StringComparison.OrdinalIgnoreCase))
        {
            result = false;
            return true;
        }

        result = false;
        return false;
    }

    public static bool TryDate(ReadOnlySpan<char> value, out DateOnly result)
    {
        if (value.Length == 10 && TryIsoDate(value, out var year, out var month, out var day))
        {
            result = new DateOnly(year, month, day);
            return true;
        }

        return TryDateExact(value, out result);
    }

    /// <summary><see cref="TryDate"/> by the formats alone (what the direct reader must agree with).</summary>
    internal static bool TryDateExact(ReadOnlySpan<char> value, out DateOnly result) =>
        DateOnly.TryParseExact(value.Trim(), DateFormats, CultureInfo.InvariantCulture, DateTimeStyles.None, out result);

    /// <summary>
    /// A timestamp without time zone: the wall-clock time as written. When the value carries an offset it is
    /// converted to UTC first (PostgreSQL would drop the offset silently, which shifts the instant).
    /// </summary>
    public static bool TryTimestamp(ReadOnlySpan<char> value, out DateTime result)
    {
        if (TryIsoTimestamp(value, out var ticks))
        {
            result = new DateTime(ticks, DateTimeKind.Unspecified);
            return true;
        }

        if (TryParseInstant(value, out var instant))
        {
            result = DateTime.SpecifyKind(instant.UtcDateTime, DateTimeKind.Unspecified);
            return true;
        }

        result = default;
        return false;
    }

    /// <summary>An instant; a value without an offset is taken as UTC (the server's session zone is not ours to guess).</summary>
    public static bool TryTimestampTz(ReadOnlySpan<char> value, out DateTime utc)
    {
        if (TryIsoTimestamp(value, out var ticks))
        {
            utc = new DateTime(ticks, DateTimeKind.Utc);
            return true;
        }

        if (TryParseInstant(value, out var instant))
        {
            utc = instant.UtcDateTime;
            return true;
        }

        utc = default;
        return false;
    }

    /// <summary>Whether the text is exactly one well-formed JSON value (with surrounding blanks).</summary>
    public static bool IsJson(ReadOnlySpan<char> value)
    {
        var max = Encoding.UTF8.GetMaxByteCount(value.Length);
        var buffer = ArrayPool<byte>.Shared.Rent(max);
        try
        {
            var length = Encoding.UTF8.GetBytes(value, buffer);
            var reader = new Utf8JsonReader(buffer.AsSpan(0, length), new JsonReaderOptions { CommentHandling = JsonCommentHandling.Disallow });
            var any = false;
            while (reader.Read())
            {
                any = true;
            }

            return any;
        }
        catch (JsonException)
        {
            return false;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    // ---- the common forms, read directly -------------------------------------------------------------------------
    // TryParseExact tries each of the formats in turn and costs about a microsecond a value; a load of a million rows
    // with four date and time columns spent a second of CPU there. The forms nearly every file uses (yyyy-MM-dd, and
    // yyyy-MM-dd HH:mm:ss with an optional fraction and a 'Z', with 'T' or a space) are read here digit by digit. They
    // accept only values that the formats above accept too, with the same result; anything else (blanks around the
    // value, an offset, a date that does not exist, one digit too many) goes to the exact parsers, which decide.

    /// <summary>The value starts with <c>yyyy-MM-dd</c>, a month and a day that exist.</summary>
    private static bool TryIsoDate(ReadOnlySpan<char> value, out int year, out int month, out int day)
    {
        year = month = day = 0;
        if (value.Length < 10 || value[4] != '-' || value[7] != '-'
            || !TryDigits(value[..4], out year) || !TryDigits(value.Slice(5, 2), out month) || !TryDigits(value.Slice(8, 2), out day))
        {
            return false;
        }

        return year >= 1 && month is >= 1 and <= 12 && day >= 1 && day <= DateTime.DaysInMonth(year, month);
    }

    /// <summary>
    /// <c>yyyy-MM-dd HH:mm:ss</c> or with <c>T</c>, an optional fraction of 1 to 7 digits and an optional <c>Z</c>:
    /// the ticks of that wall-clock time (UTC when it says so; a value without an offset is UTC too, see
    /// <see cref="TryTimestampTz"/>).
    /// </summary>
    private static bool TryIsoTimestamp(ReadOnlySpan<char> value, out long ticks)
    {
        ticks = 0;
        if (value.Length < 19 || value[10] is not (' ' or 'T') || value[13] != ':' || value[16] != ':'
            || !TryIsoDate(value, out var year, out var month, out var day)
            || !TryDigits(value.Slice(11, 2), out var hour) || !TryDigits(value.Slice(14, 2), out var minute) || !TryDigits(value.Slice(17, 2), out var second)
            || hour > 23 || minute > 59 || second > 59)
        {
            return false;
        }

        var rest = value[19..];
        if (!rest.IsEmpty && rest[^1] == 'Z')
        {
            rest = rest[..^1];
        }

        long fraction = 0;
        if (!rest.IsEmpty)
        {
            // '.' and 1 to 7 digits, in tenths of a microsecond: "ss.FFFFFFF".
            if (rest[0] != '.' || rest.Length is < 2 or > 8 || !TryDigits(rest[1..], out var digits))
            {
                return false;
            }

            fraction = digits;
            for (var n = rest.Length - 1; n < 7; n++)
            {
                fraction *= 10;
            }
        }

        ticks = new DateTime(year, month, day, hour, minute, second, DateTimeKind.Unspecified).Ticks + fraction;
        return true;
    }

    /// <summary>A run of ASCII digits (at most 9) as a number.</summary>
    private static bool TryDigits(ReadOnlySpan<char> digits, out int value)
    {
        value = 0;
        foreach (var c in digits)
        {
            var d = (uint)(c - '0');
            if (d > 9)
            {
                return false;
            }

            value = (value * 10) + (int)d;
        }

        return true;
    }

    /// <summary>A timestamp's instant by the formats alone (what the direct reader must agree with).</summary>
    internal static bool TryParseInstant(ReadOnlySpan<char> value, out DateTimeOffset result) =>
        DateTimeOffset.TryParseExact(
            value.Trim(), TimestampFormats, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out result);

    private static string[] BuildTimestampFormats()
    {
        string[] times = ["HH:mm:ss.FFFFFFF", "HH:mm"];
        string[] zones = ["", "zzz", "zz", "'Z'"];
        var formats = new List<string>();
        foreach (var separator in new[] { "'T'", " " })
        {
            foreach (var time in times)
            {
                foreach (var zone in zones)
                {
                    formats.Add($"yyyy-MM-dd{separator}{time}{zone}");
                }
            }
        }

        // A bare date is midnight.
        formats.Add("yyyy-MM-dd");
        return [.. formats];
    }
}
