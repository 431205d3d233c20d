using System.Globalization;

namespace Intake.Server.Ui;

/// <summary>How the UI writes times, durations, counts and sizes: UTC, invariant culture, the exact number beside a rounded one.</summary>
public static class UiFormat
{
    /// <summary>Machine-readable, for &lt;time datetime&gt;.</summary>
    public static string Iso(DateTimeOffset t) => t.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ss.fffZ", CultureInfo.InvariantCulture);

    public static string Time(DateTimeOffset t) => t.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture) + " UTC";

    public static string Duration(TimeSpan d) => d.TotalSeconds switch
    {
        < 0 => "0 s",
        < 1 => ((int)d.TotalMilliseconds).ToString(CultureInfo.InvariantCulture) + " ms",
        < 60 => d.TotalSeconds.ToString("0.0", CultureInfo.InvariantCulture) + " s",
        < 3600 => $"{(int)d.TotalMinutes} min {d.Seconds} s",
        _ => $"{(int)d.TotalHours} h {d.Minutes} min",
    };

    public static string Count(long n) => n.ToString("#,0", CultureInfo.InvariantCulture);

    public static string Bytes(long n)
    {
        if (n < 1024)
        {
            return Count(n) + " B";
        }

        string[] units = ["KiB", "MiB", "GiB", "TiB"];
        double value = n;
        var unit = -1;
        while (value >= 1024 && unit < units.Length - 1)
        {
            value /= 1024;
            unit++;
        }

        return value.ToString("0.0", CultureInfo.InvariantCulture) + " " + units[unit];
    }
}
