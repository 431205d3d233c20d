using System.Globalization;
using System.Text.RegularExpressions;

namespace Intake.Sources.Ftp;

/// <summary>
/// Pure parsers for the text FTP servers send: listings (MLSD facts, unix and DOS style LIST lines),
/// passive-mode replies, timestamps, PWD and FEAT. Kept apart from the socket code so every odd server
/// format can be tested without a server.
/// </summary>
internal static partial class FtpParsing
{
    private static readonly string[] Months = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];

    /// <summary>Parses one MLSD line (<c>type=file;size=12;modify=20260101120000; name</c>); false for '.', '..' and junk.</summary>
    public static bool TryParseMlsdLine(string line, out FtpListItem item)
    {
        item = null!;
        // RFC 3659: facts, each ending with ';', then exactly one space, then the name (which may hold
        // spaces and ';'). A line without facts starts with the space.
        var space = line.IndexOf(' ', StringComparison.Ordinal);
        if (space < 0 || space == line.Length - 1)
        {
            return false;
        }

        var name = line[(space + 1)..];
        var type = FtpItemType.Other;
        long? size = null;
        DateTimeOffset? modified = null;
        var typeSeen = false;
        foreach (var fact in line[..space].Split(';', StringSplitOptions.RemoveEmptyEntries))
        {
            var eq = fact.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0)
            {
                continue;
            }

            var key = fact[..eq];
            var value = fact[(eq + 1)..];
            if (key.Equals("type", StringComparison.OrdinalIgnoreCase))
            {
                typeSeen = true;
                if (value.Equals("cdir", StringComparison.OrdinalIgnoreCase) || value.Equals("pdir", StringComparison.OrdinalIgnoreCase))
                {
                    return false; // the folder itself and its parent
                }

                type = value.ToLowerInvariant() switch
                {
                    "file" => FtpItemType.File,
                    "dir" => FtpItemType.Directory,
                    var v when v.StartsWith("os.unix=slink", StringComparison.Ordinal) || v.StartsWith("os.unix=symlink", StringComparison.Ordinal) => FtpItemType.Link,
                    _ => FtpItemType.Other,
                };
            }
            else if (key.Equals("size", StringComparison.OrdinalIgnoreCase) &&
                     long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var s))
            {
                size = s;
            }
            else if (key.Equals("modify", StringComparison.OrdinalIgnoreCase) && TryParseTimeVal(value, out var m))
            {
                modified = m;
            }
        }

        if (!typeSeen || name is "." or ".." || name.Contains('/', StringComparison.Ordinal))
        {
            return false;
        }

        item = new FtpListItem(name, type, size, modified, modified is not null);
        return true;
    }

    /// <summary>
    /// Parses one LIST line in unix <c>ls -l</c> style or in the DOS/IIS style; false for totals, '.', '..'
    /// and lines in no known format. <paramref name="now"/> supplies the year unix lines leave out.
    /// </summary>
    public static bool TryParseListLine(string line, DateTimeOffset now, out FtpListItem item)
    {
        item = null!;
        if (line.Length == 0)
        {
            return false;
        }

        var ok = char.IsAsciiDigit(line[0]) ? TryParseDosLine(line, out item) : TryParseUnixLine(line, now, out item);
        return ok && item.Name is not ("." or "..") && !item.Name.Contains('/', StringComparison.Ordinal);
    }

    private static bool TryParseUnixLine(string line, DateTimeOffset now, out FtpListItem item)
    {
        item = null!;
        var type = line[0] switch
        {
            '-' => FtpItemType.File,
            'd' => FtpItemType.Directory,
            'l' => FtpItemType.Link,
            'b' or 'c' or 'p' or 's' or 'D' => FtpItemType.Other,
            _ => (FtpItemType?)null,
        };
        if (type is null)
        {
            return false; // "total 12" and other noise
        }

        // Tokens with their positions: "perms links owner [group] size month day time-or-year name".
        // The group is missing on some servers, so the size is found as the number right before a
        // month name followed by a day and a time or year.
        var tokens = new List<(int Start, int End)>(10);
        var i = 0;
        while (i < line.Length && tokens.Count < 10)
        {
            while (i < line.Length && line[i] == ' ')
            {
                i++;
            }

            var start = i;
            while (i < line.Length && line[i] != ' ')
            {
                i++;
            }

            if (i > start)
            {
                tokens.Add((start, i));
            }
        }

        for (var s = 1; s + 3 < tokens.Count; s++)
        {
            var sizeText = line.AsSpan(tokens[s].Start, tokens[s].End - tokens[s].Start);
            var monthText = line.AsSpan(tokens[s + 1].Start, tokens[s + 1].End - tokens[s + 1].Start);
            var dayText = line.AsSpan(tokens[s + 2].Start, tokens[s + 2].End - tokens[s + 2].Start);
            var timeText = line.AsSpan(tokens[s + 3].Start, tokens[s + 3].End - tokens[s + 3].Start);
            if (!long.TryParse(sizeText, NumberStyles.None, CultureInfo.InvariantCulture, out var size) ||
                MonthIndex(monthText) is not { } month ||
                !int.TryParse(dayText, NumberStyles.None, CultureInfo.InvariantCulture, out var day) || day is < 1 or > 31 ||
                !TryParseUnixTime(timeText, month, day, now, out var modified))
            {
                continue;
            }

            // ls pads the time-or-year column to a fixed width, then writes one space and the name, so
            // a name's own leading spaces survive.
            var nameStart = tokens[s + 3].End + 1;
            if (nameStart >= line.Length)
            {
                return false;
            }

            var name = line[nameStart..];
            if (type == FtpItemType.Link && name.IndexOf(" -> ", StringComparison.Ordinal) is var arrow and > 0)
            {
                name = name[..arrow];
            }

            item = new FtpListItem(name, type.Value, size, modified, ModifiedIsExact: false);
            return true;
        }

        return false;
    }

    private static bool TryParseUnixTime(ReadOnlySpan<char> text, int month, int day, DateTimeOffset now, out DateTimeOffset modified)
    {
        modified = default;
        if (text.Length == 4 && int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var year))
        {
            return TryDate(year, month, day, 0, 0, out modified);
        }

        if (text.Length is 4 or 5 && text.IndexOf(':') is var colon and > 0 &&
            int.TryParse(text[..colon], NumberStyles.None, CultureInfo.InvariantCulture, out var hour) && hour < 24 &&
            int.TryParse(text[(colon + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out var minute) && minute < 60)
        {
            // ls shows "HH:MM" for the last six months and leaves the year out: it is this year, unless
            // that date lies ahead (more than a day, for time zones), in which case it is last year.
            if (TryDate(now.Year, month, day, hour, minute, out modified) && modified <= now.AddDays(1))
            {
                return true;
            }

            return TryDate(now.Year - 1, month, day, hour, minute, out modified);
        }

        return false;
    }

    [GeneratedRegex(@"^(\d{2})-(\d{2})-(\d{2}|\d{4}) +(\d{1,2}):(\d{2}) *([AaPp][Mm])? +(<DIR>|\d+) +(.+)$", RegexOptions.CultureInvariant)]
    private static partial Regex DosLine();

    private static bool TryParseDosLine(string line, out FtpListItem item)
    {
        // IIS style: "01-15-24  10:20AM       <DIR>          folder" or "01-15-2024  22:20  1234 file.csv".
        item = null!;
        var m = DosLine().Match(line);
        if (!m.Success)
        {
            return false;
        }

        int Number(int group) => int.Parse(m.Groups[group].ValueSpan, NumberStyles.None, CultureInfo.InvariantCulture);
        var year = Number(3);
        if (m.Groups[3].Length == 2)
        {
            year += year < 70 ? 2000 : 1900;
        }

        var hour = Number(4);
        if (m.Groups[6].Success)
        {
            var pm = char.ToUpperInvariant(m.Groups[6].Value[0]) == 'P';
            hour = (hour % 12) + (pm ? 12 : 0);
        }

        if (!TryDate(year, Number(1), Number(2), hour, Number(5), out var modified))
        {
            return false;
        }

        var isDir = m.Groups[7].Value == "<DIR>";
        long? size = isDir ? null : long.Parse(m.Groups[7].ValueSpan, NumberStyles.None, CultureInfo.InvariantCulture);
        item = new FtpListItem(m.Groups[8].Value, isDir ? FtpItemType.Directory : FtpItemType.File, size, modified, ModifiedIsExact: false);
        return true;
    }

    /// <summary>Parses an RFC 3659 time-val (<c>YYYYMMDDHHMMSS[.sss]</c>, UTC), as in MDTM replies and MLSD facts.</summary>
    public static bool TryParseTimeVal(ReadOnlySpan<char> text, out DateTimeOffset value)
    {
        value = default;
        text = text.Trim();
        if (text.Length < 14)
        {
            return false;
        }

        var fraction = 0.0;
        if (text.Length > 14)
        {
            if (text[14] != '.' || text.Length == 15 ||
                !double.TryParse(text[14..], NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out fraction))
            {
                return false;
            }
        }

        if (!DateTime.TryParseExact(text[..14], "yyyyMMddHHmmss", CultureInfo.InvariantCulture,
                DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out var time))
        {
            return false;
        }

        value = new DateTimeOffset(DateTime.SpecifyKind(time, DateTimeKind.Utc)).AddTicks((long)Math.Round(fraction * TimeSpan.TicksPerSecond));
        return true;
    }

    /// <summary>The port of a <c>229 Entering Extended Passive Mode (|||40123|)</c> reply (RFC 2428).</summary>
    public static bool TryParseEpsvPort(string text, out int port)
    {
        port = 0;
        var open = text.IndexOf('(', StringComparison.Ordinal);
        var close = text.LastIndexOf(')');
        if (open < 0 || close < open + 5)
        {
            return false;
        }

        // "(<d><d><d><port><d>)" where <d> is any one printable delimiter, usually '|'.
        var inner = text.AsSpan(open + 1, close - open - 1);
        var d = inner[0];
        if (inner.Length < 5 || inner[1] != d || inner[2] != d || inner[^1] != d)
        {
            return false;
        }

        return int.TryParse(inner[3..^1], NumberStyles.None, CultureInfo.InvariantCulture, out port) && port is > 0 and < 65536;
    }

    [GeneratedRegex(@"(\d{1,3}),\s*(\d{1,3}),\s*(\d{1,3}),\s*(\d{1,3}),\s*(\d{1,3}),\s*(\d{1,3})", RegexOptions.CultureInvariant)]
    private static partial Regex PasvNumbers();

    /// <summary>The address and port of a <c>227 Entering Passive Mode (h1,h2,h3,h4,p1,p2)</c> reply.</summary>
    public static bool TryParsePasv(string text, out string address, out int port)
    {
        address = "";
        port = 0;
        var m = PasvNumbers().Match(text);
        if (!m.Success)
        {
            return false;
        }

        var n = new int[6];
        for (var i = 0; i < 6; i++)
        {
            n[i] = int.Parse(m.Groups[i + 1].ValueSpan, NumberStyles.None, CultureInfo.InvariantCulture);
            if (n[i] > 255)
            {
                return false;
            }
        }

        address = string.Create(CultureInfo.InvariantCulture, $"{n[0]}.{n[1]}.{n[2]}.{n[3]}");
        port = (n[4] * 256) + n[5];
        return port > 0;
    }

    /// <summary>The folder of a <c>257 "/some ""quoted"" dir" is current directory</c> reply.</summary>
    public static string? ParsePwd(string text)
    {
        var open = text.IndexOf('"', StringComparison.Ordinal);
        if (open < 0)
        {
            return null;
        }

        var path = new System.Text.StringBuilder();
        for (var i = open + 1; i < text.Length; i++)
        {
            if (text[i] != '"')
            {
                path.Append(text[i]);
            }
            else if (i + 1 < text.Length && text[i + 1] == '"')
            {
                path.Append('"'); // RFC 959: a quote inside the name is doubled
                i++;
            }
            else
            {
                return path.ToString();
            }
        }

        return null;
    }

    /// <summary>The features of a FEAT reply: keyword (upper case) to its parameters, e.g. MLST to "type*;size*;modify*;".</summary>
    public static Dictionary<string, string> ParseFeatures(string text)
    {
        var features = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        var lines = text.Split('\n');
        // The first and last lines are "Features:" and "End"; feature lines start with a space.
        foreach (var raw in lines)
        {
            if (raw.Length < 2 || raw[0] != ' ')
            {
                continue;
            }

            var line = raw.Trim();
            var space = line.IndexOf(' ', StringComparison.Ordinal);
            var key = (space < 0 ? line : line[..space]).ToUpperInvariant();
            features[key] = space < 0 ? "" : line[(space + 1)..].Trim();
        }

        return features;
    }

    private static int? MonthIndex(ReadOnlySpan<char> text)
    {
        if (text.Length != 3)
        {
            return null;
        }

        for (var i = 0; i < Months.Length; i++)
        {
            if (text.Equals(Months[i], StringComparison.OrdinalIgnoreCase))
            {
                return i + 1;
            }
        }

        return null;
    }

    private static bool TryDate(int year, int month, int day, int hour, int minute, out DateTimeOffset value)
    {
        value = default;
        if (year is < 1 or > 9999 || month is < 1 or > 12 || day < 1 || day > DateTime.DaysInMonth(year, month) || hour > 23 || minute > 59)
        {
            return false;
        }

        value = new DateTimeOffset(year, month, day, hour, minute, 0, TimeSpan.Zero);
        return true;
    }
}
