using System.Buffers;
using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using Intake.Core.Errors;
using Intake.Core.Ports;
using Intake.Shared.IO;

namespace Intake.Storage;

/// <summary>
/// An object store in a local directory: the embedded default, and what a single machine needs.
/// Objects live at <c>&lt;root&gt;/&lt;area&gt;/&lt;key&gt;</c> so an operator can browse them with ordinary tools.
/// </summary>
/// <remarks>
/// <para>
/// Atomicity: every write streams into <c>&lt;root&gt;/.tmp/</c> (same file system, so the final step is a
/// rename), is fsynced, and is then renamed over the final path. A reader therefore sees the old object
/// or the new one, never a partial one; a crash leaves only files in <c>.tmp</c>, which the next store
/// opened on the root removes once they are an hour old. The whole root must be one file system: a
/// rename across a mount point degrades to copy-and-delete and loses the guarantee. A hard link of a complete,
/// durable object to a key that is still free is atomic the same way, and takes no temp name (below).
/// </para>
/// <para>
/// Checksums: the SHA-256 is computed while the bytes stream through and recorded with the object's size and
/// last-write time. The record goes in the object's own extended attribute <c>user.intake.sha256</c>
/// (<see cref="Sha256Attribute"/>), set on the temp file before its fsync and rename, so object and record appear in
/// one step and cost no file of their own. Where the file system keeps no user attributes (the first refusal is
/// remembered) or refuses one for a file, the record goes in a sidecar at <c>&lt;root&gt;/.meta/&lt;area&gt;/&lt;key&gt;</c>
/// instead (same tree as the objects, so two keys that cannot coexist as objects cannot collide as sidecars either),
/// written and renamed before the object; stores written before attributes have only sidecars, and those are read
/// as before. Either record is trusted only while size and last-write time still match the object, so
/// <see cref="StatAsync"/> costs a stat and an attribute read (plus a small file read for a sidecar), and a
/// stale record (a crash between the two renames of a sidecar, two writers racing on one key, a file edited by hand,
/// a copy of the store that kept times but not attributes) makes <see cref="StatAsync"/> hash the object again and
/// repair the record. <see cref="ListAsync"/> stays cheap and reports a null SHA-256 for such objects instead. The
/// check relies on the file system keeping sub-second modification times (ext4, xfs, btrfs, tmpfs, APFS, NTFS all do).
/// A hard link shares its inode, and so its attribute, with every other name of the file: that is right, because it
/// shares the bytes too, and objects are never written in place (a record is only written for the bytes it hashed, or
/// carried over from a record that still matched the same inode).
/// </para>
/// <para>
/// Durability: the object (with its mode and attribute record), or else the object and its sidecar, are fsynced
/// before the rename, and on Linux the directories that gained an entry are fsynced after it (see
/// <see cref="DirectorySync"/>), so an object reported as written survives a power cut.
/// </para>
/// <para>
/// Zero copy: the inbox original is read-only (mode 0444) once written, and objects are only ever replaced by a
/// rename, never written in place, so a read-only object can be shared. A copy of one (inbox to archive or error) is
/// a reflink where the file system clones (btrfs, xfs), else a hard link (same inode), and takes the recorded SHA-256
/// along without reading a byte; once the file system has answered that it cannot clone, no clone is tried again (each
/// try creates and frees a file). The hard link is made through the opened file's descriptor, so it is that file
/// whatever its name points at by then, and goes straight to the target key when that is free. A local file put with
/// <see cref="PutFileAsync"/> is linked the same way (through <c>.tmp</c>) when it is on this file system, and hashed
/// once while its bytes are read. Everything else (another file system, a file system or a file that cannot be
/// linked) is copied and verified while it is written, as before.
/// </para>
/// </remarks>
public sealed class LocalDirectoryStore : ILinkingObjectStore
{
    private const UnixFileMode ReadOnlyMode = UnixFileMode.UserRead | UnixFileMode.GroupRead | UnixFileMode.OtherRead;
    private const UnixFileMode AnyWrite = UnixFileMode.UserWrite | UnixFileMode.GroupWrite | UnixFileMode.OtherWrite;

    internal const string TempDirectoryName = ".tmp";
    internal const string MetaDirectoryName = ".meta";

    // 1 MiB: few system calls per gigabyte, and one pooled buffer per transfer keeps memory flat whatever the object size.
    private const int CopyBufferSize = 1 << 20;

    // Readers of a stream are often parsers doing small reads; 64 KiB absorbs them, and bigger reads bypass it.
    private const int ReadBufferSize = 64 * 1024;

    // A live writer touches its temp file on every write, so one an hour old belongs to a writer that died.
    // Not zero: another process may share this root and be writing right now.
    private static readonly TimeSpan AbandonedTempAge = TimeSpan.FromHours(1);

    private readonly TimeProvider _time;
    private readonly string _tempDirectory;
    private readonly string _metaDirectory;

    /// <summary>Opens (creating when needed) the store at <paramref name="rootDirectory"/> and removes temp files abandoned by a crash.</summary>
    /// <exception cref="IntakeException">Config, when the root cannot be created or written.</exception>
    public LocalDirectoryStore(string name, string rootDirectory, TimeProvider time)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentException.ThrowIfNullOrWhiteSpace(rootDirectory);
        ArgumentNullException.ThrowIfNull(time);

        Name = name;
        RootDirectory = Path.GetFullPath(rootDirectory);
        _time = time;
        _tempDirectory = Path.Combine(RootDirectory, TempDirectoryName);
        _metaDirectory = Path.Combine(RootDirectory, MetaDirectoryName);

        try
        {
            Directory.CreateDirectory(_tempDirectory);
            Directory.CreateDirectory(_metaDirectory);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw IntakeException.Config($"store '{name}': cannot create its directory {RootDirectory}: {ex.Message}", ex);
        }

        RemoveAbandonedTempFiles();
    }

    /// <inheritdoc />
    public string Name { get; }

    /// <summary>The absolute root directory.</summary>
    public string RootDirectory { get; }

    /// <summary>How files are cloned and linked; tests replace it to make linking fail.</summary>
    internal FileLinks Links { get; init; } = FileLinks.System;

    /// <summary>Where the SHA-256 record goes in the object itself; tests replace it to play a file system without user attributes.</summary>
    internal Sha256Attribute Attributes { get; init; } = Sha256Attribute.System;

    // Learnt from the file system once, then never asked again: a clone that cannot work costs a probe file (an inode
    // created and freed) per object, and an attribute that cannot be kept a failed call per object.
    private volatile bool _cannotClone;
    private volatile bool _cannotKeepAttributes;

    /// <summary>Passes over an object's bytes to compute its SHA-256 (puts, copies, rehashes): what tests count.</summary>
    internal long HashPasses => Interlocked.Read(ref _hashPasses);

    private long _hashPasses;

    /// <inheritdoc />
    public async Task<ObjectInfo> PutAsync(string area, string key, Stream content, CancellationToken cancellationToken)
    {
        ObjectKeys.ValidateArea(area);
        ObjectKeys.ValidateKey(key);
        ArgumentNullException.ThrowIfNull(content);

        // The original as received is never modified (and so may be linked).
        var written = await WriteTempAsync(content, ObjectPath(area, key), readOnly: area == Areas.Inbox, cancellationToken);
        return Commit(written, area, key);
    }

    /// <inheritdoc />
    public Task<Stream> OpenReadAsync(string area, string key, CancellationToken cancellationToken)
    {
        ObjectKeys.ValidateArea(area);
        ObjectKeys.ValidateKey(key);
        cancellationToken.ThrowIfCancellationRequested();
        return Task.FromResult(OpenObject(ObjectPath(area, key), ReadBufferSize));
    }

    /// <inheritdoc />
    public async Task<ObjectInfo?> StatAsync(string area, string key, CancellationToken cancellationToken)
    {
        ObjectKeys.ValidateArea(area);
        ObjectKeys.ValidateKey(key);

        var path = ObjectPath(area, key);
        var file = new FileInfo(path);
        if (!file.Exists)
        {
            return null;
        }

        if (RecordedSha256(area, key, path, file) is { } sha256)
        {
            return new ObjectInfo(area, key, file.Length, sha256, LastModified(file.LastWriteTimeUtc));
        }

        return await RehashAsync(area, key, cancellationToken);
    }

    /// <inheritdoc />
    /// <remarks>
    /// Ordered by key (ordinal, as S3 lists). <paramref name="prefix"/> is a string prefix: "a/load1" also
    /// lists "a/load10/x"; end it with '/' to list one folder. Objects whose record is missing or stale
    /// are listed with a null SHA-256 (ask <see cref="StatAsync"/> for it), so listing never reads objects.
    /// </remarks>
    public async IAsyncEnumerable<ObjectInfo> ListAsync(string area, string prefix, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        ObjectKeys.ValidateArea(area);
        ObjectKeys.ValidatePrefix(prefix);
        await Task.CompletedTask; // listing is synchronous file system work; the signature is the port's.

        var (folderKey, namePrefix) = SplitPrefix(prefix);
        var startDirectory = folderKey.Length == 0 ? AreaPath(area) : ObjectPath(area, folderKey);

        // Depth-first with an explicit stack, children pushed in reverse order: keys come out in ordinal
        // order while memory holds one directory listing per level, not the whole tree.
        var pending = new Stack<(FileSystemInfo Entry, string Key)>();
        PushChildren(pending, startDirectory, folderKey, namePrefix);
        while (pending.TryPop(out var item))
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (item.Entry is DirectoryInfo)
            {
                PushChildren(pending, item.Entry.FullName, item.Key, "");
                continue;
            }

            var file = (FileInfo)item.Entry;
            yield return new ObjectInfo(area, item.Key, file.Length, RecordedSha256(area, item.Key, file.FullName, file), LastModified(file.LastWriteTimeUtc));
        }
    }

    /// <inheritdoc />
    /// <remarks>
    /// The bytes read from the source are hashed as they stream into the copy; the copy becomes visible
    /// only when that hash and the size written to disk equal the source's recorded size and SHA-256.
    /// A source that changed or decayed since it was written therefore fails with Integrity instead of
    /// producing a copy that silently differs. Repeating a copy rewrites the target with the same bytes.
    /// </remarks>
    public async Task<ObjectInfo> CopyAsync(string fromArea, string fromKey, string toArea, string toKey, CancellationToken cancellationToken) =>
        (await PlaceCopyAsync(fromArea, fromKey, toArea, toKey, cancellationToken)).Info;

    /// <inheritdoc />
    /// <remarks>
    /// A read-only source (the inbox original) is cloned or hard-linked: its recorded SHA-256 holds for the new key
    /// because the bytes are the same file's (a hard link) or the file system's own copy of them (a reflink). Its data
    /// was made durable when it was written; the new name is made durable by the rename and the directory flush.
    /// </remarks>
    public async Task<PlacedObject> PlaceCopyAsync(string fromArea, string fromKey, string toArea, string toKey, CancellationToken cancellationToken)
    {
        ObjectKeys.ValidateArea(fromArea, nameof(fromArea));
        ObjectKeys.ValidateKey(fromKey, nameof(fromKey));
        ObjectKeys.ValidateArea(toArea, nameof(toArea));
        ObjectKeys.ValidateKey(toKey, nameof(toKey));

        var sourcePath = ObjectPath(fromArea, fromKey);
        FileStream source;
        try
        {
            source = (FileStream)OpenObject(sourcePath, bufferSize: 0);
        }
        catch (FileNotFoundException ex)
        {
            throw new FileNotFoundException($"store '{Name}': cannot copy {sourcePath}: no such object", sourcePath, ex);
        }

        await using (source)
        {
            var handle = source.SafeFileHandle;
            var status = StatusOf(handle, sourcePath);

            // The record of the very file opened (not of whatever the name points at by now): its own attribute, else
            // its sidecar, each trusted only while size and last write still match.
            var inAttribute = _cannotKeepAttributes ? null : Attributes.TryRead(handle) is { } a && a.Matches(status.Size, status.LastWriteUtc) ? a.Sha256 : null;
            var recorded = inAttribute
                ?? (Sha256Sidecar.TryRead(MetaPath(fromArea, fromKey)) is { } s && s.Matches(status.Size, status.LastWriteUtc) ? s.Sha256 : null);
            var expected = recorded is not null
                ? new ObjectInfo(fromArea, fromKey, status.Size, recorded, LastModified(status.LastWriteUtc))
                // No record that holds: hash it (and repair its record); the copy below is verified against that hash.
                : await StatAsync(fromArea, fromKey, cancellationToken)
                    ?? throw new FileNotFoundException($"store '{Name}': cannot copy {sourcePath}: no such object", sourcePath);

            if (fromArea == toArea && fromKey == toKey)
            {
                return new PlacedObject(expected, Placement.HardLinked);
            }

            var targetPath = ObjectPath(toArea, toKey);
            var sourceReadOnly = IsReadOnly(status.Mode);
            if (sourceReadOnly && recorded is not null && _cannotClone && !OperatingSystem.IsWindows())
            {
                // A hard link straight to a free key: the name appears at once on the complete, durable file with its record,
                // as a rename would make it, with no temp name to create and rename. A taken key (a repeated copy) goes the
                // usual way below: a link in .tmp renamed over it.
                var kept = inAttribute is not null || TryKeepAttribute(handle, new Sha256Sidecar(recorded, status.Size, status.LastWriteUtc.Ticks));
                var inPlace = Publish(
                    new WrittenTemp(null, status.Size, recorded, status.LastWriteUtc, kept),
                    toArea,
                    toKey,
                    objectPath => Links.TryHardLink(handle, sourcePath: null, objectPath));
                if (inPlace is not null)
                {
                    return new PlacedObject(inPlace, Placement.HardLinked);
                }
            }

            if (sourceReadOnly && recorded is not null && TryLink(source, targetPath, mayHardLink: true, alreadyReadOnly: true) is { } linked)
            {
                try
                {
                    WrittenTemp written;
                    if (linked.How == Placement.HardLinked)
                    {
                        // The same inode: the same bytes, and the record already in it. A record that was only a sidecar (a
                        // store written before attributes) goes into the inode now, for both names, as it holds for both.
                        var kept = inAttribute is not null
                            || TryKeepAttribute(handle, new Sha256Sidecar(recorded, status.Size, status.LastWriteUtc.Ticks));
                        written = new WrittenTemp(linked.TempPath, status.Size, recorded, status.LastWriteUtc, kept);
                    }
                    else
                    {
                        // A clone: the same bytes in a new inode, with a last-write time of its own and no attributes.
                        using var clone = File.OpenHandle(linked.TempPath);
                        var cloned = StatusOf(clone, targetPath);
                        if (cloned.Size != status.Size)
                        {
                            throw new IOException($"the clone holds {cloned.Size} bytes, its source {status.Size}");
                        }

                        written = Recorded(clone, linked.TempPath, recorded, cloned.Size, cloned.LastWriteUtc);
                        MakeReadOnly(clone);
                    }

                    return new PlacedObject(CommitLinked(written, toArea, toKey), linked.How);
                }
                catch (IOException)
                {
                    TryDeleteFile(linked.TempPath); // copied below instead
                }
            }

            var copied = await WriteTempAsync(source, targetPath, readOnly: toArea == Areas.Inbox || sourceReadOnly, cancellationToken);
            if (copied.Size != expected.Size || !string.Equals(copied.Sha256, expected.Sha256, StringComparison.Ordinal))
            {
                TryDeleteFile(copied.TempPath);
                throw IntakeException.Integrity(
                    $"store '{Name}': copy of {sourcePath} to {targetPath} does not match its source: " +
                    $"expected {expected.Size} bytes with SHA-256 {expected.Sha256}, copied {copied.Size} bytes with SHA-256 {copied.Sha256}");
            }

            return new PlacedObject(Commit(copied, toArea, toKey), Placement.Copied);
        }
    }

    /// <inheritdoc />
    /// <remarks>
    /// <para>
    /// The file must stay the version that was opened while it is taken: its size and modification time are compared
    /// before and after the one pass that hashes it, and a change fails the put with Integrity (nothing is stored).
    /// </para>
    /// <para>
    /// A hard link is of the opened file itself (never a file put under its name since), so nothing else is taken; its
    /// data is fsynced (a producer may not have), then it is made read-only and carries the SHA-256 record: that mode and
    /// that attribute are the source file's own, which is why the caller decides whether a hard link is allowed.
    /// </para>
    /// </remarks>
    public async Task<PlacedObject> PutFileAsync(string area, string key, FileStream file, bool mayHardLink, CancellationToken cancellationToken)
    {
        ObjectKeys.ValidateArea(area);
        ObjectKeys.ValidateKey(key);
        ArgumentNullException.ThrowIfNull(file);

        var targetPath = ObjectPath(area, key);
        var handle = file.SafeFileHandle;
        // As opened (and checked against its listing by the source): the version that must be the one stored.
        var before = StatusOf(handle, file.Name);
        var sourceReadOnly = IsReadOnly(before.Mode);
        if (TryLink(file, targetPath, mayHardLink || sourceReadOnly, alreadyReadOnly: sourceReadOnly) is { } linked)
        {
            try
            {
                var sha256 = await HashAsync(handle, cancellationToken);
                var after = StatusOf(handle, file.Name);
                if (before.Size != after.Size || before.LastWriteUtc != after.LastWriteUtc)
                {
                    throw IntakeException.Integrity($"store '{Name}': {file.Name} changed while it was taken; nothing was stored");
                }

                // A producer may never have fsynced the file; a clone is new data of ours. Either way: durable, with its
                // record, before its name is.
                using var own = linked.How == Placement.Reflinked ? File.OpenHandle(linked.TempPath) : null;
                var stored = own is null ? after : StatusOf(own, targetPath);
                var written = Recorded(own ?? handle, linked.TempPath, sha256, stored.Size, stored.LastWriteUtc);
                if (own is not null)
                {
                    MakeReadOnly(own); // after the attribute: see WriteTempAsync
                }

                if (!FileLinks.Flush(own ?? handle))
                {
                    throw IntakeException.Transient($"store '{Name}': cannot make {targetPath} durable (fsync failed)");
                }

                return new PlacedObject(CommitLinked(written, area, key), linked.How);
            }
            catch
            {
                TryDeleteFile(linked.TempPath);
                throw;
            }
        }

        file.Position = 0;
        var copied = await WriteTempAsync(file, targetPath, readOnly: area == Areas.Inbox, cancellationToken);
        return new PlacedObject(Commit(copied, area, key), Placement.Copied);
    }

    /// <summary>
    /// A reflink of <paramref name="source"/> into a new temp file (left writable, for its record), else (when allowed) a
    /// hard link of it, made read-only at once; null when neither works here (another file system, no clone support, a file we may not link or chmod).
    /// </summary>
    private (string TempPath, Placement How)? TryLink(FileStream source, string targetPath, bool mayHardLink, bool alreadyReadOnly)
    {
        if (OperatingSystem.IsWindows() || (_cannotClone && !mayHardLink))
        {
            return null; // nothing to try: not even a temp file to create
        }

        // A GUID name needs no reservation: the link fails (EEXIST) rather than replace a file already there.
        var tempPath = Path.Combine(_tempDirectory, Guid.NewGuid().ToString("N") + ".part");
        try
        {
            if (!_cannotClone)
            {
                using (var clone = CreateTemp(tempPath, targetPath))
                {
                    switch (Links.TryReflink(source.SafeFileHandle, clone.SafeFileHandle))
                    {
                        case CloneResult.Cloned:
                            return (tempPath, Placement.Reflinked); // the caller records it, then makes it read-only
                        case CloneResult.Unsupported:
                            _cannotClone = true; // this file system never clones: no more clone files created to find that out
                            break;
                    }
                }

                File.Delete(tempPath);
            }

            if (!mayHardLink || !Links.TryHardLink(source.SafeFileHandle, source.Name, tempPath))
            {
                return null;
            }

            if (!alreadyReadOnly)
            {
                MakeReadOnly(source.SafeFileHandle);
            }

            return (tempPath, Placement.HardLinked);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // Not ours to chmod, a full .tmp, a link refused: the caller copies instead.
            TryDeleteFile(tempPath);
            return null;
        }
    }

    private async Task<string> HashAsync(Microsoft.Win32.SafeHandles.SafeFileHandle handle, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _hashPasses);
        var buffer = ArrayPool<byte>.Shared.Rent(CopyBufferSize);
        try
        {
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            long offset = 0;
            int read;
            while ((read = await RandomAccess.ReadAsync(handle, buffer.AsMemory(0, CopyBufferSize), offset, cancellationToken)) > 0)
            {
                hash.AppendData(buffer, 0, read);
                offset += read;
            }

            return Convert.ToHexStringLower(hash.GetHashAndReset());
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>Commits a linked temp file; a target that already was this very file (a repeated copy) leaves the temp name behind, removed here.</summary>
    private ObjectInfo CommitLinked(WrittenTemp written, string area, string key)
    {
        var info = Commit(written, area, key);
        // rename(2) of one name of a file onto another name of the same file does nothing and succeeds.
        TryDeleteFile(written.TempPath);
        return info;
    }

    /// <summary>Mode 0444: nobody but root writes the original in place. Renames over it and deletes still work (they are the folder's).</summary>
    private static void MakeReadOnly(Microsoft.Win32.SafeHandles.SafeFileHandle handle)
    {
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(handle, ReadOnlyMode);
        }
    }

    private static bool IsReadOnly(UnixFileMode mode) => !OperatingSystem.IsWindows() && (mode & AnyWrite) == 0;

    private (long Size, DateTime LastWriteUtc, UnixFileMode Mode) StatusOf(Microsoft.Win32.SafeHandles.SafeFileHandle handle, string path)
    {
        try
        {
            return FileLinks.Status(handle);
        }
        catch (IOException ex)
        {
            throw Failure("read", path, ex);
        }
    }

    /// <summary>The recorded SHA-256 of an object while it still holds (same size and last write): its own attribute, else its sidecar.</summary>
    private string? RecordedSha256(string area, string key, string path, FileInfo file)
    {
        if (!_cannotKeepAttributes && Attributes.TryRead(path) is { } own && own.Matches(file))
        {
            return own.Sha256;
        }

        // Stores written before records went into attributes, and file systems that keep none, have sidecars.
        return Sha256Sidecar.TryRead(MetaPath(area, key)) is { } sidecar && sidecar.Matches(file) ? sidecar.Sha256 : null;
    }

    /// <summary>Puts the record in the file's own attribute; false when it must go in a sidecar instead.</summary>
    private bool TryKeepAttribute(Microsoft.Win32.SafeHandles.SafeFileHandle handle, Sha256Sidecar record)
    {
        if (_cannotKeepAttributes)
        {
            return false;
        }

        switch (Attributes.TryWrite(handle, record))
        {
            case AttributeWrite.Written:
                return true;
            case AttributeWrite.Unsupported:
                _cannotKeepAttributes = true; // this file system keeps no user attributes: sidecars from now on
                return false;
            default:
                return false;
        }
    }

    /// <summary>A temp file about to be committed, its record kept in it when the file system allows.</summary>
    private WrittenTemp Recorded(Microsoft.Win32.SafeHandles.SafeFileHandle handle, string tempPath, string sha256, long size, DateTime lastWriteUtc) =>
        new(tempPath, size, sha256, lastWriteUtc, TryKeepAttribute(handle, new Sha256Sidecar(sha256, size, lastWriteUtc.Ticks)));

    /// <inheritdoc />
    public Task DeleteAsync(string area, string key, CancellationToken cancellationToken)
    {
        ObjectKeys.ValidateArea(area);
        ObjectKeys.ValidateKey(key);
        cancellationToken.ThrowIfCancellationRequested();

        var path = ObjectPath(area, key);
        try
        {
            // File.Exists is false for a directory: a key that is only a folder of other keys is "absent".
            if (File.Exists(path))
            {
                File.Delete(path);
                DirectorySync.Flush(Path.GetDirectoryName(path)!);
            }

            // After the object: a sidecar without its object is harmless, the reverse would cost a rehash.
            TryDeleteFile(MetaPath(area, key));
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw Failure("delete", path, ex);
        }

        return Task.CompletedTask;
    }

    /// <inheritdoc />
    /// <remarks>
    /// Same prefix rule as <see cref="ListAsync"/>: "work/load1/" removes that folder tree, "work/load1"
    /// would also remove "work/load10". An empty prefix is refused: it would empty the whole area.
    /// </remarks>
    public Task DeletePrefixAsync(string area, string prefix, CancellationToken cancellationToken)
    {
        ObjectKeys.ValidateArea(area);
        ObjectKeys.ValidatePrefix(prefix);
        if (prefix.Length == 0)
        {
            throw new ArgumentException("An empty prefix would delete the whole area; delete the area's objects explicitly.", nameof(prefix));
        }

        cancellationToken.ThrowIfCancellationRequested();
        RemoveUnderPrefix(AreaPath(area), prefix);
        RemoveUnderPrefix(Path.Combine(_metaDirectory, area), prefix);
        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public string Describe(string area, string key)
    {
        ObjectKeys.ValidateArea(area);
        ObjectKeys.ValidateKey(key);
        return ObjectPath(area, key);
    }

    private string AreaPath(string area) => Path.Combine(RootDirectory, area);

    private string ObjectPath(string area, string key) => Path.Combine(RootDirectory, area, ToNative(key));

    private string MetaPath(string area, string key) => Path.Combine(_metaDirectory, area, ToNative(key));

    private static string ToNative(string key) =>
        Path.DirectorySeparatorChar == '/' ? key : key.Replace('/', Path.DirectorySeparatorChar);

    private static DateTimeOffset LastModified(DateTime lastWriteUtc) => new(DateTime.SpecifyKind(lastWriteUtc, DateTimeKind.Utc));

    private static (string FolderKey, string NamePrefix) SplitPrefix(string prefix)
    {
        var slash = prefix.LastIndexOf('/');
        return slash < 0 ? ("", prefix) : (prefix[..slash], prefix[(slash + 1)..]);
    }

    private Stream OpenObject(string path, int bufferSize)
    {
        try
        {
            return new FileStream(path, new FileStreamOptions
            {
                Mode = FileMode.Open,
                Access = FileAccess.Read,
                // Delete: a put may rename a new version over this path while we read the old one.
                Share = FileShare.Read | FileShare.Delete,
                BufferSize = bufferSize,
                Options = FileOptions.Asynchronous | FileOptions.SequentialScan,
            });
        }
        catch (FileNotFoundException)
        {
            throw;
        }
        catch (DirectoryNotFoundException ex)
        {
            throw new FileNotFoundException($"store '{Name}': no object at {path}", path, ex);
        }
        catch (UnauthorizedAccessException ex) when (Directory.Exists(path))
        {
            // The key names a folder of other keys, not an object.
            throw new FileNotFoundException($"store '{Name}': no object at {path} (it is a folder)", path, ex);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw Failure("read", path, ex);
        }
    }

    /// <summary>Streams <paramref name="content"/> into a new temp file, hashing as it goes, and fsyncs it.</summary>
    private async Task<WrittenTemp> WriteTempAsync(Stream content, string targetPath, bool readOnly, CancellationToken cancellationToken)
    {
        var tempPath = Path.Combine(_tempDirectory, Guid.NewGuid().ToString("N") + ".part");
        Interlocked.Increment(ref _hashPasses);
        var buffer = ArrayPool<byte>.Shared.Rent(CopyBufferSize);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        long size = 0;
        try
        {
            await using (var file = CreateTemp(tempPath, targetPath))
            {
                int read;
                // Failures of the source stream propagate as they are (the source classified them);
                // only failures of our own file become store failures.
                while ((read = await content.ReadAsync(buffer.AsMemory(0, CopyBufferSize), cancellationToken)) > 0)
                {
                    hash.AppendData(buffer, 0, read);
                    try
                    {
                        await file.WriteAsync(buffer.AsMemory(0, read), cancellationToken);
                    }
                    catch (IOException ex)
                    {
                        throw Failure("write", targetPath, ex);
                    }

                    size += read;
                }

                try
                {
                    var handle = file.SafeFileHandle;
                    var onDisk = FileLinks.Status(handle);
                    if (onDisk.Size != size)
                    {
                        throw IntakeException.Integrity($"store '{Name}': wrote {size} bytes for {targetPath} but the file holds {onDisk.Size}");
                    }

                    // The last write is done, so its time is the one the object keeps under its key (a rename keeps it).
                    var written = Recorded(handle, tempPath, Convert.ToHexStringLower(hash.GetHashAndReset()), size, onDisk.LastWriteUtc);
                    if (readOnly)
                    {
                        // After the attribute (a user who is not root may set one only on a file they may write), before the
                        // fsync, which then covers the mode too.
                        MakeReadOnly(handle);
                    }

                    // fsync before the rename: otherwise a crash could leave the final name on an empty or partial file,
                    // or without its record.
                    file.Flush(flushToDisk: true);
                    return written;
                }
                catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
                {
                    throw Failure("write", targetPath, ex);
                }
            }
        }
        catch
        {
            // Whatever failed (the source, the disk, a cancellation), nothing reaches the final path.
            TryDeleteFile(tempPath);
            throw;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private FileStream CreateTemp(string tempPath, string targetPath)
    {
        try
        {
            return new FileStream(tempPath, new FileStreamOptions
            {
                Mode = FileMode.CreateNew,
                Access = FileAccess.Write,
                Share = FileShare.None,
                BufferSize = 0, // we write 1 MiB blocks; a FileStream buffer would only copy them once more
                Options = FileOptions.Asynchronous,
            });
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw Failure("write", targetPath, ex);
        }
    }

    /// <summary>
    /// Publishes a fsynced temp file under its key by an atomic rename; its record is already in it (an attribute), or
    /// goes in a sidecar first.
    /// </summary>
    private ObjectInfo Commit(WrittenTemp written, string area, string key) =>
        Publish(written, area, key, objectPath =>
        {
            File.Move(written.TempPath!, objectPath, overwrite: true);
            return true;
        })!;

    /// <summary>
    /// Publishes a durable object with its record under its key: <paramref name="place"/> puts it there in one atomic step
    /// (a rename of its temp file, or a link to a free key), or answers false (nothing placed, null returned).
    /// </summary>
    private ObjectInfo? Publish(WrittenTemp written, string area, string key, Func<string, bool> place)
    {
        var objectPath = ObjectPath(area, key);
        string? metaTemp = null;
        try
        {
            var objectDirectory = Path.GetDirectoryName(objectPath)!;
            EnsureDirectory(objectDirectory);

            string? metaDirectory = null;
            if (!written.Recorded)
            {
                // Sidecar before object: when the object appears, its checksum is already in place. A crash in
                // between leaves the previous object with a sidecar that does not match it, which is detected.
                var metaPath = MetaPath(area, key);
                metaDirectory = Path.GetDirectoryName(metaPath)!;
                EnsureDirectory(metaDirectory);
                metaTemp = Path.Combine(_tempDirectory, Guid.NewGuid().ToString("N") + ".sha256");
                WriteDurably(metaTemp, new Sha256Sidecar(written.Sha256, written.Size, written.LastWriteUtc.Ticks).Format());
                File.Move(metaTemp, metaPath, overwrite: true);
            }

            // An earlier version's sidecar may stay behind: it records another size and last write, so it never holds
            // for this object (and the attribute is read first).
            if (!place(objectPath))
            {
                return null;
            }

            DirectorySync.Flush(objectDirectory);
            if (metaDirectory is not null)
            {
                DirectorySync.Flush(metaDirectory);
            }

            return new ObjectInfo(area, key, written.Size, written.Sha256, LastModified(written.LastWriteUtc));
        }
        catch (Exception ex)
        {
            // Whatever failed, the temp files go: a failed put leaves nothing behind.
            TryDeleteFile(written.TempPath);
            TryDeleteFile(metaTemp);

            if (ex is IOException or UnauthorizedAccessException)
            {
                throw Failure("write", objectPath, ex);
            }

            throw;
        }
    }

    /// <summary>Hashes an object whose sidecar is missing or stale, and writes a fresh sidecar.</summary>
    private async Task<ObjectInfo?> RehashAsync(string area, string key, CancellationToken cancellationToken)
    {
        var path = ObjectPath(area, key);
        var buffer = ArrayPool<byte>.Shared.Rent(CopyBufferSize);
        try
        {
            // An object rewritten in place (not by us) while we hash it gives a hash of nothing in
            // particular; try again a few times, then report it as a transient failure.
            for (var attempt = 0; attempt < 3; attempt++)
            {
                Stream stream;
                try
                {
                    stream = OpenObject(path, bufferSize: 0);
                }
                catch (FileNotFoundException)
                {
                    return null;
                }

                await using (stream)
                {
                    var handle = ((FileStream)stream).SafeFileHandle;
                    var before = (Size: RandomAccess.GetLength(handle), Time: File.GetLastWriteTimeUtc(handle));

                    Interlocked.Increment(ref _hashPasses);
                    using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
                    int read;
                    while ((read = await stream.ReadAsync(buffer.AsMemory(0, CopyBufferSize), cancellationToken)) > 0)
                    {
                        hash.AppendData(buffer, 0, read);
                    }

                    var after = (Size: RandomAccess.GetLength(handle), Time: File.GetLastWriteTimeUtc(handle));
                    if (before != after)
                    {
                        continue;
                    }

                    var sha256 = Convert.ToHexStringLower(hash.GetHashAndReset());
                    // The record is a cache: not fsynced (a lost one costs a rehash), and a failure to keep it is no failure.
                    var record = new Sha256Sidecar(sha256, before.Size, before.Time.Ticks);
                    if (!TryKeepAttribute(handle, record))
                    {
                        TryRepairSidecar(area, key, record);
                    }

                    return new ObjectInfo(area, key, before.Size, sha256, LastModified(before.Time));
                }
            }

            throw IntakeException.Transient($"store '{Name}': {path} kept changing while its SHA-256 was computed");
        }
        catch (IOException ex)
        {
            throw Failure("read", path, ex);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private void TryRepairSidecar(string area, string key, Sha256Sidecar sidecar)
    {
        // The sidecar is a cache: failing to write it (read-only mount, full disk) costs a rehash next time, nothing more.
        var metaTemp = Path.Combine(_tempDirectory, Guid.NewGuid().ToString("N") + ".sha256");
        try
        {
            var metaPath = MetaPath(area, key);
            EnsureDirectory(Path.GetDirectoryName(metaPath)!);
            WriteDurably(metaTemp, sidecar.Format());
            File.Move(metaTemp, metaPath, overwrite: true);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            TryDeleteFile(metaTemp);
        }
    }

    private void PushChildren(Stack<(FileSystemInfo Entry, string Key)> pending, string directory, string directoryKey, string namePrefix)
    {
        List<(FileSystemInfo Entry, string SortName)> children;
        try
        {
            children = new DirectoryInfo(directory)
                .EnumerateFileSystemInfos("*", ListOptions)
                // Symbolic links are not objects we wrote (and a linked folder could loop); names with a
                // backslash cannot be keys.
                .Where(e => (e.Attributes & FileAttributes.ReparsePoint) == 0
                    && e.Name.StartsWith(namePrefix, StringComparison.Ordinal)
                    && !e.Name.Contains('\\', StringComparison.Ordinal))
                // A folder sorts as "name/": every key inside it starts with that, so ordering siblings
                // this way yields the keys in ordinal order ("a-b" < "a/c" because '-' < '/').
                .Select(e => (Entry: e, SortName: e is DirectoryInfo ? e.Name + "/" : e.Name))
                .ToList();
        }
        catch (DirectoryNotFoundException)
        {
            return; // absent, or removed while we listed: nothing under it
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw Failure("list", directory, ex);
        }

        children.Sort(static (a, b) => string.CompareOrdinal(a.SortName, b.SortName));
        for (var i = children.Count - 1; i >= 0; i--)
        {
            var name = children[i].Entry.Name;
            pending.Push((children[i].Entry, directoryKey.Length == 0 ? name : directoryKey + "/" + name));
        }
    }

    private static readonly EnumerationOptions ListOptions = new()
    {
        RecurseSubdirectories = false,
        // The default skips Hidden, which on Unix means every dot-file: those are valid keys here.
        AttributesToSkip = FileAttributes.None,
        IgnoreInaccessible = false,
        ReturnSpecialDirectories = false,
        MatchType = MatchType.Simple,
    };

    private void RemoveUnderPrefix(string baseDirectory, string prefix)
    {
        var (folderKey, namePrefix) = SplitPrefix(prefix);
        var directory = folderKey.Length == 0 ? baseDirectory : Path.Combine(baseDirectory, ToNative(folderKey));
        try
        {
            if (!Directory.Exists(directory))
            {
                return;
            }

            if (namePrefix.Length == 0)
            {
                // "x/": the folder itself goes.
                Directory.Delete(directory, recursive: true);
                DirectorySync.Flush(Path.GetDirectoryName(directory)!);
                return;
            }

            foreach (var entry in new DirectoryInfo(directory).EnumerateFileSystemInfos("*", ListOptions))
            {
                if (!entry.Name.StartsWith(namePrefix, StringComparison.Ordinal))
                {
                    continue;
                }

                if (entry is DirectoryInfo folder && (entry.Attributes & FileAttributes.ReparsePoint) == 0)
                {
                    folder.Delete(recursive: true);
                }
                else
                {
                    entry.Delete(); // a file, or a link (removes the link, never its target)
                }
            }

            DirectorySync.Flush(directory);
        }
        catch (DirectoryNotFoundException)
        {
            // Removed concurrently: the goal is reached.
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw Failure("delete", Path.Combine(directory, namePrefix), ex);
        }
    }

    /// <summary>Creates a folder and makes each new entry durable in its parent, so a new key's path survives a crash.</summary>
    private static void EnsureDirectory(string directory)
    {
        if (Directory.Exists(directory))
        {
            return;
        }

        var missing = new List<string>();
        var existing = directory;
        while (!Directory.Exists(existing))
        {
            if (File.Exists(existing))
            {
                // Key "a/b" after key "a": S3 allows both, a file system cannot. Retrying will not help.
                throw IntakeException.Config($"cannot create folder {directory}: {existing} is an object, so it cannot also be a folder of objects");
            }

            missing.Add(existing);
            existing = Path.GetDirectoryName(existing)!;
        }

        Directory.CreateDirectory(directory);

        // Each new folder's entry lives in its parent: the nearest existing ancestor, then each new
        // folder but the deepest (whose own entries are flushed by the caller after the rename).
        DirectorySync.Flush(existing);
        for (var i = missing.Count - 1; i > 0; i--)
        {
            DirectorySync.Flush(missing[i]);
        }
    }

    private static void WriteDurably(string path, string text)
    {
        using var file = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, bufferSize: 0);
        file.Write(System.Text.Encoding.ASCII.GetBytes(text));
        file.Flush(flushToDisk: true);
    }

    private void RemoveAbandonedTempFiles()
    {
        var now = _time.GetUtcNow();
        try
        {
            foreach (var file in new DirectoryInfo(_tempDirectory).EnumerateFiles("*", ListOptions))
            {
                if (now - LastModified(file.LastWriteTimeUtc) > AbandonedTempAge)
                {
                    TryDeleteFile(file.FullName);
                }
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // Housekeeping only: a store that cannot tidy its temp folder still works.
        }
    }

    private static void TryDeleteFile(string? path)
    {
        if (path is null)
        {
            return;
        }

        try
        {
            File.Delete(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // Best effort: a leftover temp file is removed by the next start; a leftover sidecar is ignored.
        }
    }

    private IntakeException Failure(string action, string path, Exception ex) => ex switch
    {
        // Permissions do not fix themselves by retrying.
        UnauthorizedAccessException => IntakeException.Config($"store '{Name}': cannot {action} {path}: permission denied", ex),
        // Full disk, I/O error, a folder removed under a concurrent write: worth a retry.
        _ => IntakeException.Transient($"store '{Name}': cannot {action} {path}: {ex.Message}", ex),
    };

    /// <summary>
    /// A fsynced temp file (no <paramref name="TempPath"/>: an existing object to link); <paramref name="Recorded"/>: its
    /// SHA-256 record is in its own attribute (else it needs a sidecar).
    /// </summary>
    private sealed record WrittenTemp(string? TempPath, long Size, string Sha256, DateTime LastWriteUtc, bool Recorded);
}
