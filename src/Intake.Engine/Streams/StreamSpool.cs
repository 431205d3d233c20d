using System.Globalization;
using Intake.Core.Errors;
using Intake.Shared.IO;

namespace Intake.Engine.Streams;

/// <summary>A sealed batch in the spool: its file, the uuid it is written under, and when it was sealed.</summary>
/// <param name="Path">The sealed file in the spool.</param>
/// <param name="Id">The batch's uuid, chosen when it was sealed: its source key is <c>&lt;prefix&gt;&lt;id&gt;.json</c>.</param>
/// <param name="SealedAt">When it was sealed, to the millisecond: the batch file is stamped with it.</param>
/// <param name="Bytes">The file's size.</param>
public sealed record SealedBatch(string Path, Guid Id, DateTimeOffset SealedAt, long Bytes);

/// <summary>What recovery found in a spool left by a process that stopped (or was killed).</summary>
/// <param name="Records">Records of the open batch kept.</param>
/// <param name="TornBytes">Bytes of a last line cut short (never acknowledged: its request had not been fsynced), cut off.</param>
/// <param name="BadLines">Complete lines that were not records (a disk that lost writes in a power cut), dropped.</param>
/// <param name="Sealed">Sealed batches waiting to be written.</param>
public sealed record SpoolRecovery(long Records, long TornBytes, long BadLines, int Sealed);

/// <summary>A spool as <c>intake streams</c> shows it, read without taking it over.</summary>
/// <param name="PendingRecords">Records accepted and not yet sealed into a batch.</param>
/// <param name="OldestPendingAt">When the oldest of them arrived (the open batch's start); null when none.</param>
/// <param name="SealedBatches">Sealed batches not yet written to the pipeline's source.</param>
/// <param name="SealedRecords">Records in those batches.</param>
/// <param name="OldestSealedAt">When the oldest of them was sealed; null when none.</param>
/// <param name="InUse">Whether a process (a running <c>intake serve</c>) holds the spool now.</param>
public sealed record SpoolStatus(long PendingRecords, DateTimeOffset? OldestPendingAt, int SealedBatches, long SealedRecords, DateTimeOffset? OldestSealedAt, bool InUse);

/// <summary>
/// The files of one stream on this machine's disk, where accepted records wait until their batch is written. One
/// process owns a spool at a time (an exclusive lock on its <c>lock</c> file, released by the OS when the process
/// dies, so a killed server's successor takes it over at once).
/// </summary>
/// <remarks>
/// <para>
/// Layout: <c>active-&lt;opened ms&gt;.ndjson</c> is the open batch, records appended as lines, its name saying when
/// its first record arrived (for <c>max_age</c>). <c>sealed-&lt;sealed ms&gt;-&lt;uuid&gt;.ndjson</c> is a sealed
/// batch: sealing fsyncs the open batch and renames it, choosing the uuid, so the uuid a batch is written under is
/// durable before the batch is written anywhere, and a crash at any later point re-sends the same content under
/// the same key. <c>flush</c> is a request from <c>intake streams flush</c> to seal now.
/// </para>
/// <para>
/// Guarantees (at least once into the spool, exactly once into the source): <see cref="Sync"/> returns only when
/// every appended line is on disk, and the caller acknowledges records only after it. Recovery keeps every complete
/// line that is a record and cuts a torn last line (an append cut by the crash: never acknowledged, because its fsync
/// had not returned). A line acknowledged is never dropped.
/// </para>
/// <para>Not thread-safe: one writer (the stream's batcher) appends, syncs and seals; the static readers only list.</para>
/// </remarks>
public sealed class StreamSpool : IDisposable
{
    private const string LockName = "lock";
    private const string FlushName = "flush";
    private const string ActivePrefix = "active-";
    private const string SealedPrefix = "sealed-";
    private const string Extension = ".ndjson";
    private const string RewriteExtension = ".rewrite";

    private readonly FileStream _lock;
    private readonly TimeProvider _time;
    private FileStream? _active;
    private string? _activePath;
    private long _length;
    private long _syncedLength;
    private long _syncedCount;
    private DateTime _lastFlushCheck;

    private StreamSpool(string directory, FileStream lockFile, TimeProvider time)
    {
        Directory = directory;
        _lock = lockFile;
        _time = time;
    }

    /// <summary>The spool's folder.</summary>
    public string Directory { get; }

    /// <summary>Records in the open batch (appended, synced or not).</summary>
    public long Count { get; private set; }

    /// <summary>When the open batch's first record arrived; null when no batch is open.</summary>
    public DateTimeOffset? OpenedAt { get; private set; }

    /// <summary>
    /// Takes the spool over (creating its folder) and recovers what the previous owner left: the open batch is
    /// checked line by line and continued, sealed batches are left for <see cref="ListSealed"/>.
    /// </summary>
    /// <exception cref="IntakeException">Config: the folder cannot be created or written, or another process holds the spool.</exception>
    public static StreamSpool Open(string directory, TimeProvider time, out SpoolRecovery recovery)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        ArgumentNullException.ThrowIfNull(time);
        directory = Path.GetFullPath(directory);
        FileStream lockFile;
        try
        {
            System.IO.Directory.CreateDirectory(directory);
            lockFile = new FileStream(Path.Combine(directory, LockName), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (UnauthorizedAccessException e)
        {
            throw IntakeException.Config($"stream spool {directory}: no permission to create or write it", e);
        }
        catch (IOException e) when (System.IO.Directory.Exists(directory))
        {
            throw IntakeException.Config($"stream spool {directory} is in use by another process (another 'intake serve' of this project on this machine?); a spool belongs to one process at a time", e);
        }
        catch (IOException e)
        {
            throw IntakeException.Config($"stream spool {directory}: cannot create it: {e.Message}", e);
        }

        var spool = new StreamSpool(directory, lockFile, time);
        try
        {
            recovery = spool.Recover();
            return spool;
        }
        catch
        {
            spool.Dispose();
            throw;
        }
    }

    /// <summary>Appends whole lines (each ending in '\n') to the open batch, opening one when none is.</summary>
    /// <param name="lines">Records, one per line.</param>
    /// <param name="count">How many lines <paramref name="lines"/> holds.</param>
    public void Append(ReadOnlySpan<byte> lines, long count)
    {
        if (_active is null)
        {
            OpenActive(_time.GetUtcNow());
        }

        _active!.Write(lines);
        _length += lines.Length;
        Count += count;
    }

    /// <summary>Makes every appended line durable (fsync); records may be acknowledged once this returns.</summary>
    public void Sync()
    {
        if (_active is null || _syncedLength == _length)
        {
            return;
        }

        _active.Flush(flushToDisk: true);
        _syncedLength = _length;
        _syncedCount = Count;
    }

    /// <summary>
    /// Cuts the open batch back to what the last <see cref="Sync"/> made durable, after a write or an fsync failed:
    /// the records since were not acknowledged and are not kept.
    /// </summary>
    public void RollBack()
    {
        if (_active is null)
        {
            return;
        }

        _active.SetLength(_syncedLength);
        _active.Position = _syncedLength;
        _active.Flush(flushToDisk: true);
        _length = _syncedLength;
        Count = _syncedCount;
    }

    /// <summary>
    /// Seals the open batch: fsynced, then renamed to its sealed name with a new uuid, and the folder fsynced, so the
    /// uuid is durable before anything is written under it. Null when no record is waiting.
    /// </summary>
    public SealedBatch? Seal()
    {
        if (_active is null || Count == 0)
        {
            return null;
        }

        Sync();
        var sealedAt = Milliseconds(_time.GetUtcNow());
        var id = Guid.CreateVersion7(sealedAt);
        var path = Path.Combine(Directory, $"{SealedPrefix}{sealedAt.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture)}-{id:N}{Extension}");
        _active.Dispose();
        _active = null;
        File.Move(_activePath!, path);
        DirectorySync.Flush(Directory);
        var batch = new SealedBatch(path, id, sealedAt, _length);
        _activePath = null;
        _length = _syncedLength = _syncedCount = Count = 0;
        OpenedAt = null;
        return batch;
    }

    /// <summary>Whether <c>intake streams flush</c> asked to seal now (looked at about once a second); the request is removed.</summary>
    public bool TakeFlushRequest()
    {
        var now = _time.GetUtcNow().UtcDateTime;
        if (now - _lastFlushCheck < TimeSpan.FromSeconds(1))
        {
            return false;
        }

        _lastFlushCheck = now;
        var path = Path.Combine(Directory, FlushName);
        if (!File.Exists(path))
        {
            return false;
        }

        File.Delete(path);
        return true;
    }

    /// <summary>Asks the process that holds the spool to seal its open batch within a second or so.</summary>
    public static void RequestFlush(string directory) => File.WriteAllBytes(Path.Combine(directory, FlushName), []);

    /// <summary>Whether a flush asked for with <see cref="RequestFlush"/> is still waiting.</summary>
    public static bool FlushPending(string directory) => File.Exists(Path.Combine(directory, FlushName));

    /// <summary>The sealed batches waiting to be written, oldest first.</summary>
    public static IReadOnlyList<SealedBatch> ListSealed(string directory)
    {
        if (!System.IO.Directory.Exists(directory))
        {
            return [];
        }

        var batches = new List<SealedBatch>();
        foreach (var file in new DirectoryInfo(directory).EnumerateFiles(SealedPrefix + "*" + Extension))
        {
            var parts = file.Name[SealedPrefix.Length..^Extension.Length].Split('-');
            if (parts.Length == 2 && long.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var ms) &&
                Guid.TryParseExact(parts[1], "N", out var id))
            {
                batches.Add(new SealedBatch(file.FullName, id, DateTimeOffset.FromUnixTimeMilliseconds(ms), file.Length));
            }
        }

        return batches.OrderBy(b => b.SealedAt).ThenBy(b => b.Id).ToList();
    }

    /// <summary>
    /// Forgets a batch once it is written. Not fsynced: a delete lost in a power cut only re-sends the batch, which
    /// writes the same content under the same key again (seen, not loaded twice).
    /// </summary>
    public static void Delete(SealedBatch batch)
    {
        ArgumentNullException.ThrowIfNull(batch);
        File.Delete(batch.Path);
    }

    /// <summary>The spool as it is on disk, without taking it over (a server may hold it): for <c>intake streams</c>.</summary>
    public static SpoolStatus Inspect(string directory)
    {
        if (!System.IO.Directory.Exists(directory))
        {
            return new SpoolStatus(0, null, 0, 0, null, false);
        }

        long pending = 0;
        DateTimeOffset? opened = null;
        foreach (var (path, at) in ActiveFiles(directory))
        {
            pending += CountLines(path);
            opened = opened is null || at < opened ? at : opened;
        }

        var batches = ListSealed(directory);
        return new SpoolStatus(pending, pending > 0 ? opened : null, batches.Count, batches.Sum(b => CountLines(b.Path)), batches.Count > 0 ? batches[0].SealedAt : null, IsInUse(directory));
    }

    public void Dispose()
    {
        _active?.Dispose();
        _lock.Dispose();
    }

    private static bool IsInUse(string directory)
    {
        try
        {
            using var probe = new FileStream(Path.Combine(directory, LockName), FileMode.Open, FileAccess.ReadWrite, FileShare.None);
            return false;
        }
        catch (FileNotFoundException)
        {
            return false;
        }
        catch (IOException)
        {
            return true;
        }
    }

    private void OpenActive(DateTimeOffset now)
    {
        var opened = Milliseconds(now);
        while (true)
        {
            var path = Path.Combine(Directory, $"{ActivePrefix}{opened.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture)}{Extension}");
            try
            {
                _active = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.Read, bufferSize: 0);
                _activePath = path;
                break;
            }
            catch (IOException) when (File.Exists(path))
            {
                opened = opened.AddMilliseconds(1); // a batch sealed and a new one opened in the same millisecond
            }
        }

        // The new name must survive a power cut as well as its lines do: the first Sync fsyncs the lines, this the entry.
        DirectorySync.Flush(Directory);
        OpenedAt = opened;
        _length = _syncedLength = _syncedCount = Count = 0;
    }

    private SpoolRecovery Recover()
    {
        foreach (var leftover in System.IO.Directory.EnumerateFiles(Directory, "*" + RewriteExtension))
        {
            File.Delete(leftover); // a recovery that was itself cut short: its original is still in place
        }

        long tornBytes = 0;
        long badLines = 0;
        var actives = ActiveFiles(Directory).OrderBy(a => a.OpenedAt).ToList();
        for (var i = 0; i < actives.Count; i++)
        {
            var (path, openedAt) = actives[i];
            var (records, length, torn, bad) = Repair(path);
            tornBytes += torn;
            badLines += bad;
            if (records == 0)
            {
                File.Delete(path);
                continue;
            }

            _active = new FileStream(path, FileMode.Open, FileAccess.Write, FileShare.Read, bufferSize: 0);
            _active.Position = length;
            _activePath = path;
            OpenedAt = openedAt;
            _length = _syncedLength = length;
            Count = _syncedCount = records;
            if (i < actives.Count - 1)
            {
                Seal(); // more than one open batch cannot happen, but if it did, all but the newest are complete
            }
        }

        return new SpoolRecovery(Count, tornBytes, badLines, ListSealed(Directory).Count);
    }

    /// <summary>
    /// Keeps the complete lines of an open batch that are records: a torn last line is cut off; a complete line that
    /// is not a record (bytes a power cut lost, read back as zeros) is dropped by writing the batch anew beside it
    /// and renaming it over. Returns the records kept and the length of the file afterwards.
    /// </summary>
    private (long Records, long Length, long TornBytes, long BadLines) Repair(string path)
    {
        long records = 0;
        long bad = 0;
        long goodEnd = 0;
        var badRanges = new List<(long Start, long End)>();
        long fileLength;
        using (var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 0))
        {
            fileLength = file.Length;
            foreach (var (start, line) in Lines(file))
            {
                var text = line.AsSpan().Trim(" \t\r"u8);
                if (text.IsEmpty)
                {
                    goodEnd = start + line.Length + 1;
                    continue;
                }

                if (StreamRecords.Problem(text) is null)
                {
                    records++;
                }
                else
                {
                    bad++;
                    badRanges.Add((start, start + line.Length + 1));
                }

                goodEnd = start + line.Length + 1;
            }
        }

        var torn = fileLength - goodEnd;
        if (badRanges.Count > 0)
        {
            var rewrite = path + RewriteExtension;
            using (var source = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read))
            using (var target = new FileStream(rewrite, FileMode.Create, FileAccess.Write, FileShare.None))
            {
                long at = 0;
                foreach (var (start, end) in badRanges.Append((goodEnd, goodEnd)))
                {
                    CopyRange(source, target, at, start - at);
                    at = end;
                }

                target.Flush(flushToDisk: true);
            }

            File.Move(rewrite, path, overwrite: true);
            DirectorySync.Flush(Directory);
            return (records, new FileInfo(path).Length, torn, bad);
        }

        if (torn > 0)
        {
            using var file = new FileStream(path, FileMode.Open, FileAccess.Write, FileShare.Read);
            file.SetLength(goodEnd);
            file.Flush(flushToDisk: true);
        }

        return (records, goodEnd, torn, bad);
    }

    private static void CopyRange(FileStream source, FileStream target, long offset, long count)
    {
        source.Position = offset;
        var buffer = new byte[64 * 1024];
        while (count > 0)
        {
            var n = source.Read(buffer, 0, (int)Math.Min(buffer.Length, count));
            if (n == 0)
            {
                break;
            }

            target.Write(buffer, 0, n);
            count -= n;
        }
    }

    /// <summary>The complete lines of a file (without their '\n') and where each starts; a last line without '\n' is not one.</summary>
    private static IEnumerable<(long Start, byte[] Line)> Lines(FileStream file)
    {
        var buffer = new byte[1 << 20];
        var carry = new MemoryStream();
        long position = 0;
        long lineStart = 0;
        int read;
        while ((read = file.Read(buffer, 0, buffer.Length)) > 0)
        {
            var from = 0;
            while (from < read)
            {
                var newline = Array.IndexOf(buffer, (byte)'\n', from, read - from);
                if (newline < 0)
                {
                    carry.Write(buffer, from, read - from);
                    break;
                }

                carry.Write(buffer, from, newline - from);
                yield return (lineStart, carry.ToArray());
                carry.SetLength(0);
                lineStart = position + newline + 1;
                from = newline + 1;
            }

            position += read;
        }
    }

    private static long CountLines(string path)
    {
        try
        {
            using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, bufferSize: 0);
            var buffer = new byte[1 << 20];
            long lines = 0;
            int read;
            while ((read = file.Read(buffer, 0, buffer.Length)) > 0)
            {
                lines += buffer.AsSpan(0, read).Count((byte)'\n');
            }

            return lines;
        }
        catch (FileNotFoundException)
        {
            return 0; // sealed or written meanwhile
        }
    }

    private static IEnumerable<(string Path, DateTimeOffset OpenedAt)> ActiveFiles(string directory)
    {
        foreach (var path in System.IO.Directory.EnumerateFiles(directory, ActivePrefix + "*" + Extension))
        {
            var name = Path.GetFileName(path);
            if (long.TryParse(name[ActivePrefix.Length..^Extension.Length], NumberStyles.None, CultureInfo.InvariantCulture, out var ms))
            {
                yield return (path, DateTimeOffset.FromUnixTimeMilliseconds(ms));
            }
        }
    }

    private static DateTimeOffset Milliseconds(DateTimeOffset t) => DateTimeOffset.FromUnixTimeMilliseconds(t.ToUnixTimeMilliseconds());
}
