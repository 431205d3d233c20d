using System.Globalization;
using System.Text.RegularExpressions;

namespace Intake.Engine.Configuration;

/// <summary>The duration and size notations used in configuration and on the command line.</summary>
public static partial class Units
{
    public static bool TryParseDuration(string text, out TimeSpan value)
    {
        var m = DurationPattern().Match(text.Trim());
        value = default;
        if (!m.Success)
        {
            return false;
        }

        var n = double.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture);
        value = m.Groups[2].Value switch
        {
            "ms" => TimeSpan.FromMilliseconds(n),
            "" or "s" => TimeSpan.FromSeconds(n),
            "m" => TimeSpan.FromMinutes(n),
            "h" => TimeSpan.FromHours(n),
            "d" => TimeSpan.FromDays(n),
            _ => TimeSpan.Zero,
        };
        return true;
    }

    public static bool TryParseSize(string text, out long value)
    {
        var m = SizePattern().Match(text.Trim());
        value = 0;
        if (!m.Success)
        {
            return false;
        }

        var n = double.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture);
        var unit = m.Groups[2].Value.ToUpperInvariant();
        double factor = unit switch
        {
            "" or "B" => 1,
            "KB" => 1e3,
            "MB" => 1e6,
            "GB" => 1e9,
            "TB" => 1e12,
            "KIB" => 1024,
            "MIB" => 1024 * 1024,
            "GIB" => 1024d * 1024 * 1024,
            "TIB" => 1024d * 1024 * 1024 * 1024,
            _ => -1,
        };
        if (factor < 0)
        {
            return false;
        }

        value = (long)(n * factor);
        return true;
    }

    [GeneratedRegex(@"^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|)$")]
    private static partial Regex DurationPattern();

    [GeneratedRegex(@"^(\d+(?:\.\d+)?)\s*([KMGT]i?B|B|)$", RegexOptions.IgnoreCase)]
    private static partial Regex SizePattern();
}
