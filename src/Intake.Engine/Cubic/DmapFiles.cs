using System.Globalization;
using System.Text.RegularExpressions;

namespace Intake.Engine.Cubic;

/// <summary>
/// The names of DMAP files: a day's data per file, named by the day, <c>&lt;yyyymmdd&gt;.csv</c>, compressed or not
/// (<c>20220304.csv.gz</c>), or another data-file form the pipeline reads (<c>.ndjson</c>, <c>.zip</c>, …).
/// </summary>
public static partial class DmapFiles
{
    // What may follow the day: data forms, archives and compressions the pipeline's steps read.
    private static readonly HashSet<string> Suffixes = new(StringComparer.OrdinalIgnoreCase)
    {
        "csv", "tsv", "txt", "ndjson", "jsonl", "json", "zip", "tar", "tgz", "gz", "gzip", "bz2", "xz", "zst", "zstd",
    };

    [GeneratedRegex(@"^(?<day>\d{8})(?<suffixes>(\.[A-Za-z0-9]+){1,3})$", RegexOptions.CultureInvariant)]
    private static partial Regex NamePattern();

    /// <summary>The day a DMAP file covers, from its name; the reason when its name names none.</summary>
    public static (DateOnly? Day, string? Problem) DayOf(string sourceKey)
    {
        var name = OdsFiles.FileName(sourceKey);
        var m = NamePattern().Match(name);
        if (!m.Success || m.Groups["suffixes"].Value.Split('.', StringSplitOptions.RemoveEmptyEntries).Any(s => !Suffixes.Contains(s)))
        {
            return (null, $"its name '{name}' is not a day: DMAP files are named <yyyymmdd>.csv (or .csv.gz and the like), e.g. 20220304.csv");
        }

        var digits = m.Groups["day"].Value;
        return DateOnly.TryParseExact(digits, "yyyyMMdd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var day)
            ? (day, null)
            : (null, $"its name '{name}' starts with {digits}, which is not a date (yyyymmdd)");
    }
}
