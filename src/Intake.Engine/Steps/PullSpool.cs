using System.Globalization;
using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;
using Intake.Core.Ports;
using Intake.Engine.Configuration;
using Intake.Formats.Json;
using Intake.Storage;

namespace Intake.Engine.Steps;

/// <summary>
/// Where the pull keeps the part it is writing: a local file that outlives the process (unlike a delete-on-close temp
/// file), so a pull resumed on the same machine appends to it instead of asking for its pages again.
/// <para>
/// <c>&lt;base directory&gt;/.intake/spool/load-&lt;id&gt;/&lt;random id&gt;.ndjson.gz</c>, or under the temp directory when the
/// project's directory is not writable (a read-only configuration mount). The random id is kept in the checkpoint: a
/// file is only ever resumed by the checkpoint that named it, never one left by another attempt or machine.
/// </para>
/// </summary>
internal static class PullSpool
{
    /// <summary>The load's spool directory (created when missing).</summary>
    public static string DirectoryFor(string baseDirectory, long loadId)
    {
        var (local, temp) = Candidates(baseDirectory, loadId);
        try
        {
            Directory.CreateDirectory(local);
            return local;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Directory.CreateDirectory(temp);
            return temp;
        }
    }

    private static (string Local, string Temp) Candidates(string baseDirectory, long loadId)
    {
        var name = "load-" + loadId.ToString(CultureInfo.InvariantCulture);
        // Projects share the temp directory and number their loads alike: one folder per project directory there.
        var project = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(Path.GetFullPath(baseDirectory))))[..12];
        return (Path.Combine(baseDirectory, ".intake", "spool", name), Path.Combine(Path.GetTempPath(), "intake-spool-" + project, name));
    }

    /// <summary>Removes every spool file of the load but <paramref name="keep"/>: left by an attempt that is not resumed.</summary>
    public static void DeleteOthers(string directory, string? keep)
    {
        foreach (var file in Directory.EnumerateFiles(directory))
        {
            if (keep is null || Path.GetFileName(file) != FileName(keep))
            {
                TryDelete(file);
            }
        }
    }

    /// <summary>Removes the load's spool directory, wherever it is; best effort (a file left behind is only disk space).</summary>
    public static void Delete(string baseDirectory, long loadId)
    {
        var (local, temp) = Candidates(baseDirectory, loadId);
        foreach (var directory in new[] { local, temp })
        {
            try
            {
                if (Directory.Exists(directory))
                {
                    Directory.Delete(directory, recursive: true);
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Nothing to do: the next pull of this load removes what it does not resume.
            }
        }
    }

    public static string FileName(string id) => id + ".ndjson.gz";

    public static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Best effort, as above.
        }
    }
}

/// <summary>
/// The open part of a pull: gzipped NDJSON in a spool file, one gzip member per checkpoint, so the file's length at a
/// checkpoint is a point a resumed pull can cut it back to and append from.
/// </summary>
internal sealed class SpoolPart : IAsyncDisposable
{
    private readonly FileStream _file;
    private readonly long _resumedRecords;

    private SpoolPart(string id, string path, FileStream file, bool flatten, long resumedRecords)
    {
        Id = id;
        Path = path;
        _file = file;
        _resumedRecords = resumedRecords;
        Writer = new NdjsonPartWriter(file, flatten);
    }

    /// <summary>Names the file; recorded in the checkpoint.</summary>
    public string Id { get; }

    public string Path { get; }

    public NdjsonPartWriter Writer { get; }

    /// <summary>Records in the part, including those a resumed part already held.</summary>
    public long Records => _resumedRecords + Writer.Records;

    public static SpoolPart Create(string directory, bool flatten)
    {
        var id = Guid.NewGuid().ToString("N");
        var path = System.IO.Path.Combine(directory, PullSpool.FileName(id));
        return new SpoolPart(id, path, Open(path, FileMode.CreateNew), flatten, 0);
    }

    /// <summary>
    /// A new spool part that starts with the first <paramref name="length"/> bytes of the file <paramref name="id"/>
    /// (which must hold <paramref name="records"/> complete records there), or null when that file is missing, shorter,
    /// or does not decompress to exactly that many lines: the caller then pulls the part again from its start.
    /// </summary>
    /// <remarks>
    /// Copied rather than cut back in place: a process that lost its lease but still runs may hold the old file open
    /// and write to it; the copy is ours alone. Decompressing the copy checks every member's CRC-32, so a file whose
    /// last writes were lost in a power cut (it is flushed to the OS after each page, not synced to disk) is refused
    /// rather than resumed with a hole.
    /// </remarks>
    public static async Task<SpoolPart?> TryResumeAsync(string directory, string id, long length, long records, bool flatten, CancellationToken ct)
    {
        var old = System.IO.Path.Combine(directory, PullSpool.FileName(id));
        var newId = Guid.NewGuid().ToString("N");
        var path = System.IO.Path.Combine(directory, PullSpool.FileName(newId));
        FileStream? copy = null;
        try
        {
            await using (var source = new FileStream(old, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, 1 << 16, FileOptions.Asynchronous))
            {
                if (source.Length < length)
                {
                    return null;
                }

                copy = Open(path, FileMode.CreateNew);
                await CopyPrefixAsync(source, copy, length, ct);
            }

            await copy.FlushAsync(ct);
            if (await CountLinesAsync(path, ct) != records)
            {
                return null;
            }

            copy.Position = length;
            var part = new SpoolPart(newId, path, copy, flatten, records);
            copy = null; // the part owns it now
            return part;
        }
        catch (Exception e) when (e is IOException or InvalidDataException or UnauthorizedAccessException)
        {
            // FileNotFoundException is an IOException: the file is on another machine, or gone.
            return null;
        }
        finally
        {
            if (copy is not null)
            {
                await copy.DisposeAsync();
                PullSpool.TryDelete(path);
            }
        }
    }

    /// <summary>At the end of a page: ends the gzip member and hands the bytes to the OS; returns the file length to checkpoint.</summary>
    public async Task<long> EndPageAsync(CancellationToken ct)
    {
        Writer.EndMember();
        // Flushed to the OS, which keeps it across a crash of this process; not fsynced (see TryResumeAsync).
        await _file.FlushAsync(ct);
        return _file.Length;
    }

    /// <summary>Completes the part and puts it into <paramref name="store"/>; the spool file stays until <see cref="DisposeAsync"/>.</summary>
    public async Task<ObjectInfo> PutAsync(IObjectStore store, string key, CancellationToken ct)
    {
        await Writer.DisposeAsync();
        await _file.FlushAsync(ct);
        _file.Position = 0;
        return await store.PutAsync(Areas.Work, key, _file, ct);
    }

    /// <summary>Closes the file and removes it: the part is in the store, or will be pulled again.</summary>
    public async Task DeleteAsync()
    {
        await DisposeAsync();
        PullSpool.TryDelete(Path);
    }

    /// <summary>Closes the file and keeps it, for a resumed pull (a failed or cancelled attempt).</summary>
    public async ValueTask DisposeAsync()
    {
        await Writer.DisposeAsync();
        await _file.DisposeAsync();
    }

    private static FileStream Open(string path, FileMode mode) =>
        new(path, mode, FileAccess.ReadWrite, FileShare.Read, 1 << 16, FileOptions.Asynchronous);

    private static async Task CopyPrefixAsync(Stream source, Stream target, long length, CancellationToken ct)
    {
        var buffer = new byte[1 << 16];
        for (var left = length; left > 0;)
        {
            var n = await source.ReadAsync(buffer.AsMemory(0, (int)Math.Min(buffer.Length, left)), ct);
            if (n == 0)
            {
                throw new EndOfStreamException("the spool file ended before its checkpointed length");
            }

            await target.WriteAsync(buffer.AsMemory(0, n), ct);
            left -= n;
        }
    }

    private static async Task<long> CountLinesAsync(string path, CancellationToken ct)
    {
        await using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 1 << 16, FileOptions.Asynchronous);
        await using var gzip = new GZipStream(file, CompressionMode.Decompress);
        var buffer = new byte[1 << 16];
        long lines = 0;
        int n;
        while ((n = await gzip.ReadAsync(buffer, ct)) > 0)
        {
            lines += buffer.AsSpan(0, n).Count((byte)'\n');
        }

        return lines;
    }
}
