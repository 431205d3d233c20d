namespace Intake.Formats.Archives;

/// <summary>Turns a name stored in an archive into a safe relative path, or refuses it.</summary>
internal static class EntryNames
{
    /// <summary>
    /// The normalised relative path (forward slashes, no empty or <c>.</c> segments), or null when nothing is left
    /// (<c>./</c>). Throws a <c>Security</c> error for a root, a drive, a UNC path, a <c>..</c> segment or a NUL.
    /// Backslashes count as separators: archives made on Windows use them, and a Windows caller would.
    /// </summary>
    public static string? MakeSafe(string raw, string archiveName)
    {
        if (raw.Contains('\0', StringComparison.Ordinal))
        {
            throw Failures.Location(archiveName, raw, "contains a NUL character");
        }
        string name = raw.Replace('\\', '/');
        if (name.StartsWith('/'))
        {
            throw Failures.Location(archiveName, raw, "is an absolute path");
        }
        if (name.Length >= 2 && char.IsAsciiLetter(name[0]) && name[1] == ':')
        {
            throw Failures.Location(archiveName, raw, "starts with a drive letter");
        }
        var segments = new List<string>();
        foreach (string segment in name.Split('/'))
        {
            if (segment.Length == 0 || segment == ".")
            {
                continue;
            }
            if (segment == "..")
            {
                throw Failures.Location(archiveName, raw, "climbs out of the extraction folder with '..'");
            }
            segments.Add(segment);
        }
        return segments.Count == 0 ? null : string.Join('/', segments);
    }

    /// <summary>The last segment of the caller's name for the input (it may carry a folder or a key prefix).</summary>
    public static string FileName(string name)
    {
        string normalised = name.Replace('\\', '/').TrimEnd('/');
        int slash = normalised.LastIndexOf('/');
        string last = slash >= 0 ? normalised[(slash + 1)..] : normalised;
        return last.Length == 0 || last == "." || last == ".." ? "data" : last;
    }

    // Suffix of a compressed file, and what the decompressed file is called instead.
    private static readonly (string Suffix, string Replacement)[] CompressionSuffixes =
    [
        (".tgz", ".tar"), (".tbz2", ".tar"), (".tbz", ".tar"), (".txz", ".tar"), (".tzst", ".tar"),
        (".gz", ""), (".gzip", ""), (".bz2", ""), (".xz", ""), (".zst", ""), (".zstd", ""),
    ];

    /// <summary>
    /// <c>a.csv.gz</c> gives <c>a.csv</c>, <c>a.tgz</c> and <c>a.tbz2</c> give <c>a.tar</c>, <c>a.csv.zst</c> gives
    /// <c>a.csv</c>; other names are kept. Any compression suffix is taken off whatever the content turned out to be:
    /// the suffix only names the file, the content decides how it is read.
    /// </summary>
    public static string WithoutCompressionSuffix(string name)
    {
        foreach (var (suffix, replacement) in CompressionSuffixes)
        {
            // Not when nothing would be left of the last segment (a file called ".gz").
            if (name.EndsWith(suffix, StringComparison.OrdinalIgnoreCase) && name.Length > suffix.Length && name[^(suffix.Length + 1)] != '/')
            {
                return name[..^suffix.Length] + replacement;
            }
        }
        return name;
    }
}
