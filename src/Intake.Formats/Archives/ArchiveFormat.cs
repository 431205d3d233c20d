namespace Intake.Formats.Archives;

/// <summary>What the first bytes of an input say it is.</summary>
public enum ArchiveFormat
{
    /// <summary>Not an archive: passed on as it is.</summary>
    Plain,
    Gzip,
    Bzip2,
    Xz,
    Zstd,
    Zip,
    /// <summary>A zip with no entries (only the end-of-central-directory record).</summary>
    EmptyZip,
    Tar,
    /// <summary>A compression or archive recognised but not supported (7z, rar).</summary>
    Unsupported,
    /// <summary>Named like an archive (<c>.zip</c>, <c>.tar</c>, <c>.gz</c>, <c>.bz2</c>, <c>.xz</c>, <c>.zst</c>, ...) without being one.</summary>
    NotWhatItsNameSays,
}

/// <summary>Recognises formats by magic bytes, never by name alone: received files are often misnamed.</summary>
public static class ArchiveFormats
{
    private static readonly string[] ArchiveExtensions =
        [".zip", ".tar", ".gz", ".tgz", ".gzip", ".bz2", ".tbz", ".tbz2", ".xz", ".txz", ".zst", ".zstd", ".tzst"];

    /// <summary>
    /// Detects the format of <paramref name="head"/> (the first 512 bytes, or all of a shorter input). The name is
    /// used only to catch a file that claims to be an archive and is not (an HTML error page saved as
    /// <c>.zip</c>).
    /// </summary>
    public static ArchiveFormat Detect(ReadOnlySpan<byte> head, string name) => Detect(head, name, out _);

    /// <inheritdoc cref="Detect(ReadOnlySpan{byte}, string)"/>
    /// <param name="head">The first bytes.</param>
    /// <param name="name">The file's name.</param>
    /// <param name="unsupportedName">For <see cref="ArchiveFormat.Unsupported"/>: which compression it is.</param>
    public static ArchiveFormat Detect(ReadOnlySpan<byte> head, string name, out string? unsupportedName)
    {
        unsupportedName = null;
        if (head.StartsWith((ReadOnlySpan<byte>)[0x1F, 0x8B]))
        {
            return ArchiveFormat.Gzip;
        }
        // Local file header, or the spanning marker that precedes one in a single-segment spanned archive.
        if (head.StartsWith("PK\x03\x04"u8) || head.StartsWith("PK\x07\x08PK\x03\x04"u8))
        {
            return ArchiveFormat.Zip;
        }
        if (head.StartsWith("PK\x05\x06"u8))
        {
            return ArchiveFormat.EmptyZip;
        }
        // POSIX "ustar\0" and GNU "ustar  " both start with these five bytes at offset 257.
        if (head.Length >= 262 && head.Slice(257, 5).SequenceEqual("ustar"u8))
        {
            return ArchiveFormat.Tar;
        }
        // A tar with no entries is only its end-of-archive marker: zero blocks, without the magic.
        if (head.Length >= 512 && !head[..512].ContainsAnyExcept((byte)0) && name.EndsWith(".tar", StringComparison.OrdinalIgnoreCase))
        {
            return ArchiveFormat.Tar;
        }
        // bzip2: "BZh" and the block size digit; xz: its six-byte stream header magic; zstd: the frame magic 0xFD2FB528.
        if (head.Length >= 4 && head.StartsWith("BZh"u8) && head[3] is >= (byte)'1' and <= (byte)'9')
        {
            return ArchiveFormat.Bzip2;
        }
        if (head.StartsWith(XzMagic))
        {
            return ArchiveFormat.Xz;
        }
        if (head.StartsWith(ZstdMagic))
        {
            return ArchiveFormat.Zstd;
        }
        unsupportedName =
            head.StartsWith((ReadOnlySpan<byte>)[0x37, 0x7A, 0xBC, 0xAF, 0x27, 0x1C]) ? "7z"
            : head.StartsWith("Rar!\x1A\x07"u8) ? "rar"
            : null;
        if (unsupportedName is not null)
        {
            return ArchiveFormat.Unsupported;
        }
        foreach (string extension in ArchiveExtensions)
        {
            if (name.EndsWith(extension, StringComparison.OrdinalIgnoreCase))
            {
                return ArchiveFormat.NotWhatItsNameSays;
            }
        }
        return ArchiveFormat.Plain;
    }

    internal static ReadOnlySpan<byte> XzMagic => [0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00];

    internal static ReadOnlySpan<byte> ZstdMagic => [0x28, 0xB5, 0x2F, 0xFD];

    /// <summary>Whether the format is a single compressed stream (gzip, bzip2, xz, zstd) rather than a container.</summary>
    internal static bool IsCompression(ArchiveFormat format) =>
        format is ArchiveFormat.Gzip or ArchiveFormat.Bzip2 or ArchiveFormat.Xz or ArchiveFormat.Zstd;

    internal static string Describe(ArchiveFormat format) => format switch
    {
        ArchiveFormat.Gzip => "gzip",
        ArchiveFormat.Bzip2 => "bzip2",
        ArchiveFormat.Xz => "xz",
        ArchiveFormat.Zstd => "zstd",
        ArchiveFormat.Zip or ArchiveFormat.EmptyZip => "zip",
        ArchiveFormat.Tar => "tar",
        _ => format.ToString().ToLowerInvariant(),
    };

    internal static string Hex(ReadOnlySpan<byte> head) => Convert.ToHexString(head[..Math.Min(8, head.Length)]);
}
