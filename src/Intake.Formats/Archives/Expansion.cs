using Intake.Core.Errors;

namespace Intake.Formats.Archives;

/// <summary>The running account of one <see cref="ArchiveExpander.ExpandAsync"/> call, checked against its limits.</summary>
internal sealed class Expansion(ArchiveLimits limits, string archiveName, CountingStream raw, CancellationToken cancellationToken)
{
    private long _expanded;
    private int _entries;

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
    /// Refuses a zip from its directory alone, before anything is extracted, when the sizes it declares already pass
    /// the limits. (An entry that declares less than it holds is stopped at its declared size while reading.)
    /// </summary>
    public void CheckDeclared(string itemName, IEnumerable<(string Name, long Length, long Compressed)> entries)
    {
        long total = 0;
        foreach (var (name, length, compressed) in entries)
        {
            total += length;
            CheckRatio(length, compressed, name, $"'{Failures.Printable(name)}' (by its declared size)");
        }
        if (_expanded + total > limits.MaxTotalBytes)
        {
            throw IntakeException.Security($"{archiveName}: '{Failures.Printable(itemName)}' declares {total} bytes uncompressed, past the limit of {limits.MaxTotalBytes} bytes; refusing a possible decompression bomb");
        }
    }

    /// <summary>Called with every chunk a decompression produces; throws as soon as a limit is passed.</summary>
    public void OnExpanded(int produced, long itemExpanded, long itemCompressed, string itemName)
    {
        _expanded += produced;
        if (_expanded > limits.MaxTotalBytes)
        {
            throw IntakeException.Security($"{archiveName}: expanding '{Failures.Printable(itemName)}' passes the limit of {limits.MaxTotalBytes} bytes decompressed; refusing a possible decompression bomb");
        }
        CheckRatio(itemExpanded, itemCompressed, itemName, $"'{Failures.Printable(itemName)}'");
        CheckRatio(_expanded, InputBytes, itemName, "the input");
    }

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
