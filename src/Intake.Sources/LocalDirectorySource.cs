using System.Buffers;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using Intake.Core.Errors;
using Intake.Core.Ports;
using Intake.Shared.IO;

namespace Intake.Sources;

/// <summary>
/// Offers the files of a local folder (or a mounted share) to discovery, recursively, filtered by
/// include and exclude patterns, and only once they look complete.
/// </summary>
/// <remarks>
/// <para>
/// "Complete" has no signal on a plain file system, so it is inferred: a file is offered when its
/// last-write time is at least <see cref="LocalDirectorySourceOptions.StableFor"/> in the past (by the
/// injected clock), and, when this instance saw the file in its previous listing, its size and
/// last-write time are still what they were then. The second rule catches writers that stamp an old
/// modification time before they finish (some SMB and <c>cp -p</c>-style copies); it needs no memory
/// across restarts, so a one-shot CLI run still offers files from its first listing. A file whose
/// modification time lies in the future (a skewed clock on a share) waits until that time has passed.
/// </para>
/// <para>
/// The fingerprint is <c>size:&lt;bytes&gt;;mtime:&lt;unix ms&gt;</c>. A rewrite of the same size within the precision of
/// the file system's time stamps (a second on many, two on FAT, a clock tick on the finest) leaves both unchanged, so
/// a file offered while its time is that recent (only with a <c>stable_for</c> under <see cref="TimestampPrecision"/>)
/// is also read and hashed, and hashed again on each listing until its time is older than that: a different content
/// under the same size and time is a new version, offered with <c>;sha256:&lt;digest&gt;</c> added. Files offered
/// later are never read at listing: a natural rewrite after that moves the time.
/// </para>
/// <para>
/// Never offered: names starting with '.' (and everything inside such folders: <c>.git</c>, rsync's
/// <c>.name.XXXX</c> temp files), the temporary names upload tools use while writing
/// (<see cref="TemporaryNameSuffixes"/>, Office <c>~$</c> lock files), symbolic links (a link could
/// lead outside the folder, or loop), and names with a backslash (not portable as keys).
/// </para>
/// <para>
/// Written files (<see cref="IFileDrop"/>, a stream's batches): streamed into a hidden temp file beside the target
/// (<c>.name.random.tmp</c>, never listed), stamped with the given time, fsynced, renamed over the target and the
/// folder fsynced: a listing sees no file or the whole file, and the same content written again has the same
/// size and modification time, so the same fingerprint. A write removes the temp files of earlier writes of the same
/// file that a crash cut short.
/// </para>
/// </remarks>
public sealed class LocalDirectorySource : IRemovableFileSource, IFileDrop, ILocalFileSource
{
    /// <summary>Suffixes of files that upload and download tools are still writing (compared ignoring case).</summary>
    public static IReadOnlyList<string> TemporaryNameSuffixes { get; } =
        [".tmp", ".temp", ".part", ".partial", ".filepart", ".crdownload", ".download", ".swp", "~"];

    // Bigger reads (the store copies in 1 MiB blocks) bypass this buffer; smaller ones are absorbed by it.
    private const int ReadBufferSize = 64 * 1024;

    private static readonly EnumerationOptions ListOptions = new()
    {
        RecurseSubdirectories = false,
        AttributesToSkip = FileAttributes.None, // hidden names are filtered by name below, the same on every OS
        IgnoreInaccessible = false, // a folder we may not read is a configuration problem to report, not to hide
        ReturnSpecialDirectories = false,
        MatchType = MatchType.Simple,
    };

    /// <summary>
    /// How recent a modification time must be for a same-size rewrite to leave it unchanged: file systems keep times to
    /// the second (FAT to two), and even the finest move their clock in ticks of milliseconds.
    /// </summary>
    public static readonly TimeSpan TimestampPrecision = TimeSpan.FromSeconds(2);

    private const string DigestMarker = ";sha256:";

    private readonly TimeProvider _time;
    private readonly Glob[] _include;
    private readonly Glob[] _exclude;
    private readonly TimeSpan _stableFor;

    // What the previous complete listing saw. Replaced whole at the end of a listing, never mutated, so
    // concurrent listings only ever compare against a consistent snapshot.
    private volatile Dictionary<string, Observation> _lastSeen = new(StringComparer.Ordinal);

    /// <summary>Validates the options and compiles the patterns.</summary>
    /// <exception cref="IntakeException">Config: no directory, no include pattern, a bad pattern or a negative <c>StableFor</c>.</exception>
    public LocalDirectorySource(LocalDirectorySourceOptions options, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(time);

        if (string.IsNullOrWhiteSpace(options.Directory))
        {
            throw IntakeException.Config("local source: 'path' (the folder to watch) is not set");
        }

        if (options.Include is null || options.Include.Count == 0)
        {
            throw IntakeException.Config($"local source {options.Directory}: 'include' is empty, so no file could ever be taken (the default is **/*)");
        }

        if (options.StableFor < TimeSpan.Zero)
        {
            throw IntakeException.Config($"local source {options.Directory}: 'stable_for' cannot be negative ({options.StableFor})");
        }

        RootDirectory = Path.GetFullPath(options.Directory);
        _time = time;
        _stableFor = options.StableFor;
        _include = options.Include.Select(p => Glob.Parse(p, options.IgnoreCase)).ToArray();
        _exclude = (options.Exclude ?? []).Select(p => Glob.Parse(p, options.IgnoreCase)).ToArray();
    }

    /// <summary>The absolute folder this source lists.</summary>
    public string RootDirectory { get; }

    /// <inheritdoc />
    /// <exception cref="IntakeException">Config, naming the path, when the folder is missing or cannot be read.</exception>
    public async IAsyncEnumerable<SourceFile> ListAsync([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await Task.CompletedTask; // listing is synchronous file system work; the signature is the interface's.
        if (!Directory.Exists(RootDirectory))
        {
            throw IntakeException.Config($"local source: directory {RootDirectory} does not exist");
        }

        var now = _time.GetUtcNow();
        var previous = _lastSeen;
        var seen = new Dictionary<string, Observation>(previous.Count, StringComparer.Ordinal);

        // Depth-first with an explicit stack, children pushed in reverse order: keys come out in ordinal
        // order (a folder sorts as "name/") while memory holds one folder listing per level.
        var pending = new Stack<(FileSystemInfo Entry, string Key)>();
        PushChildren(pending, RootDirectory, "");
        while (pending.TryPop(out var item))
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (item.Entry is DirectoryInfo)
            {
                PushChildren(pending, item.Entry.FullName, item.Key);
                continue;
            }

            if (!IsWanted(item.Key))
            {
                continue;
            }

            var file = (FileInfo)item.Entry;
            var modified = new DateTimeOffset(DateTime.SpecifyKind(file.LastWriteTimeUtc, DateTimeKind.Utc));
            var stat = new Stat(file.Length, modified);
            seen[item.Key] = new Observation(stat);

            if (now - modified < _stableFor)
            {
                continue; // written to recently: possibly still being written
            }

            var before = previous.GetValueOrDefault(item.Key);
            if (before is not null && before.Stat != stat)
            {
                continue; // changed since the last listing although its time looks old: wait for one quiet listing
            }

            var fingerprint = Fingerprint(stat);
            string? firstDigest = null;
            if (before is { Fingerprint: { } offered, FirstDigest: null })
            {
                fingerprint = offered; // settled: the version offered last time, unchanged since
            }
            else if (now - modified < TimestampPrecision || before?.FirstDigest is not null)
            {
                // A same-size rewrite within the time stamp's precision is seen in the content only.
                if (Digest(file) is not { } digest)
                {
                    seen.Remove(item.Key);
                    continue; // removed while we listed
                }

                firstDigest = before?.FirstDigest ?? digest;
                if (digest != firstDigest)
                {
                    fingerprint += DigestMarker + digest;
                }

                if (now - modified >= TimestampPrecision)
                {
                    firstDigest = null; // checked once more after the time can no longer hide a rewrite: settled
                }
            }

            seen[item.Key] = new Observation(stat) { Fingerprint = fingerprint, FirstDigest = firstDigest };
            yield return new SourceFile(item.Key, stat.Size, modified, fingerprint);
        }

        // Only a listing that ran to the end describes the whole folder; an abandoned one would forget files.
        _lastSeen = seen;
    }

    /// <inheritdoc />
    /// <exception cref="ArgumentException">The key is not a relative path inside the folder.</exception>
    /// <exception cref="IntakeException">Security when the key is a symbolic link; Config when it cannot be read.</exception>
    public Task<Stream> OpenReadAsync(string key, CancellationToken cancellationToken)
    {
        var path = Describe(key);
        cancellationToken.ThrowIfCancellationRequested();
        try
        {
            var info = new FileInfo(path);
            if (info.LinkTarget is not null)
            {
                // Listing never offers links; one here was swapped in after the listing.
                throw IntakeException.Security($"local source: {path} is a symbolic link; links are not followed");
            }

            Stream stream = new FileStream(path, new FileStreamOptions
            {
                Mode = FileMode.Open,
                Access = FileAccess.Read,
                // The producer owns the file: never lock it against its writes, renames or deletes.
                Share = FileShare.ReadWrite | FileShare.Delete,
                BufferSize = ReadBufferSize,
                Options = FileOptions.Asynchronous | FileOptions.SequentialScan,
            });
            return Task.FromResult(stream);
        }
        catch (DirectoryNotFoundException ex)
        {
            throw new FileNotFoundException($"local source: {path} no longer exists", path, ex);
        }
        catch (UnauthorizedAccessException ex) when (Directory.Exists(path))
        {
            throw new FileNotFoundException($"local source: {path} is a folder, not a file", path, ex);
        }
        catch (UnauthorizedAccessException ex)
        {
            throw IntakeException.Config($"local source: no permission to read {path}", ex);
        }
        catch (IOException ex) when (ex is not FileNotFoundException)
        {
            throw IntakeException.Transient($"local source: cannot read {path}: {ex.Message}", ex);
        }
    }

    /// <inheritdoc />
    /// <remarks>
    /// Compares the opened file's size and modification time (and, for a version told apart by its content, the
    /// content's digest) with the fingerprint; the open file keeps its content when a writer replaces it by renaming.
    /// </remarks>
    /// <exception cref="IntakeException">Integrity when the file has changed since it was listed; else as <see cref="OpenReadAsync"/>.</exception>
    public async Task<Stream> OpenListedAsync(string key, string fingerprint, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(fingerprint);
        var stream = await OpenReadAsync(key, cancellationToken);
        try
        {
            var handle = ((FileStream)stream).SafeFileHandle;
            var stat = new Stat(RandomAccess.GetLength(handle), new DateTimeOffset(DateTime.SpecifyKind(File.GetLastWriteTimeUtc(handle), DateTimeKind.Utc)));
            var marker = fingerprint.IndexOf(DigestMarker, StringComparison.Ordinal);
            var listed = marker < 0 ? fingerprint : fingerprint[..marker];
            if (listed.StartsWith("size:", StringComparison.Ordinal) && Fingerprint(stat) != listed)
            {
                throw Changed(key, $"{listed} then, {Fingerprint(stat)} now");
            }

            if (marker >= 0)
            {
                var digest = Convert.ToHexStringLower(await SHA256.HashDataAsync(stream, cancellationToken));
                if (digest != fingerprint[(marker + DigestMarker.Length)..])
                {
                    throw Changed(key, "same size and time, other content");
                }

                stream.Position = 0;
            }

            return stream;
        }
        catch
        {
            await stream.DisposeAsync();
            throw;
        }
    }

    /// <inheritdoc />
    public async Task<FileStream> OpenListedFileAsync(string key, string fingerprint, CancellationToken cancellationToken) =>
        (FileStream)await OpenListedAsync(key, fingerprint, cancellationToken);

    /// <inheritdoc />
    /// <remarks>
    /// The listed version is the file's size and modification time (and its digest when the listing told versions apart
    /// by content); a file that differs is another version and stays. The comparison and the delete are two calls: a
    /// producer that rewrites the file in between loses that rewrite, which is why producers write under a temporary
    /// name and rename (the stable-file rule never lists such a file before it is whole).
    /// </remarks>
    /// <exception cref="IntakeException">Config when there is no permission to delete; Transient for other I/O failures.</exception>
    public async Task<SourceRemoval> DeleteAsync(string key, string expectedFingerprint, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(expectedFingerprint);
        var path = Describe(key);
        Stream stream;
        try
        {
            stream = await OpenListedAsync(key, expectedFingerprint, cancellationToken);
        }
        catch (FileNotFoundException)
        {
            return SourceRemoval.AlreadyGone;
        }
        catch (IntakeException e) when (e.Kind == ErrorKind.Integrity)
        {
            return SourceRemoval.Changed;
        }

        await stream.DisposeAsync();
        try
        {
            File.Delete(path); // absent by now is not an error: someone else removed it
            return SourceRemoval.Deleted;
        }
        catch (UnauthorizedAccessException ex)
        {
            throw IntakeException.Config($"local source: no permission to delete {path}; give the worker write access to the folder, or set source.remove_after: false", ex);
        }
        catch (IOException ex)
        {
            throw IntakeException.Transient($"local source: cannot delete {path}: {ex.Message}", ex);
        }
    }

    /// <inheritdoc />
    public string Describe(string key)
    {
        ValidateKey(key);
        return Path.Combine(RootDirectory, Path.DirectorySeparatorChar == '/' ? key : key.Replace('/', Path.DirectorySeparatorChar));
    }

    /// <inheritdoc />
    public bool Offers(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        if (!IsKey(key))
        {
            return false;
        }

        var segments = key.Split('/');
        var name = segments[^1];
        return !segments.Any(s => s[0] == '.') && !name.StartsWith("~$", StringComparison.Ordinal) &&
            !TemporaryNameSuffixes.Any(s => name.EndsWith(s, StringComparison.OrdinalIgnoreCase)) && IsWanted(key);
    }

    /// <inheritdoc />
    /// <exception cref="ArgumentException">The key is not a relative path inside the folder.</exception>
    /// <exception cref="IntakeException">Config when the folder is missing or may not be written; Transient for other I/O failures.</exception>
    public async Task WriteAsync(string key, Stream content, DateTimeOffset written, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(content);
        var path = Describe(key);
        if (!Directory.Exists(RootDirectory))
        {
            throw IntakeException.Config($"local source: directory {RootDirectory} does not exist");
        }

        var directory = Path.GetDirectoryName(path)!;
        var temp = Path.Combine(directory, $".{Path.GetFileName(path)}.{Guid.NewGuid():N}.tmp");
        var buffer = ArrayPool<byte>.Shared.Rent(1 << 20);
        try
        {
            FileStream file;
            try
            {
                CreateDirectories(directory);
                RemoveCutShortWrites(directory, Path.GetFileName(path));
                file = new FileStream(temp, new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None, BufferSize = 0, Options = FileOptions.Asynchronous });
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                throw WriteFailure(path, ex);
            }

            await using (file)
            {
                int read;

                // A failure of the content itself comes through unchanged: its source knows what went wrong.
                while ((read = await content.ReadAsync(buffer, cancellationToken)) > 0)
                {
                    try
                    {
                        await file.WriteAsync(buffer.AsMemory(0, read), cancellationToken);
                    }
                    catch (IOException ex)
                    {
                        throw WriteFailure(path, ex);
                    }
                }

                try
                {
                    // Milliseconds, as the fingerprint counts them: the same content written again is the same file to discovery.
                    File.SetLastWriteTimeUtc(file.SafeFileHandle, DateTimeOffset.FromUnixTimeMilliseconds(written.ToUnixTimeMilliseconds()).UtcDateTime);

                    // fsync before the rename: otherwise a crash could leave the final name on an empty or partial file.
                    file.Flush(flushToDisk: true);
                }
                catch (IOException ex)
                {
                    throw WriteFailure(path, ex);
                }
            }

            try
            {
                File.Move(temp, path, overwrite: true);
                DirectorySync.Flush(directory);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                throw WriteFailure(path, ex);
            }
        }
        catch
        {
            TryDelete(temp);
            throw;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>Temp files of earlier writes of the same file that a crash cut short: the write being made replaces them.</summary>
    private static void RemoveCutShortWrites(string directory, string name)
    {
        foreach (var stale in Directory.EnumerateFiles(directory, $".{name}.*.tmp"))
        {
            TryDelete(stale);
        }
    }

    private static IntakeException WriteFailure(string path, Exception ex) => ex is UnauthorizedAccessException
        ? IntakeException.Config($"local source: no permission to write {path}", ex)
        : IntakeException.Transient($"local source: cannot write {path}: {ex.Message}", ex);

    /// <summary>Creates the missing folders of <paramref name="directory"/> under the root and makes each new entry durable.</summary>
    private void CreateDirectories(string directory)
    {
        var missing = new Stack<string>();
        for (var d = directory; !Directory.Exists(d) && d.Length > RootDirectory.Length; d = Path.GetDirectoryName(d)!)
        {
            missing.Push(d);
        }

        while (missing.TryPop(out var d))
        {
            Directory.CreateDirectory(d);
            DirectorySync.Flush(Path.GetDirectoryName(d)!);
        }
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // A hidden temp file left behind is never listed; it is only disk space.
        }
    }

    private bool IsWanted(string key) => _include.Any(g => g.IsMatch(key)) && !_exclude.Any(g => g.IsMatch(key));

    private static string Fingerprint(Stat o) =>
        string.Create(CultureInfo.InvariantCulture, $"size:{o.Size};mtime:{o.Modified.ToUnixTimeMilliseconds()}");

    private IntakeException Changed(string key, string how) => IntakeException.Integrity(
        $"local source: {Describe(key)} changed after it was listed ({how}); this load's version is gone, and the new content is a load of its own once discovery lists it");

    /// <summary>The SHA-256 of the file's content, lower-case hex; null when the file is gone.</summary>
    private static string? Digest(FileInfo file)
    {
        try
        {
            using var stream = new FileStream(file.FullName, new FileStreamOptions
            {
                Mode = FileMode.Open,
                Access = FileAccess.Read,
                Share = FileShare.ReadWrite | FileShare.Delete,
                BufferSize = ReadBufferSize,
                Options = FileOptions.SequentialScan,
            });
            return Convert.ToHexStringLower(SHA256.HashData(stream));
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            return null;
        }
        catch (UnauthorizedAccessException ex)
        {
            throw IntakeException.Config($"local source: no permission to read {file.FullName}", ex);
        }
        catch (IOException ex)
        {
            throw IntakeException.Transient($"local source: cannot read {file.FullName}: {ex.Message}", ex);
        }
    }

    private static bool IsSkipped(FileSystemInfo entry)
    {
        var name = entry.Name;
        if (name[0] == '.' || (entry.Attributes & FileAttributes.ReparsePoint) != 0 || name.Contains('\\', StringComparison.Ordinal))
        {
            return true;
        }

        return entry is FileInfo &&
            (name.StartsWith("~$", StringComparison.Ordinal) ||
             TemporaryNameSuffixes.Any(s => name.EndsWith(s, StringComparison.OrdinalIgnoreCase)));
    }

    private void PushChildren(Stack<(FileSystemInfo Entry, string Key)> pending, string directory, string directoryKey)
    {
        List<(FileSystemInfo Entry, string SortName)> children;
        try
        {
            children = new DirectoryInfo(directory)
                .EnumerateFileSystemInfos("*", ListOptions)
                .Where(e => !IsSkipped(e))
                .Select(e => (Entry: e, SortName: e is DirectoryInfo ? e.Name + "/" : e.Name))
                .ToList();
        }
        catch (DirectoryNotFoundException)
        {
            return; // removed while we listed: nothing to offer from it
        }
        catch (UnauthorizedAccessException ex)
        {
            throw IntakeException.Config($"local source: no permission to list {directory}", ex);
        }
        catch (IOException ex)
        {
            throw IntakeException.Transient($"local source: cannot list {directory}: {ex.Message}", ex);
        }

        children.Sort(static (a, b) => string.CompareOrdinal(a.SortName, b.SortName));
        for (var i = children.Count - 1; i >= 0; i--)
        {
            var name = children[i].Entry.Name;
            pending.Push((children[i].Entry, directoryKey.Length == 0 ? name : directoryKey + "/" + name));
        }
    }

    private static bool IsKey(string key) =>
        key.Length > 0 && key[0] != '/' && !key.Contains('\\', StringComparison.Ordinal) && !key.Contains('\0', StringComparison.Ordinal) &&
        !key.Split('/').Any(s => s is "" or "." or "..");

    private static void ValidateKey(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        if (!IsKey(key))
        {
            // Keys come from our own listing; anything else may be an attempt to read outside the folder.
            throw new ArgumentException($"'{key.Replace('\0', '?')}' is not a relative path inside the source folder.", nameof(key));
        }
    }

    private readonly record struct Stat(long Size, DateTimeOffset Modified);

    /// <summary>
    /// What a listing saw of a file: its <see cref="Stat"/>; the fingerprint it offered the file with (null when not
    /// offered); and, while a same-size rewrite could still hide behind an unchanged time, the digest of the content
    /// first offered with that stat (null once settled).
    /// </summary>
    private sealed record Observation(Stat Stat)
    {
        public string? Fingerprint { get; init; }

        public string? FirstDigest { get; init; }
    }
}
