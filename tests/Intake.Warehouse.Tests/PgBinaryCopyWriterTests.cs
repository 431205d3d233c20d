using System.Globalization;
using Intake.Core.Ports;
using Intake.Warehouse.Loading;
using Intake.Warehouse.Postgres;

namespace Intake.Warehouse.Tests;

/// <summary>
/// Plain decimals are encoded as PostgreSQL numerics straight from their digits; each must give the very bytes that the
/// general path (through <see cref="decimal"/>) gives, or be left to it. A wrong weight or scale is a value off by a
/// power of ten in the warehouse.
/// </summary>
public sealed class PgBinaryCopyWriterTests
{
    public static TheoryData<string> Plain => new()
    {
        "0", "0.00", "-0", "-0.00", "1", "-1", "1.5", "-1.5", "-0.5", "0.5", "0.0001", "0.00001", "0.00000001", "1.50", "1.500",
        "10", "100", "1000", "9999", "10000", "10001", "99999999", "100000000", "100000000.0001", "12345678.9", "007.50",
        "0000", "0.10000", "123.4567", "123.45678", "1234.5678", "12345.6789", "98765.43210", "5.00000", "2024.0001",
        "1234567890123456789.123456789", "-1234567890123456789.123456789", "9999999999999999999999999999", "0.1234567890123456789012345678",
        "-0.0000000000000000000000000001", "1000000000000000000000000000", "3141.59265358979323846264338",
    };

    [Theory]
    [MemberData(nameof(Plain))]
    public void TryWriteNumeric_GivesTheBytesOfTheDecimalPath(string value)
    {
        var direct = Writer();
        direct.TryWriteNumeric(value).ShouldBeTrue(value);
        var general = Writer();
        general.WriteDecimal(decimal.Parse(value, NumberStyles.Float, CultureInfo.InvariantCulture));

        direct.Pending.ToArray().ShouldBe(general.Pending.ToArray(), value);
    }

    [Theory]
    [InlineData("")]
    [InlineData("-")]
    [InlineData(".5")]
    [InlineData("5.")]
    [InlineData("+5")]
    [InlineData(" 5")]
    [InlineData("5 ")]
    [InlineData("1e5")]
    [InlineData("1.2.3")]
    [InlineData("1,5")]
    [InlineData("--1")]
    [InlineData("١٢")]
    [InlineData("79228162514264337593543950335")] // 29 digits: beyond what the direct path takes
    [InlineData("0.12345678901234567890123456789")]
    [InlineData("12345678901234567890.123456789")]
    public void TryWriteNumeric_LeavesOtherFormsToTheGeneralPath(string value)
    {
        var writer = Writer();

        writer.TryWriteNumeric(value).ShouldBeFalse(value);
        writer.Pending.Length.ShouldBe(0);
    }

    private static PgBinaryCopyWriter Writer() =>
        new(Stream.Null, new CopyPlan([new TargetColumn("v", ColumnType.Decimal, "numeric", Nullable: true, HasDefault: false)], [0]), loadId: 1);
}
