namespace Intake.Formats.Archives;

/// <summary>
/// One file coming out of <see cref="ArchiveExpander"/>. The expander writes nothing itself: the caller decides where
/// <see cref="Name"/> goes (it is already checked to stay inside whatever folder the caller chooses) and reads
/// <see cref="Content"/> once, before asking for the next entry.
/// </summary>
public sealed class ArchiveEntry
{
    private readonly EntryStream _content;

    private readonly bool _fromArchive;

    internal ArchiveEntry(string name, EntryStream content, string archiveName, long? declaredLength, bool fromArchive)
    {
        Name = name;
        _fromArchive = fromArchive;
        _content = content;
        ArchiveName = archiveName;
        DeclaredLength = declaredLength;
    }

    /// <summary>
    /// Relative path with forward slashes, no <c>..</c>, no root, no drive. Entries of a nested archive are under the
    /// nested archive's own path (<c>inner.zip/a.csv</c>); a gzip file gives its name without <c>.gz</c>.
    /// </summary>
    public string Name { get; }

    /// <summary>
    /// The entry's bytes, decompressed while read: forward-only, readable once, valid until the next entry is
    /// requested. Reading it may throw the <c>Integrity</c> error of a truncated or damaged archive, the
    /// <c>Format</c> error of data after its end and the <c>Security</c> error of a bomb, since these are only found
    /// while decompressing. What the caller leaves unread is read by the expander when the next entry is asked for,
    /// through the same checks.
    /// </summary>
    public Stream Content => _content;

    /// <summary>The input's name as given to the expander.</summary>
    public string ArchiveName { get; }

    /// <summary>
    /// Size the archive header claims (zip, tar), or the input's length for a plain seekable file; null when unknown
    /// (gzip, bzip2, xz, zstd). Untrusted: the limits apply to the bytes actually produced.
    /// </summary>
    public long? DeclaredLength { get; }

    /// <summary>
    /// The entry as it reads in messages: <c>archive.zip:dir/a.csv</c>, or the input's name for a plain file
    /// (meant for <see cref="Core.Ports.IRowSource.SourceName"/>).
    /// </summary>
    public string DisplayName => _fromArchive ? $"{ArchiveName}:{Name}" : ArchiveName;

    public override string ToString() => DisplayName;

    internal void Detach() => _content.Detach();
}
