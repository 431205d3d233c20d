using System.Diagnostics;
using System.Formats.Tar;
using System.IO.Compression;
using System.Text;
using Intake.Formats.Archives;
using SharpCompress.Compressors.BZip2;
using ZstdSharp;
using ZstdSharp.Unsafe;

namespace Intake.Formats.Tests.Archives;

/// <summary>Builds archives in memory, and expands them the way a caller would.</summary>
internal static class TestArchives
{
    public static byte[] Bytes(string text) => Encoding.UTF8.GetBytes(text);

    public static byte[] Gzip(byte[] data)
    {
        var output = new MemoryStream();
        using (var gzip = new GZipStream(output, CompressionLevel.Optimal, leaveOpen: true))
        {
            gzip.Write(data);
        }
        return output.ToArray();
    }

    /// <summary>bzip2, written by the library the expander reads it with (SharpCompress).</summary>
    public static byte[] Bzip2(byte[] data)
    {
        var output = new MemoryStream();
        using (var bzip2 = BZip2Stream.Create(output, SharpCompress.Compressors.CompressionMode.Compress, decompressConcatenated: false, leaveOpen: true, tolerateTruncatedStream: false))
        {
            bzip2.Write(data);
        }
        return output.ToArray();
    }

    /// <summary>zstd with a content checksum (as the zstd tool writes by default), written by ZstdSharp.</summary>
    public static byte[] Zstd(byte[] data)
    {
        var output = new MemoryStream();
        using (var zstd = new CompressionStream(output, level: 3, leaveOpen: true))
        {
            zstd.SetParameter(ZSTD_cParameter.ZSTD_c_checksumFlag, 1);
            zstd.Write(data);
        }
        return output.ToArray();
    }

    /// <summary>
    /// xz, written by the xz tool (xz-utils): SharpCompress reads xz but cannot write it. The machine image has the
    /// tool; elsewhere <c>apt-get install -y xz-utils</c>.
    /// </summary>
    public static byte[] Xz(byte[] data)
    {
        ProcessStartInfo start = new("xz", ["--compress", "--stdout", "--check=crc64"])
        {
            RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        Process xz;
        try
        {
            xz = Process.Start(start)!;
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new InvalidOperationException("The xz tool is needed to make the test's .xz files: apt-get install -y xz-utils", e);
        }
        using (xz)
        {
            var output = new MemoryStream();
            var reading = xz.StandardOutput.BaseStream.CopyToAsync(output);
            xz.StandardInput.BaseStream.Write(data);
            xz.StandardInput.Close();
            reading.GetAwaiter().GetResult();
            xz.WaitForExit();
            xz.ExitCode.ShouldBe(0, xz.StandardError.ReadToEnd());
            return output.ToArray();
        }
    }

    /// <summary>Compresses with the named compression: gz, bz2, xz or zst.</summary>
    public static byte[] Compress(string kind, byte[] data) => kind switch
    {
        "gz" => Gzip(data),
        "bz2" => Bzip2(data),
        "xz" => Xz(data),
        "zst" => Zstd(data),
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "gz, bz2, xz or zst"),
    };

    public static byte[] Zip(params (string Name, byte[] Data)[] entries)
    {
        var output = new MemoryStream();
        using (var zip = new ZipArchive(output, ZipArchiveMode.Create, leaveOpen: true))
        {
            foreach (var (name, data) in entries)
            {
                var entry = zip.CreateEntry(name, CompressionLevel.Optimal);
                using var stream = entry.Open();
                stream.Write(data);
            }
        }
        return output.ToArray();
    }

    public static byte[] Tar(params TarEntry[] entries)
    {
        var output = new MemoryStream();
        using (var tar = new TarWriter(output, TarEntryFormat.Pax, leaveOpen: true))
        {
            foreach (var entry in entries)
            {
                tar.WriteEntry(entry);
            }
        }
        return output.ToArray();
    }

    public static PaxTarEntry TarFile(string name, string text) =>
        new(TarEntryType.RegularFile, name) { DataStream = new MemoryStream(Bytes(text)) };

    public static PaxTarEntry TarDirectory(string name) => new(TarEntryType.Directory, name);

    /// <summary>Expands and reads every entry fully, as text.</summary>
    public static async Task<List<(string Name, string Text)>> ExpandAllAsync(
        byte[] input, string name, ArchiveLimits? limits = null, bool seekable = true)
    {
        Stream stream = seekable ? new MemoryStream(input) : new ForwardOnlyStream(new MemoryStream(input));
        var result = new List<(string, string)>();
        await foreach (var entry in new ArchiveExpander(limits).ExpandAsync(stream, name))
        {
            using var reader = new StreamReader(entry.Content, Encoding.UTF8);
            result.Add((entry.Name, await reader.ReadToEndAsync()));
        }
        return result;
    }

    /// <summary>Expands, recording the names yielded before a failure, and returns the failure.</summary>
    public static async Task<(Exception Error, List<string> Yielded)> ExpandUntilFailureAsync(byte[] input, string name, ArchiveLimits? limits = null)
    {
        var yielded = new List<string>();
        try
        {
            await foreach (var entry in new ArchiveExpander(limits).ExpandAsync(new MemoryStream(input), name))
            {
                yielded.Add(entry.Name);
                await entry.Content.CopyToAsync(Stream.Null);
            }
        }
        catch (Exception e)
        {
            return (e, yielded);
        }
        throw new ShouldAssertException($"Expanding {name} did not fail; it yielded [{string.Join(", ", yielded)}].");
    }
}

/// <summary>A stream that cannot seek and returns at most <paramref name="chunk"/> bytes per read, like a socket.</summary>
internal sealed class ForwardOnlyStream(Stream inner, int chunk = 4096) : Stream
{
    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, Math.Min(count, chunk));
    public override int Read(Span<byte> buffer) => inner.Read(buffer[..Math.Min(buffer.Length, chunk)]);
    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
        inner.ReadAsync(buffer[..Math.Min(buffer.Length, chunk)], cancellationToken);
    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        inner.ReadAsync(buffer, offset, Math.Min(count, chunk), cancellationToken);
    public override void Flush() { }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
