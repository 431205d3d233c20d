using System.Formats.Tar;
using System.IO.Compression;
using System.Runtime.CompilerServices;
using Intake.Core.Errors;

namespace Intake.Formats.Archives;

/// <summary>
/// Opens received files whatever they are: gzip (also <c>.tar.gz</c>), zip, tar, or plain data, recognised by their
/// magic bytes; archives inside archives up to <see cref="ArchiveLimits.NestedLevels"/>. Everything streams: an
/// entry is decompressed while the caller reads it, so memory stays flat whatever the sizes, and the limits are
/// enforced on the bytes as they come out.
/// </summary>
/// <remarks>
/// Failures are <see cref="IntakeException"/>s naming the input and the entry: <c>Security</c> for a path that
/// leaves the extraction folder, a link or device entry, and a bomb (ratio, total size, entry count);
/// <c>Format</c> for corrupt or truncated data and for a file named like an archive that is not one; <c>Empty</c>
/// for an empty input or an archive with nothing in it. Empty members are skipped: there is nothing to load from
/// them.
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

        long? length = seekable?.Length;
        int yielded = 0;
        await foreach (var entry in ExpandItemAsync(expansion, head, EntryNames.FileName(name), "", 0, false, seekable, length))
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

    /// <summary>
    /// One item (the input, or a member of an archive) whose first bytes are in <paramref name="content"/>:
    /// yields it, or what it contains.
    /// </summary>
    /// <param name="childPrefix">Prefix for the names of the members if this item is an archive.</param>
    /// <param name="depth">0 for the input, 1 for members of the input's archive, and so on.</param>
    /// <param name="insideGzip">The item is the decompressed content of a gzip item of the same depth.</param>
    private async IAsyncEnumerable<ArchiveEntry> ExpandItemAsync(
        Expansion x, PeekStream content, string itemName, string childPrefix, int depth, bool insideGzip, Stream? seekable, long? declaredLength)
    {
        var format = ArchiveFormats.Detect(content.Head, itemName, out string? unsupported);
        if (format != ArchiveFormat.Plain && (depth > Limits.NestedLevels || IsPassThrough(itemName)))
        {
            // Deeper archives and documents that happen to be zip files go to the caller as they are.
            format = ArchiveFormat.Plain;
        }

        switch (format)
        {
            case ArchiveFormat.Plain:
                if (content.Head.IsEmpty)
                {
                    yield break;
                }
                var entry = new ArchiveEntry(itemName, new EntryStream(content, x.ArchiveName, itemName), x.ArchiveName, declaredLength, fromArchive: depth > 0 || insideGzip);
                try
                {
                    yield return entry;
                }
                finally
                {
                    entry.Detach();
                }
                break;

            case ArchiveFormat.NotWhatItsNameSays:
                throw IntakeException.Format(
                    $"{Where(x, itemName)} is neither zip nor tar nor gzip, although its name says it is an archive (it starts with {ArchiveFormats.Hex(content.Head)})");

            case ArchiveFormat.Unsupported:
                throw IntakeException.Format($"{Where(x, itemName)} is compressed with {unsupported}, which is not supported; send zip, gzip or tar");

            case ArchiveFormat.EmptyZip:
                break;

            case ArchiveFormat.Gzip when insideGzip:
                // Gzip inside gzip is an archive inside an archive: one more level.
                await foreach (var e in ExpandItemAsync(x, content, itemName, childPrefix, depth + 1, false, null, null))
                {
                    yield return e;
                }
                break;

            case ArchiveFormat.Gzip:
                var decoder = new GzipDecoder(content);
                var decompressed = new PeekStream(new MeteredStream(decoder, x, () => decoder.CompressedBytesRead, itemName, disposeInner: true), disposeInner: true);
                await using (decompressed)
                {
                    await Failures.GuardAsync(() => decompressed.FillAsync(x.CancellationToken), x.ArchiveName, itemName);
                    // A .tar.gz or .zip.gz is one archive at this depth, its members named as the tar's or zip's.
                    await foreach (var e in ExpandItemAsync(x, decompressed, EntryNames.WithoutGzip(itemName), childPrefix, depth, true, null, null))
                    {
                        yield return e;
                    }
                }
                break;

            case ArchiveFormat.Tar:
                await foreach (var e in ExpandTarAsync(x, content, itemName, childPrefix, depth))
                {
                    yield return e;
                }
                break;

            case ArchiveFormat.Zip:
                await foreach (var e in ExpandZipAsync(x, content, itemName, childPrefix, depth, seekable))
                {
                    yield return e;
                }
                break;

            default:
                throw new InvalidOperationException($"Unhandled format {format}.");
        }
    }

    private async IAsyncEnumerable<ArchiveEntry> ExpandTarAsync(Expansion x, PeekStream content, string itemName, string childPrefix, int depth)
    {
        var reader = new TarReader(content, leaveOpen: true);
        await using (reader)
        {
            while (true)
            {
                x.CancellationToken.ThrowIfCancellationRequested();
                // copyData: false keeps memory flat: the entry's data is read straight from the archive stream.
                var tarEntry = await Failures.GuardAsync(() => reader.GetNextEntryAsync(copyData: false, x.CancellationToken), x.ArchiveName, itemName);
                if (tarEntry is null)
                {
                    break;
                }
                x.CountEntry(itemName + "/" + tarEntry.Name);
                if (tarEntry.EntryType is TarEntryType.GlobalExtendedAttributes or TarEntryType.ExtendedAttributes)
                {
                    continue;
                }
                string? memberName = EntryNames.MakeSafe(tarEntry.Name, Where(x, itemName));
                switch (tarEntry.EntryType)
                {
                    case TarEntryType.RegularFile or TarEntryType.V7RegularFile or TarEntryType.ContiguousFile:
                        break;
                    case TarEntryType.Directory:
                        continue;
                    case TarEntryType.SymbolicLink or TarEntryType.HardLink:
                        // A link can point anywhere, and a later entry written through it lands there: refused whatever its target.
                        throw Failures.Location(Where(x, itemName), tarEntry.Name, $"is {Failures.Describe(tarEntry.EntryType)} to '{Failures.Printable(tarEntry.LinkName)}'");
                    case TarEntryType.CharacterDevice or TarEntryType.BlockDevice or TarEntryType.Fifo:
                        throw Failures.Location(Where(x, itemName), tarEntry.Name, $"is {Failures.Describe(tarEntry.EntryType)}");
                    default:
                        throw IntakeException.Format($"{Where(x, itemName)}: entry '{Failures.Printable(tarEntry.Name)}' is {Failures.Describe(tarEntry.EntryType)}, which is not supported");
                }
                if (memberName is null || tarEntry.DataStream is null || tarEntry.Length == 0)
                {
                    continue;
                }
                string fullName = childPrefix + memberName;
                var member = new PeekStream(tarEntry.DataStream, disposeInner: false);
                await Failures.GuardAsync(() => member.FillAsync(x.CancellationToken), x.ArchiveName, fullName);
                await foreach (var e in ExpandItemAsync(x, member, fullName, fullName + "/", depth + 1, false, null, tarEntry.Length))
                {
                    yield return e;
                }
            }
        }
        // Read what follows the end-of-archive blocks (padding), so that a gzip around the tar gets to check its
        // trailer: a truncated .tar.gz must not pass because the tar happened to end first.
        await Failures.GuardAsync(() => content.CopyToAsync(Stream.Null, x.CancellationToken), x.ArchiveName, itemName);
    }

    private async IAsyncEnumerable<ArchiveEntry> ExpandZipAsync(Expansion x, PeekStream content, string itemName, string childPrefix, int depth, Stream? seekable)
    {
        Stream zipStream;
        string? spoolPath = null;
        if (seekable is not null)
        {
            seekable.Position = 0;
            zipStream = seekable;
            x.KnownInputLength = seekable.Length;
        }
        else
        {
            // Zip keeps its directory at the end: a stream is spooled to a temporary file first.
            spoolPath = Path.Combine(Limits.TempDirectory ?? Path.GetTempPath(), $"intake-{Guid.NewGuid():N}.zip");
            zipStream = new FileStream(spoolPath, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, 64 * 1024, FileOptions.Asynchronous | FileOptions.DeleteOnClose);
        }
        try
        {
            if (spoolPath is not null)
            {
                await Failures.GuardAsync(() => content.CopyToAsync(zipStream, x.CancellationToken), x.ArchiveName, itemName);
                zipStream.Position = 0;
            }
            var zip = await Failures.GuardAsync(() => ZipArchive.CreateAsync(zipStream, ZipArchiveMode.Read, leaveOpen: true, entryNameEncoding: null, x.CancellationToken), x.ArchiveName, itemName);
            await using (zip)
            {
                x.CountEntries(zip.Entries.Count, itemName);
                x.CheckDeclared(itemName, zip.Entries.Select(e => (childPrefix + e.FullName, e.Length, e.CompressedLength)));
                foreach (var zipEntry in zip.Entries)
                {
                    x.CancellationToken.ThrowIfCancellationRequested();
                    x.CountEntry(itemName + "/" + zipEntry.FullName);
                    string? memberName = EntryNames.MakeSafe(zipEntry.FullName, Where(x, itemName));
                    bool isDirectory = zipEntry.FullName.EndsWith('/') || zipEntry.FullName.EndsWith('\\');
                    // Unix zips keep the file mode in the high half of the external attributes; 0xA000 is a symlink.
                    if (((zipEntry.ExternalAttributes >> 16) & 0xF000) == 0xA000)
                    {
                        throw Failures.Location(Where(x, itemName), zipEntry.FullName, "is a symbolic link");
                    }
                    if (memberName is null || isDirectory)
                    {
                        continue;
                    }
                    string fullName = childPrefix + memberName;
                    var opened = await Failures.GuardAsync(() => zipEntry.OpenAsync(x.CancellationToken), x.ArchiveName, fullName);
                    long compressed = zipEntry.CompressedLength;
                    var member = new PeekStream(new MeteredStream(opened, x, () => compressed, fullName, disposeInner: true, (zipEntry.Length, zipEntry.Crc32)), disposeInner: true);
                    await using (member)
                    {
                        await Failures.GuardAsync(() => member.FillAsync(x.CancellationToken), x.ArchiveName, fullName);
                        await foreach (var e in ExpandItemAsync(x, member, fullName, fullName + "/", depth + 1, false, null, zipEntry.Length))
                        {
                            yield return e;
                        }
                    }
                }
            }
        }
        finally
        {
            if (spoolPath is not null)
            {
                await zipStream.DisposeAsync();
                // DeleteOnClose already removed it; this covers file systems where it could not.
                File.Delete(spoolPath);
            }
        }
    }

    private bool IsPassThrough(string itemName) => Limits.PassThroughExtensions.Contains(Path.GetExtension(itemName));

    private static string Where(Expansion x, string itemName) =>
        itemName == EntryNames.FileName(x.ArchiveName) ? x.ArchiveName : $"{x.ArchiveName}:{itemName}";
}
