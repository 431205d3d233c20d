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
        missing || (type != ColumnType.Text && value.IsWhiteSpace());

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
        double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out result);

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

    public static bool TryDate(ReadOnlySpan<char> value, out DateOnly result) =>
        DateOnly.TryParseExact(value.Trim(), DateFormats, CultureInfo.InvariantCulture, DateTimeStyles.None, out result);

    /// <summary>
    /// A timestamp without time zone: the wall-clock time as written. When the value carries an offset it is
    /// converted to UTC first (PostgreSQL would drop the offset silently, which shifts the instant).
    /// </summary>
    public static bool TryTimestamp(ReadOnlySpan<char> value, out DateTime result)
    {
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

    private static bool TryParseInstant(ReadOnlySpan<char> value, out DateTimeOffset result) =>
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
