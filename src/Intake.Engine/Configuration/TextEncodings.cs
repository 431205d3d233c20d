using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace Intake.Engine.Configuration;

/// <summary>
/// The encoding names a pipeline may give in <c>csv.encoding</c>: every name .NET knows, the Windows and other code
/// pages included (their provider is registered once, the first time a name is looked up, which is when the
/// configuration is loaded), plus the spellings people copy from other tools that .NET does not know: <c>cp932</c>,
/// <c>windows1252</c>, <c>ibm500</c> (a code page number after a prefix), <c>utf8</c>, <c>latin-1</c>,
/// <c>iso8859-15</c>, <c>iso_8859_15</c>.
/// </summary>
public static partial class TextEncodings
{
    /// <summary>
    /// Names offered as close matches besides .NET's own list (which holds only one name per encoding), most used
    /// first: among equally close names the earlier one is offered first.
    /// </summary>
    private static readonly string[] CommonNames =
    [
        "utf-8", "windows-1252", "latin1", "iso-8859-1", "iso-8859-15", "utf-16", "ascii", "cp1252", "shift_jis",
        "windows-1250", "windows-1251", "iso-8859-2", "utf-16le", "utf-16be", "utf-32", "us-ascii", "windows-1253",
        "windows-1254", "windows-1257", "cp437", "cp850", "euc-jp", "euc-kr", "gb2312", "gbk", "gb18030", "big5", "koi8-r", "koi8-u",
    ];

    private static readonly string[] KnownNames = RegisterAndList();

    private static string[] RegisterAndList()
    {
        Encoding.RegisterProvider(CodePagesEncodingProvider.Instance);
        return [.. CommonNames.Concat(Encoding.GetEncodings().Select(e => e.Name.ToLowerInvariant())).Distinct(StringComparer.Ordinal)];
    }

    /// <summary>The encoding called <paramref name="name"/> (any case), or false when no encoding has that name.</summary>
    public static bool TryGet(string name, [NotNullWhen(true)] out Encoding? encoding)
    {
        ArgumentNullException.ThrowIfNull(name);
        _ = KnownNames.Length; // the code pages are registered before the first look-up
        var lower = name.Trim().ToLowerInvariant();
        foreach (var candidate in Spellings(lower))
        {
            if (TryNamed(candidate, out encoding))
            {
                return true;
            }
        }

        if (CodePageAlias().Match(lower) is { Success: true } m
            && int.TryParse(m.Groups["page"].Value, NumberStyles.None, CultureInfo.InvariantCulture, out var page))
        {
            try
            {
                encoding = Encoding.GetEncoding(page);
                return true;
            }
            catch (Exception e) when (e is ArgumentException or NotSupportedException)
            {
                // no such code page
            }
        }

        encoding = null;
        return false;
    }

    /// <summary>The encoding called <paramref name="name"/>; the configuration was checked at load, so an unknown name here is a bug.</summary>
    public static Encoding Get(string name) =>
        TryGet(name, out var encoding) ? encoding : throw new ArgumentException($"'{name}' is not a known encoding.", nameof(name));

    /// <summary>Up to three known names closest to <paramref name="name"/> (edit distance), for "did you mean".</summary>
    public static IReadOnlyList<string> CloseMatches(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        var lower = name.Trim().ToLowerInvariant();
        var limit = Math.Max(2, lower.Length / 3);
        return [.. KnownNames
            .Select(known => (Name: known, Distance: Distance(lower, known)))
            .Where(x => x.Distance <= limit)
            .OrderBy(x => x.Distance)
            .ThenBy(x => Array.IndexOf(CommonNames, x.Name) is var i && i < 0 ? int.MaxValue : i)
            .ThenBy(x => x.Name, StringComparer.Ordinal)
            .Select(x => x.Name)
            .Take(3)];
    }

    private static IEnumerable<string> Spellings(string lower)
    {
        yield return lower;
        var dashed = lower.Replace('_', '-');
        if (dashed != lower)
        {
            yield return dashed;
        }

        if (UtfWithoutDash().Match(dashed) is { Success: true } utf)
        {
            yield return $"utf-{utf.Groups["bits"].Value}{utf.Groups["order"].Value}";
        }

        if (LatinWithDash().Match(dashed) is { Success: true } latin)
        {
            yield return "latin" + latin.Groups["n"].Value;
        }

        if (IsoWithoutDash().Match(dashed) is { Success: true } iso)
        {
            yield return "iso-8859-" + iso.Groups["part"].Value;
        }
    }

    private static bool TryNamed(string name, [NotNullWhen(true)] out Encoding? encoding)
    {
        try
        {
            encoding = Encoding.GetEncoding(name);
            return true;
        }
        catch (ArgumentException)
        {
            encoding = null;
            return false;
        }
    }

    /// <summary>Levenshtein distance: insertions, deletions and substitutions each cost one.</summary>
    private static int Distance(string a, string b)
    {
        var previous = new int[b.Length + 1];
        var current = new int[b.Length + 1];
        for (var j = 0; j <= b.Length; j++)
        {
            previous[j] = j;
        }

        for (var i = 1; i <= a.Length; i++)
        {
            current[0] = i;
            for (var j = 1; j <= b.Length; j++)
            {
                var substitution = previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
                current[j] = Math.Min(Math.Min(previous[j] + 1, current[j - 1] + 1), substitution);
            }

            (previous, current) = (current, previous);
        }

        return previous[b.Length];
    }

    [GeneratedRegex(@"^(cp|ibm|windows|win|ms|x-cp)[-_]?(?<page>\d{3,5})$")]
    private static partial Regex CodePageAlias();

    [GeneratedRegex(@"^utf-?(?<bits>8|16|32)(?:-?(?<order>le|be))?$")]
    private static partial Regex UtfWithoutDash();

    [GeneratedRegex(@"^latin-(?<n>\d{1,2})$")]
    private static partial Regex LatinWithDash();

    [GeneratedRegex(@"^iso-?8859-?(?<part>\d{1,2})$")]
    private static partial Regex IsoWithoutDash();
}
