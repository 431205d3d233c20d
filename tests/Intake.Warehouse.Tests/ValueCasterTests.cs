using Intake.Warehouse.Loading;

namespace Intake.Warehouse.Tests;

/// <summary>
/// The common date and time forms are read digit by digit rather than by the format list; every value must come out
/// as the format list reads it (or be refused as it refuses it), since a timestamp off by a fraction or a zone is a
/// wrong value in the warehouse that nobody notices.
/// </summary>
public sealed class ValueCasterTests
{
    public static TheoryData<string> Timestamps => new()
    {
        "2024-02-29 13:14:15", "2024-02-29T13:14:15", "2024-02-29 13:14:15Z", "2024-02-29T13:14:15.1Z",
        "2024-01-02 03:04:05.1", "2024-01-02 03:04:05.12", "2024-01-02 03:04:05.123456", "2024-01-02 03:04:05.1234567",
        "2024-01-02 03:04:05.000001", "2024-01-02 03:04:05.0000001", "2025-12-31 23:59:59.999999", "0001-01-01 00:00:00",
        "9999-12-31 23:59:59.9999999", "1999-12-31 23:59:59.5", "2000-01-01 00:00:00", "1969-07-20 20:17:40",
        // Forms that the direct reader leaves to the formats: each must still read as they say.
        "2024-01-02 03:04:05+02:00", "2024-01-02T03:04:05-05:30", "2024-01-02 03:04:05+02", "2024-01-02T03:04:05.5+01:00",
        " 2024-01-02 03:04:05", "2024-01-02 03:04:05 ", "2024-01-02 03:04", "2024-01-02T03:04Z", "2024-01-02",
        // Not timestamps: refused by both.
        "2024-01-02 03:04:05.12345678", "2024-01-02 03:04:05.", "2024-01-02 24:00:00", "2024-01-02 23:60:00",
        "2024-01-02 23:59:60", "2024-02-30 00:00:00", "2023-02-29 00:00:00", "0000-01-01 00:00:00", "2024-13-01 00:00:00",
        "2024-01-02 03:04:05x", "2024-01-02 03:04:05Zx", "2024-01-02 03:04:05.Z", "2024-01-02x03:04:05", "2024-1-02 03:04:05",
        "2024-01-02 3:04:05", "2024-01-02 03:04:5", "2024-01-02 03:04:05.-1", "2024-01-02 03:04:05.1 ", "+024-01-02 03:04:05",
        "2024-01-02 03:04:05.١", "２０２４-01-02 03:04:05", "",
    };

    [Theory]
    [MemberData(nameof(Timestamps))]
    public void TryTimestamp_ReadsEveryValueAsTheFormatsDo(string value)
    {
        var exact = ValueCaster.TryParseInstant(value, out var instant);

        ValueCaster.TryTimestamp(value, out var local).ShouldBe(exact, value);
        ValueCaster.TryTimestampTz(value, out var utc).ShouldBe(exact, value);
        if (exact)
        {
            local.ShouldBe(DateTime.SpecifyKind(instant.UtcDateTime, DateTimeKind.Unspecified), value);
            local.Kind.ShouldBe(DateTimeKind.Unspecified);
            utc.ShouldBe(instant.UtcDateTime, value);
            utc.Kind.ShouldBe(DateTimeKind.Utc);
        }
    }

    [Fact]
    public void TryTimestamp_WithFractionOfEachLength_KeepsEveryDigit()
    {
        ValueCaster.TryTimestamp("2024-01-02 03:04:05.7", out var tenths).ShouldBeTrue();
        tenths.Ticks.ShouldBe(new DateTime(2024, 1, 2, 3, 4, 5).Ticks + 7_000_000);
        ValueCaster.TryTimestamp("2024-01-02 03:04:05.000123", out var micros).ShouldBeTrue();
        micros.Ticks.ShouldBe(new DateTime(2024, 1, 2, 3, 4, 5).Ticks + 1_230);
        ValueCaster.TryTimestampTz("2024-01-02T03:04:05.9999999Z", out var last).ShouldBeTrue();
        last.Ticks.ShouldBe(new DateTime(2024, 1, 2, 3, 4, 5).Ticks + 9_999_999);
    }

    public static TheoryData<string> Dates => new()
    {
        "2024-02-29", "0001-01-01", "9999-12-31", "2000-01-01", "1900-03-01", "2024-12-31",
        "20240102", "2024/01/02", "2024-1-2", " 2024-01-02", "2024-01-02 ",
        "2023-02-29", "1900-02-29", "2024-04-31", "2024-00-10", "2024-13-10", "0000-01-01", "2024-01-00", "2024-01-02x",
        "2024-01-0x", "2024_01_02", "24-01-02", "2024-01-02T00:00:00", "",
    };

    [Theory]
    [MemberData(nameof(Dates))]
    public void TryDate_ReadsEveryValueAsTheFormatsDo(string value)
    {
        var exact = ValueCaster.TryDateExact(value, out var expected);

        ValueCaster.TryDate(value, out var date).ShouldBe(exact, value);
        date.ShouldBe(expected, value);
    }

    public static TheoryData<string> Doubles => new()
    {
        "0", "-0", "0.0", "-0.0", "1", "-1", "0.1", "0.2", "0.3", "2.5", "-2.5", "123.456", "0.123456", "0.000001", "999.999",
        "9007199254740991", "900719925474099", "123456789012345", "0.123456789012345", "1.23456789012345", "-98765.4321098765",
        "0.30000000000000004", "1234567890123456", "0.1234567890123456", "00000000000000001", "1e5", "1E-3", "+1", " 1", "1 ",
        ".5", "5.", "-", "", "1.2.3", "1,5", "NaN", "Infinity", "-Infinity", "0x10", "١",
    };

    [Theory]
    [MemberData(nameof(Doubles))]
    public void TryDouble_ReadsEveryValueAsTheFrameworkParserDoes(string value)
    {
        var exact = ValueCaster.TryDoubleExact(value, out var expected);

        ValueCaster.TryDouble(value, out var result).ShouldBe(exact, value);
        BitConverter.DoubleToInt64Bits(result).ShouldBe(BitConverter.DoubleToInt64Bits(expected), value);
    }

    [Fact]
    public void TryDouble_OnManyRandomShortDecimals_GivesTheFrameworkParsersDouble()
    {
        var random = new Random(20261204);
        for (var n = 0; n < 200_000; n++)
        {
            var digits = random.NextInt64(0, 1_000_000_000_000_000) / (long)Math.Pow(10, random.Next(0, 16));
            var text = digits.ToString(System.Globalization.CultureInfo.InvariantCulture);
            var point = random.Next(0, text.Length + 1);
            var value = (random.Next(2) == 0 ? "-" : "") + (point == text.Length ? text : $"{text[..point]}{(point == 0 ? "0" : "")}.{text[point..]}");

            ValueCaster.TryDoubleExact(value, out var expected).ShouldBeTrue(value);
            ValueCaster.TryDouble(value, out var result).ShouldBeTrue(value);
            BitConverter.DoubleToInt64Bits(result).ShouldBe(BitConverter.DoubleToInt64Bits(expected), value);
        }
    }
}
