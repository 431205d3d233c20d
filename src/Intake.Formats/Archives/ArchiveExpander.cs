using System.Formats.Tar;
using System.IO.Compression;
using System.Runtime.CompilerServices;
using Intake.Core.Errors;

namespace Intake.Formats.Archives;

/// <summary>
/// Opens received files whatever they are: gzip, bzip2, xz, zstd (also around a tar: <c>.tar.gz</c>,
/// <c>.tar.bz2</c>, <c>.tar.xz</c>, <c>.tar.zst</c>), zip, tar, or plain data, recognised by their magic bytes;
/// archives inside archives up to <see cref="ArchiveLimits.NestedLevels"/>. Everything streams: an entry is
/// decompressed while the caller reads it, so memory stays flat whatever the sizes, and the limits are enforced on
/// the bytes as they come out.
/// </summary>
/// <remarks>
/// <para>
/// This walk is the one decision on an archive: the <c>decompress</c> step and the streamed load both run it, and
/// whatever the caller reads of an entry, the expander reads the rest itself before the next one (sizes, checksums
/// and limits checked to the end), so the outcome never depends on the caller.
/// </para>
/// <para>
/// Failures are <see cref="IntakeException"/>s naming the input and the entry: <c>Security</c> for a path that
/// leaves the extraction folder, a link or device entry, and a bomb (ratio, total size, entry count, declared or
/// produced); <c>Integrity</c> for bytes that disagree with themselves or with their headers (truncated, a
/// checksum or size mismatch, compressed data that does not decode); <c>Format</c> for a file that is not the
/// archive it claims to be, a structurally invalid one, an unsupported entry type or method, and entries whose names
/// collide; <c>Empty</c> for an empty input or an archive with nothing in it. Empty members are skipped: there is
/// nothing to load from them. docs/formats.md lists them all.
/// </para>
/// </remarks>
public sealed class ArchiveExpander
{
    public ArchiveExpander(ArchiveLimits? limits = null)
    {
        Limits = limits ?? new ArchiveLimits();
        Limits.Validate();
    }

    public ArchiveLimits Limits { get; }

    /// <summary>
    /// The files in <paramref name="input"/> (read forward once, left open). Each entry's content is valid until the
    /// next one is requested. <paramref name="name"/> is the input's file name (a folder or key prefix is ignored),
    /// used for messages, to name the entry of a plain or gzip file, and to catch a misnamed file.
    /// </summary>
    public async IAsyncEnumerable<ArchiveEntry> ExpandAsync(Stream input, string name, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        if (!input.CanRead)
        {
            throw new ArgumentException("The input stream is not readable.", nameof(input));
        }

        // A seekable input at its start lets a zip be read in place instead of spooled.
        Stream? seekable = input.CanSeek && input.Position == 0 ? input : null;
        var raw = new CountingStream(input);
        var expansion = new Expansion(Limits, name, raw, cancellationToken);
        var head = new PeekStream(raw, disposeInner: false);
        await head.FillAsync(cancellationToken);
        if (head.Head.IsEmpty)
        {
            throw IntakeException.Empty($"{name} is empty (0 bytes)");
        }

        string fileName = EntryNames.FileName(name);
        int yielded = 0;
        await foreach (var entry in ExpandItemAsync(expansion, new Item(head, fileName, fileName, "", 0, Seekable: seekable, DeclaredLength: seekable?.Length)))
        {
            yielded++;
            yield return entry;
        }
        if (yielded == 0)
        {
            throw IntakeException.Empty($"{name}: the archive holds no file with content");
        }
    }

    /// <summary>
    /// <see cref="ExpandAsync"/> for synchronous callers (it blocks on the asynchronous reads of the archive's
    /// structure; the entries' content is read synchronously anyway).
    /// </summary>
    public IEnumerable<ArchiveEntry> Expand(Stream input, string name) => ExpandAsync(input, name).ToBlockingEnumerable();

    /// <summary>One item: the input, a member of an archive, or the decompressed content of either.</summary>
    /// <param name="Content">Its bytes, the first of them already read into <see cref="PeekStream.Head"/>.</param>
    /// <param name="Name">Its normalised path: the name it is handed out under if it is not an archive.</param>
    /// <param name="Source">Its name as stored in the archive, for messages about colliding names.</param>
    /// <param name="ChildPrefix">Prefix for the names of its members if it is an archive.</param>
    /// <param name="Depth">0 for the input, 1 for members of the input's archive, and so on.</param>
    /// <param name="Decompressed">It is the decompressed content of a compressed item of the same depth.</param>
    /// <param name="Seekable">The same bytes, seekable from the start (a zip is then read in place).</param>
    /// <param name="DeclaredLength">Its size as a header declares it.</param>
    /// <param name="DirectoryChecked">A zip whose directory was already checked and counted (see <see cref="SpoolNestedZipsAsync"/>).</param>
    private sealed record Item(
        PeekStream Content, string Name, string Source, string ChildPrefix, int Depth,
        bool Decompressed = false, Stream? Seekable = null, long? DeclaredLength = null, bool DirectoryChecked = false);

    /// <summary>Yields the item, or what it contains.</summary>
    private async IAsyncEnumerable<ArchiveEntry> ExpandItemAsync(Expansion x, Item item)
    {
        var content = item.Content;
        var format = FormatOf(item.Content.Head, item.Name, item.Depth, out string? unsupported);

        switch (format)
        {
            case ArchiveFormat.Plain:
                x.ClaimOutput(item.Name, item.Source);
                if (content.Head.IsEmpty)
                {
                    yield break;
                }
                var stream = new EntryStream(content, x.ArchiveName, item.Name);
                var entry = new ArchiveEntry(item.Name, stream, x.ArchiveName, item.DeclaredLength, fromArchive: item.Depth > 0 || item.Decompressed);
                try
                {
                    yield return entry;
                }
                finally
                {
                    entry.Detach();
                }
                // The caller asked for the next entry: what it left unread is read now, through the same checks.
                await stream.DrainAsync(x.CancellationToken);
                break;

            case ArchiveFormat.NotWhatItsNameSays:
                throw IntakeException.Format(
                    $"{Where(x, item.Name)} is neither zip nor tar nor gzip, bzip2, xz or zstd, although its name says it is an archive (it starts with {ArchiveFormats.Hex(content.Head)})");

            case ArchiveFormat.Unsupported:
                throw IntakeException.Format($"{Where(x, item.Name)} is a {unsupported} archive, which is not supported; send zip, tar, gzip, bzip2, xz or zstd");

            case ArchiveFormat.EmptyZip:
                break;

            case var compressed when ArchiveFormats.IsCompression(compressed) && item.Decompressed:
                // A compressed stream inside a compressed stream is an archive inside an archive: one more level.
                await foreach (var e in ExpandItemAsync(x, item with { Depth = item.Depth + 1, Decompressed = false, Seekable = null, DeclaredLength = null }))
                {
                    yield return e;
                }
                break;

            case var compressed when ArchiveFormats.IsCompression(compressed):
                await foreach (var e in ExpandCompressedAsync(x, item, compressed))
                {
                    yield return e;
                }
                break;

            case ArchiveFormat.Tar:
                await foreach (var e in ExpandTarAsync(x, item))
                {
                    yield return e;
                }
                break;

            case ArchiveFormat.Zip:
                await foreach (var e in ExpandZipAsync(x, item))
                {
                    yield return e;
                }
                break;

            default:
                throw new InvalidOperationException($"Unhandled format {format}.");
        }
    }

    /// <summary>What an item is treated as: deeper archives and documents that happen to be zip files are plain.</summary>
    private ArchiveFormat FormatOf(ReadOnlySpan<byte> head, string name, int depth, out string? unsupported)
    {
        var format = ArchiveFormats.Detect(head, name, out unsupported);
        return format != ArchiveFormat.Plain && (depth > Limits.NestedLevels || IsPassThrough(name)) ? ArchiveFormat.Plain : format;
    }

    private async IAsyncEnumerable<ArchiveEntry> ExpandCompressedAsync(Expansion x, Item item, ArchiveFormat format)
    {
        Stream decoder;
        Func<long> compressedBytes;
        if (format == ArchiveFormat.Gzip)
        {
            var gzip = new GzipDecoder(item.Content);
            (decoder, compressedBytes) = (gzip, () => gzip.CompressedBytesRead);
        }
        else
        {
            var library = new LibraryDecoder(item.Content, format);
            (decoder, compressedBytes) = (library, () => library.CompressedBytesRead);
        }
        var decompressed = new PeekStream(new MeteredStream(decoder, x, compressedBytes, item.Name, disposeInner: true), disposeInner: true);
        await using (decompressed)
        {
            await Failures.GuardAsync(() => decompressed.FillAsync(x.CancellationToken), x.ArchiveName, item.Name);
            // A .tar.gz or .zip.gz is one archive at this depth, its members named as the tar's or zip's.
            var inner = item with
            {
                Content = decompressed, Name = EntryNames.WithoutCompressionSuffix(item.Name), Decompressed = true, Seekable = null, DeclaredLength = null,
            };
            await foreach (var e in ExpandItemAsync(x, inner))
            {
                yield return e;
            }
            // To the end, so that the trailer or end marker is checked whatever the content was.
            await Failures.GuardAsync(() => decompressed.CopyToAsync(Stream.Null, x.CancellationToken), x.ArchiveName, item.Name);
        }
    }

    private async IAsyncEnumerable<ArchiveEntry> ExpandTarAsync(Expansion x, Item item)
    {
        string where = Where(x, item.Name);
        var watch = new TarWatch(item.Content);
        var members = new OutputNames(where, folders: false);
        var reader = new TarReader(watch, leaveOpen: true);
        await using (reader)
        {
            while (true)
            {
                x.CancellationToken.ThrowIfCancellationRequested();
                long start = watch.BytesRead;
                var tarEntry = await ReadTarHeaderAsync(x, reader, watch, item.Name);
                if (tarEntry is null)
                {
                    // A real end is a zero block, read after the previous entry's padding (less than 512 bytes). On the
                    // forward-only streams given here the framework reader throws at an input that stops between two
                    // entries (on a seekable one it reports the end): checked anyway, so a clean cut never passes.
                    if (watch.BytesRead - start < TarWatch.Block)
                    {
                        throw Failures.Corrupt(x.ArchiveName, item.Name, new ArchiveTruncatedException(
                            "the tar stops after a complete entry but without its end-of-archive marker, so entries may be missing"));
                    }
                    break;
                }
                x.CountEntry(item.Name + "/" + tarEntry.Name);
                if (tarEntry.EntryType is TarEntryType.GlobalExtendedAttributes or TarEntryType.ExtendedAttributes)
                {
                    continue;
                }
                string? memberName = EntryNames.MakeSafe(tarEntry.Name, where);
                switch (tarEntry.EntryType)
                {
                    case TarEntryType.RegularFile or TarEntryType.V7RegularFile or TarEntryType.ContiguousFile:
                        break;
                    case TarEntryType.Directory:
                        await SkipTarDataAsync(x, tarEntry, item.ChildPrefix + tarEntry.Name);
                        continue;
                    case TarEntryType.SymbolicLink or TarEntryType.HardLink:
                        // A link can point anywhere, and a later entry written through it lands there: refused whatever its target.
                        throw Failures.Location(where, tarEntry.Name, $"is {Failures.Describe(tarEntry.EntryType)} to '{Failures.Printable(tarEntry.LinkName)}'");
                    case TarEntryType.CharacterDevice or TarEntryType.BlockDevice or TarEntryType.Fifo:
                        throw Failures.Location(where, tarEntry.Name, $"is {Failures.Describe(tarEntry.EntryType)}");
                    default:
                        throw IntakeException.Format($"{where}: entry '{Failures.Printable(tarEntry.Name)}' is {Failures.Describe(tarEntry.EntryType)}, which is not supported");
                }
                if (memberName is null)
                {
                    await SkipTarDataAsync(x, tarEntry, item.ChildPrefix + tarEntry.Name);
                    continue;
                }
                string fullName = item.ChildPrefix + memberName;
                members.Claim(memberName, tarEntry.Name);
                if (item.Decompressed)
                {
                    // The tar is the output of a compressed stream, whose size nothing declares: its headers do.
                    x.Declare(fullName, tarEntry.Length, null);
                }
                var member = new PeekStream(new ExactLengthStream(tarEntry.DataStream ?? Stream.Null, tarEntry.Length), disposeInner: false);
                await Failures.GuardAsync(() => member.FillAsync(x.CancellationToken), x.ArchiveName, fullName);
                await foreach (var e in ExpandItemAsync(x, new Item(member, fullName, item.ChildPrefix + tarEntry.Name, fullName + "/", item.Depth + 1, DeclaredLength: tarEntry.Length)))
                {
                    yield return e;
                }
                await Failures.GuardAsync(() => member.CopyToAsync(Stream.Null, x.CancellationToken), x.ArchiveName, fullName);
            }
        }
        // Read what follows the end-of-archive blocks (padding), so that a compression around the tar gets to check
        // its trailer: a truncated .tar.gz must not pass because the tar happened to end first.
        await Failures.GuardAsync(() => item.Content.CopyToAsync(Stream.Null, x.CancellationToken), x.ArchiveName, item.Name);
    }

    /// <summary>
    /// The next tar header, or null at the end. The framework reader checks no header checksum: it is checked here,
    /// so that a damaged header is <c>integrity</c> (a damaged name would otherwise pass as another name) and an
    /// unparseable one with a good checksum is <c>format</c>.
    /// </summary>
    private static async Task<TarEntry?> ReadTarHeaderAsync(Expansion x, TarReader reader, TarWatch watch, string itemName)
    {
        TarEntry? entry;
        try
        {
            entry = await reader.GetNextEntryAsync(copyData: false, x.CancellationToken);
        }
        catch (Exception e) when (e is InvalidDataException or FormatException)
        {
            throw Failures.Corrupt(x.ArchiveName, itemName, watch.LastHeaderChecksumFails()
                ? new ArchiveDamageException("a tar header fails its checksum")
                : new ArchiveStructureException($"a tar header is not valid ({e.Message.TrimEnd('.')})"));
        }
        catch (EndOfStreamException e)
        {
            throw Failures.Corrupt(x.ArchiveName, itemName, e);
        }
        if (entry is not null && watch.LastHeaderChecksumFails())
        {
            throw Failures.Corrupt(x.ArchiveName, itemName, new ArchiveDamageException($"the header of entry '{Failures.Printable(entry.Name)}' fails its checksum"));
        }
        return entry;
    }

    /// <summary>Reads the data of a tar entry that is not handed out, checked against its declared size like the others.</summary>
    private static Task SkipTarDataAsync(Expansion x, TarEntry entry, string name) =>
        entry.DataStream is null || entry.Length == 0
            ? Task.CompletedTask
            : Failures.GuardAsync(() => new ExactLengthStream(entry.DataStream, entry.Length).CopyToAsync(Stream.Null, x.CancellationToken), x.ArchiveName, name);

    private async IAsyncEnumerable<ArchiveEntry> ExpandZipAsync(Expansion x, Item item)
    {
        Stream zipStream;
        FileStream? spool = null;
        if (item.Seekable is not null)
        {
            item.Seekable.Position = 0;
            zipStream = item.Seekable;
            if (item.Depth == 0)
            {
                x.KnownInputLength = item.Seekable.Length;
            }
        }
        else
        {
            // Zip keeps its directory at the end: a stream is spooled to a temporary file first.
            spool = NewSpool(deleteOnClose: true);
            zipStream = spool;
        }
        try
        {
            if (spool is not null)
            {
                await Failures.GuardAsync(() => item.Content.CopyToAsync(spool, x.CancellationToken), x.ArchiveName, item.Name);
                spool.Position = 0;
            }
            var zip = await OpenZipAsync(x, zipStream, item.Name);
            await using (zip)
            {
                var members = CheckZipDirectory(x, zip, item, account: !item.DirectoryChecked);
                var nested = await SpoolNestedZipsAsync(x, item, members);
                try
                {
                    foreach (var (zipEntry, fullName, source) in members)
                    {
                        x.CancellationToken.ThrowIfCancellationRequested();
                        await foreach (var e in ExpandZipMemberAsync(x, item, zipEntry, fullName, source, nested.GetValueOrDefault(zipEntry)))
                        {
                            yield return e;
                        }
                    }
                }
                finally
                {
                    foreach (string path in nested.Values)
                    {
                        File.Delete(path);
                    }
                }
            }
        }
        finally
        {
            if (spool is not null)
            {
                string path = spool.Name;
                await spool.DisposeAsync();
                // DeleteOnClose already removed it; this covers file systems where it could not.
                File.Delete(path);
            }
        }
    }

    private async IAsyncEnumerable<ArchiveEntry> ExpandZipMemberAsync(Expansion x, Item item, ZipArchiveEntry zipEntry, string fullName, string source, string? spooled)
    {
        if (spooled is not null)
        {
            // A nested zip whose directory was checked before anything was extracted: read from its spool.
            var file = new FileStream(spooled, FileMode.Open, FileAccess.Read, FileShare.Read, 64 * 1024, FileOptions.Asynchronous);
            var head = new PeekStream(file, disposeInner: true);
            await using (head)
            {
                await head.FillAsync(x.CancellationToken);
                var nestedItem = new Item(head, fullName, source, fullName + "/", item.Depth + 1, Seekable: file, DeclaredLength: zipEntry.Length, DirectoryChecked: true);
                await foreach (var e in ExpandItemAsync(x, nestedItem))
                {
                    yield return e;
                }
            }
            yield break;
        }
        var member = new PeekStream(await OpenZipEntryAsync(x, zipEntry, fullName), disposeInner: true);
        await using (member)
        {
            await Failures.GuardAsync(() => member.FillAsync(x.CancellationToken), x.ArchiveName, fullName);
            await foreach (var e in ExpandItemAsync(x, new Item(member, fullName, source, fullName + "/", item.Depth + 1, DeclaredLength: zipEntry.Length)))
            {
                yield return e;
            }
            await Failures.GuardAsync(() => member.CopyToAsync(Stream.Null, x.CancellationToken), x.ArchiveName, fullName);
        }
    }

    /// <summary>
    /// The zip's file entries, checked from its directory alone before anything is extracted: entry count, unsafe
    /// names and links (<c>security</c>), names that collide (<c>format</c>), and the declared sizes added to the
    /// running total (<c>security</c> past the limit). <paramref name="account"/> false when this directory was
    /// already counted (a nested zip read ahead by <see cref="SpoolNestedZipsAsync"/>).
    /// </summary>
    private static List<(ZipArchiveEntry Entry, string FullName, string Source)> CheckZipDirectory(Expansion x, ZipArchive zip, Item item, bool account)
    {
        string where = Where(x, item.Name);
        var names = new OutputNames(where, folders: false);
        var files = new List<(ZipArchiveEntry, string, string)>();
        if (account)
        {
            x.CountEntries(zip.Entries.Count, item.Name);
        }
        foreach (var zipEntry in zip.Entries)
        {
            if (account)
            {
                x.CountEntry(item.Name + "/" + zipEntry.FullName);
            }
            string? memberName = EntryNames.MakeSafe(zipEntry.FullName, where);
            // Unix zips keep the file mode in the high half of the external attributes; 0xA000 is a symlink.
            if (((zipEntry.ExternalAttributes >> 16) & 0xF000) == 0xA000)
            {
                throw Failures.Location(where, zipEntry.FullName, "is a symbolic link");
            }
            bool isDirectory = zipEntry.FullName.EndsWith('/') || zipEntry.FullName.EndsWith('\\');
            if (memberName is null || isDirectory)
            {
                continue;
            }
            string fullName = item.ChildPrefix + memberName;
            names.Claim(memberName, zipEntry.FullName);
            if (account)
            {
                x.Declare(fullName, zipEntry.Length, zipEntry.CompressedLength);
            }
            files.Add((zipEntry, fullName, item.ChildPrefix + zipEntry.FullName));
        }
        return files;
    }

    /// <summary>
    /// Zips inside this zip that will be expanded, spooled and their directories checked (and their declared sizes
    /// added to the running total) before any entry of this zip is handed out: a nested bomb is refused from the
    /// sizes its inner directories declare, before anything of it is written. Returns the spool files by entry.
    /// </summary>
    private async Task<Dictionary<ZipArchiveEntry, string>> SpoolNestedZipsAsync(Expansion x, Item item, List<(ZipArchiveEntry Entry, string FullName, string Source)> members)
    {
        var spools = new Dictionary<ZipArchiveEntry, string>();
        if (item.Depth + 1 > Limits.NestedLevels)
        {
            return spools;
        }
        try
        {
            foreach (var (zipEntry, fullName, source) in members)
            {
                if (zipEntry.Length == 0 || !await IsZipAsync(x, zipEntry, fullName, item.Depth + 1))
                {
                    continue;
                }
                var spool = NewSpool(deleteOnClose: false);
                spools[zipEntry] = spool.Name;
                await using (spool)
                {
                    await using (var member = await OpenZipEntryAsync(x, zipEntry, fullName))
                    {
                        await Failures.GuardAsync(() => member.CopyToAsync(spool, x.CancellationToken), x.ArchiveName, fullName);
                    }
                    spool.Position = 0;
                    var nested = await OpenZipAsync(x, spool, fullName);
                    await using (nested)
                    {
                        CheckZipDirectory(x, nested, new Item(item.Content, fullName, source, fullName + "/", item.Depth + 1), account: true);
                    }
                }
            }
        }
        catch
        {
            foreach (string path in spools.Values)
            {
                File.Delete(path);
            }
            throw;
        }
        return spools;
    }

    /// <summary>Whether the entry, by its first bytes, is a zip that <see cref="ExpandItemAsync"/> would expand.</summary>
    private async Task<bool> IsZipAsync(Expansion x, ZipArchiveEntry zipEntry, string fullName, int depth)
    {
        if (IsPassThrough(fullName) || depth > Limits.NestedLevels)
        {
            return false;
        }
        // At most one header's worth comes out of the decoder: not metered, and read again in full later.
        var head = new byte[PeekStream.HeadSize];
        int n;
        await using (var opened = await OpenZipEntryRawAsync(x, zipEntry, fullName))
        {
            n = await Failures.GuardAsync(() => opened.ReadAtLeastAsync(head, head.Length, throwOnEndOfStream: false, x.CancellationToken), x.ArchiveName, fullName);
        }
        return FormatOf(head.AsSpan(0, n), fullName, depth, out _) == ArchiveFormat.Zip;
    }

    /// <summary>The entry's data, metered and checked against the size and CRC-32 its directory declares.</summary>
    private static async Task<Stream> OpenZipEntryAsync(Expansion x, ZipArchiveEntry zipEntry, string fullName)
    {
        var opened = await OpenZipEntryRawAsync(x, zipEntry, fullName);
        long compressed = zipEntry.CompressedLength;
        return new MeteredStream(opened, x, () => compressed, fullName, disposeInner: true, (zipEntry.Length, zipEntry.Crc32));
    }

    private static async Task<Stream> OpenZipEntryRawAsync(Expansion x, ZipArchiveEntry zipEntry, string fullName)
    {
        try
        {
            return await zipEntry.OpenAsync(x.CancellationToken);
        }
        catch (Exception e) when (e is InvalidDataException or NotSupportedException)
        {
            // A local header that does not parse, an unsupported method or encryption: how the zip was made.
            throw Failures.Corrupt(x.ArchiveName, fullName, new ArchiveStructureException($"the entry cannot be opened ({e.Message.TrimEnd('.')})"));
        }
    }

    /// <summary>
    /// Reads the zip's directory. The framework says only "corrupt" whatever the cause; a zip whose end-of-central-
    /// directory record is missing was cut short (the record is the last thing in the file), which is
    /// <c>integrity</c>; any other directory error is <c>format</c>.
    /// </summary>
    private static async Task<ZipArchive> OpenZipAsync(Expansion x, Stream zipStream, string itemName)
    {
        try
        {
            return await ZipArchive.CreateAsync(zipStream, ZipArchiveMode.Read, leaveOpen: true, entryNameEncoding: null, x.CancellationToken);
        }
        catch (InvalidDataException e)
        {
            Exception cause = await HasEndOfCentralDirectoryAsync(zipStream, x.CancellationToken)
                ? new ArchiveStructureException($"its central directory is not valid ({e.Message.TrimEnd('.')})")
                : new ArchiveTruncatedException("the zip ends without its central directory (the last part of a zip file), so it was cut short");
            throw Failures.Corrupt(x.ArchiveName, itemName, cause);
        }
    }

    private static async Task<bool> HasEndOfCentralDirectoryAsync(Stream zip, CancellationToken cancellationToken)
    {
        // The record is 22 bytes and may be followed by a comment of up to 65535 bytes.
        int tail = (int)Math.Min(zip.Length, 22 + 65535);
        var buffer = new byte[tail];
        zip.Position = zip.Length - tail;
        await zip.ReadExactlyAsync(buffer, cancellationToken);
        return buffer.AsSpan().LastIndexOf("PK\x05\x06"u8) >= 0;
    }

    private FileStream NewSpool(bool deleteOnClose)
    {
        string path = Path.Combine(Limits.TempDirectory ?? Path.GetTempPath(), $"intake-{Guid.NewGuid():N}.zip");
        var options = FileOptions.Asynchronous | (deleteOnClose ? FileOptions.DeleteOnClose : FileOptions.None);
        return new FileStream(path, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.Read, 64 * 1024, options);
    }

    private bool IsPassThrough(string itemName) => Limits.PassThroughExtensions.Contains(Path.GetExtension(itemName));

    private static string Where(Expansion x, string itemName) =>
        itemName == EntryNames.FileName(x.ArchiveName) ? x.ArchiveName : $"{x.ArchiveName}:{itemName}";
}
