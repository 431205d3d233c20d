using Intake.Core.Errors;

namespace Intake.Formats.Archives;

/// <summary>
/// The running account of one <see cref="ArchiveExpander.ExpandAsync"/> call, checked against its limits: entries,
/// sizes declared by headers, bytes actually produced, and the names handed out.
/// </summary>
internal sealed class Expansion(ArchiveLimits limits, string archiveName, CountingStream raw, CancellationToken cancellationToken)
{
    private long _expanded;
    private long _declared;
    private int _entries;
    private readonly OutputNames _names = new(archiveName);

    public ArchiveLimits Limits => limits;
    public string ArchiveName => archiveName;
    public CancellationToken CancellationToken => cancellationToken;

    /// <summary>Input bytes known so far; a seekable zip is read behind the counter, so its length is used.</summary>
    public long KnownInputLength { get; set; }

    private long InputBytes => Math.Max(raw.BytesRead, KnownInputLength);

    public void CountEntry(string where)
    {
        if (++_entries > limits.MaxEntries)
        {
            throw IntakeException.Security($"{archiveName}: more than {limits.MaxEntries} entries (limit reached at '{Failures.Printable(where)}'); refusing the archive");
        }
    }

    public void CountEntries(int count, string where)
    {
        if ((long)_entries + count > limits.MaxEntries)
        {
            throw IntakeException.Security($"{archiveName}: '{Failures.Printable(where)}' holds {count} entries, more than the limit of {limits.MaxEntries}; refusing the archive");
        }
    }

    /// <summary>
    /// Adds the size one header declares for an entry still to be decompressed (a zip directory's uncompressed size,
    /// a tar header inside a compressed stream) to the running total of declared sizes, and refuses the archive as
    /// soon as that total passes <see cref="ArchiveLimits.MaxTotalBytes"/>: before anything of it is extracted.
    /// Declared sizes can lie low; the bytes actually produced are checked again in <see cref="OnExpanded"/>.
    /// </summary>
    public void Declare(string entryName, long length, long? compressed)
    {
        long before = _declared;
        _declared = before + Math.Max(length, 0);
        if (_declared > limits.MaxTotalBytes)
        {
            throw IntakeException.Security(
                $"{archiveName}: '{Failures.Printable(entryName)}' declares {length} bytes uncompressed; the entries before it declare {before} bytes, " +
                $"{_declared} with it, past the limit of {limits.MaxTotalBytes} bytes decompressed; refusing a possible decompression bomb before extracting it");
        }
        if (compressed is { } c)
        {
            CheckRatio(length, c, entryName, $"'{Failures.Printable(entryName)}' (by its declared size)");
        }
    }

    /// <summary>Called with every chunk a decompression produces; throws as soon as a limit is passed.</summary>
    public void OnExpanded(int produced, long itemExpanded, long itemCompressed, string itemName)
    {
        long before = _expanded;
        _expanded += produced;
        if (_expanded > limits.MaxTotalBytes)
        {
            throw IntakeException.Security(
                $"{archiveName}: expanding '{Failures.Printable(itemName)}' passes the limit of {limits.MaxTotalBytes} bytes decompressed " +
                $"(the entries so far produced {before} bytes, {itemExpanded} of them from this one, and it has not ended); refusing a possible decompression bomb");
        }
        CheckRatio(itemExpanded, itemCompressed, itemName, $"'{Failures.Printable(itemName)}'");
        CheckRatio(_expanded, InputBytes, itemName, "the input");
    }

    /// <summary>
    /// Records the name of a file the expansion hands out, refusing the archive when it collides with one handed out
    /// before (see <see cref="OutputNames"/>).
    /// </summary>
    public void ClaimOutput(string name, string source) => _names.Claim(name, source);

    private void CheckRatio(long expanded, long compressed, string itemName, string what)
    {
        if (expanded <= limits.RatioGraceBytes)
        {
            return;
        }
        double ratio = expanded / (double)Math.Max(compressed, 1);
        if (ratio > limits.MaxRatio)
        {
            throw IntakeException.Security(
                $"{archiveName}: {what} expands {ratio:0}:1 ({expanded} bytes from {compressed}) while reading '{Failures.Printable(itemName)}', past the limit of {limits.MaxRatio:0.##}:1; refusing a possible decompression bomb");
        }
    }
}

/// <summary>
/// The names of the files one expansion hands out, which the caller writes side by side (the work area) or loads
/// under their names: two that collide would make one overwrite the other, losing its rows without a word.
/// </summary>
/// <remarks>
/// Compared after Intake's own normalisation (forward slashes, no <c>.</c> or empty segments, a compression suffix
/// taken off) and regardless of case: the work area may be a local folder on a file system that does not tell
/// <c>Data.csv</c> from <c>data.csv</c> (Windows, macOS), and an archive must give the same result wherever it is
/// expanded. A name that is a file and also the folder of another (<c>x</c> and <c>x/y.csv</c>) collides too: both
/// cannot be written. Unicode normalisation forms are not compared: the process runs with invariant globalization.
/// </remarks>
internal sealed class OutputNames(string archiveName, bool folders = true)
{
    private readonly Dictionary<string, (string Name, bool IsFolder, string Source)> _claimed = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>Claims <paramref name="name"/> (normalised) for the entry stored as <paramref name="source"/>.</summary>
    public void Claim(string name, string source)
    {
        if (_claimed.TryGetValue(name, out var earlier))
        {
            throw earlier.IsFolder
                ? Collision($"'{Failures.Printable(name)}' is both a file ('{Failures.Printable(source)}') and the folder of '{Failures.Printable(earlier.Source)}'")
                : Collision(Describe(earlier.Name, earlier.Source, name, source));
        }
        if (folders)
        {
            for (int slash = name.IndexOf('/'); slash >= 0; slash = name.IndexOf('/', slash + 1))
            {
                string folder = name[..slash];
                if (!_claimed.TryGetValue(folder, out var holder))
                {
                    _claimed[folder] = (folder, true, source);
                }
                else if (!holder.IsFolder)
                {
                    throw Collision($"'{Failures.Printable(folder)}' is both a file ('{Failures.Printable(holder.Source)}') and the folder of '{Failures.Printable(source)}'");
                }
            }
        }
        _claimed[name] = (name, false, source);
    }

    private static string Describe(string earlierName, string earlierSource, string name, string source)
    {
        if (!string.Equals(earlierName, name, StringComparison.Ordinal))
        {
            return $"entries '{Failures.Printable(earlierSource)}' and '{Failures.Printable(source)}' differ only in case, which the work area may not tell apart";
        }
        return string.Equals(earlierSource, source, StringComparison.Ordinal)
            ? $"two entries are named '{Failures.Printable(name)}'"
            : $"entries '{Failures.Printable(earlierSource)}' and '{Failures.Printable(source)}' both extract to '{Failures.Printable(name)}'";
    }

    private IntakeException Collision(string detail) =>
        IntakeException.Format($"{archiveName}: {detail}; one would replace the other and its rows would be lost, so the archive is refused: rename the entries and send it again");
}
