namespace Intake.Formats.Archives;

/// <summary>
/// Bounds on what one input may expand to. Received files come from outside; these limits are what stands between a
/// crafted archive and a full disk or an exhausted worker, so they are checked while decompressing, never after.
/// </summary>
public sealed class ArchiveLimits
{
    /// <summary>
    /// Most bytes that decompression may produce for one input, over all entries and levels (10 GiB). Stored,
    /// uncompressed data (a plain file, a tar) is not expansion and does not count.
    /// </summary>
    public long MaxTotalBytes { get; set; } = 10L * 1024 * 1024 * 1024;

    /// <summary>
    /// Most expanded bytes per compressed byte (200). Text compresses 5 to 20 times and very repetitive exports up to
    /// about 100; a thousand or more is what bombs look like. Checked per decompression (a gzip stream, a zip entry)
    /// and for the input as a whole.
    /// </summary>
    public double MaxRatio { get; set; } = 200;

    /// <summary>
    /// Expanded size below which the ratio is not enforced (1 MiB): a small file of repeated values can have any
    /// ratio and harms no one.
    /// </summary>
    public long RatioGraceBytes { get; set; } = 1024 * 1024;

    /// <summary>Most members (files, folders, links) over all archives in one input (10,000).</summary>
    public int MaxEntries { get; set; } = 10_000;

    /// <summary>
    /// How many archives inside an archive are opened (1): a <c>.zip</c> or <c>.gz</c> inside a <c>.zip</c> is
    /// expanded, an archive found inside that is passed on as a plain entry. A <c>.tar.gz</c> counts as one archive.
    /// </summary>
    public int NestedLevels { get; set; } = 1;

    /// <summary>
    /// Where zip archives that arrive as a stream are spooled (zip needs random access), and deleted afterwards.
    /// Null: the system temporary folder.
    /// </summary>
    public string? TempDirectory { get; set; }

    /// <summary>
    /// File types that are zip files inside but are documents, not archives (Excel, OpenDocument, Java archives):
    /// passed on whole, never opened.
    /// </summary>
    public ISet<string> PassThroughExtensions { get; init; } = new HashSet<string>(StringComparer.OrdinalIgnoreCase)
    {
        ".xlsx", ".xlsm", ".xlsb", ".xltx", ".docx", ".docm", ".pptx", ".ods", ".odt", ".odp", ".jar", ".apk", ".epub",
    };

    /// <summary>Throws one <see cref="ArgumentException"/> listing every invalid setting.</summary>
    public void Validate()
    {
        var problems = new List<string>();
        if (MaxTotalBytes <= 0)
        {
            problems.Add($"{nameof(MaxTotalBytes)} must be positive (is {MaxTotalBytes})");
        }
        if (!(MaxRatio >= 1))
        {
            problems.Add($"{nameof(MaxRatio)} must be at least 1 (is {MaxRatio})");
        }
        if (RatioGraceBytes < 0)
        {
            problems.Add($"{nameof(RatioGraceBytes)} must not be negative (is {RatioGraceBytes})");
        }
        if (MaxEntries <= 0)
        {
            problems.Add($"{nameof(MaxEntries)} must be positive (is {MaxEntries})");
        }
        if (NestedLevels < 0)
        {
            problems.Add($"{nameof(NestedLevels)} must not be negative (is {NestedLevels})");
        }
        if (PassThroughExtensions is null)
        {
            problems.Add($"{nameof(PassThroughExtensions)} must not be null");
        }
        if (problems.Count > 0)
        {
            throw new ArgumentException("Invalid archive limits: " + string.Join("; ", problems) + ".");
        }
    }
}
