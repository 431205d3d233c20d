using System.Buffers.Binary;
using System.Formats.Tar;
using System.IO.Compression;
using System.Text;
using Intake.Core.Errors;
using static Intake.Formats.Tests.Archives.TestArchives;

namespace Intake.Formats.Tests.Archives;

/// <summary>
/// Good and bad archives with the outcome each must have, made here from code (no binary fixture). The expander's
/// tests run each through the expander; the engine's tests (which link this file) run each through the
/// <c>decompress</c> path and the streamed path, which must end the same way.
/// </summary>
internal static class ArchiveCorpus
{
    /// <param name="Label">The case's name in test output.</param>
    /// <param name="FileName">The name the file arrives under.</param>
    /// <param name="Build">Makes the file.</param>
    /// <param name="Kind">How loading it ends: null for a load of <paramref name="Rows"/> rows.</param>
    /// <param name="ExpanderKind">How expanding it ends, when that differs from loading it (a bad CSV row, no data file).</param>
    /// <param name="MaxBytes">The <c>max_bytes</c> limit the case is run with, when not the default.</param>
    /// <param name="MaxRatio">The <c>max_ratio</c> limit the case is run with, when not the default.</param>
    public sealed record Case(
        string Label, string FileName, Func<byte[]> Build, ErrorKind? Kind, long Rows = 0,
        ErrorKind? ExpanderKind = null, bool ExpanderSucceeds = false, long? MaxBytes = null, double? MaxRatio = null)
    {
        /// <summary>How the expander alone ends: null when it hands out every entry without failing.</summary>
        public ErrorKind? ExpectedFromExpander => ExpanderSucceeds ? null : ExpanderKind ?? Kind;

        public override string ToString() => Label;
    }

    public static string Csv(int from, int count)
    {
        var text = new StringBuilder("id,name\n");
        for (int i = from; i < from + count; i++)
        {
            text.Append(i).Append(",name ").Append(i * 7919 % 1000).Append('\n');
        }
        return text.ToString();
    }

    private static byte[] Cut(byte[] data, double fraction) => data[..(int)(data.Length * fraction)];

    private static byte[] BigCsv => Bytes(Csv(1, 2000));

    private static byte[] SmallTar() => Tar(TarFile("a.csv", Csv(1, 3)), TarFile("b.csv", Csv(4, 2)));

    public static IReadOnlyList<Case> All { get; } =
    [
        // ---- good -------------------------------------------------------------------------------------------
        new("plain csv", "orders.csv", () => Bytes(Csv(1, 3)), null, 3),
        new("gzip", "orders.csv.gz", () => Gzip(BigCsv), null, 2000),
        new("bzip2", "orders.csv.bz2", () => Bzip2(BigCsv), null, 2000),
        new("xz", "orders.csv.xz", () => Xz(BigCsv), null, 2000),
        new("zstd", "orders.csv.zst", () => Zstd(BigCsv), null, 2000),
        new("xz, two concatenated streams", "orders.csv.xz", () => [.. Xz(Bytes(Csv(1, 1000))), .. Xz(Bytes(Csv(1001, 1000).Split('\n', 2)[1]))], null, 2000),
        new("zip", "batch.zip", () => Zip(("a.csv", Bytes(Csv(1, 3))), ("notes.md", Bytes("# not data\n")), ("sub/b.csv", Bytes(Csv(4, 2)))), null, 5),
        new("tar", "batch.tar", SmallTar, null, 5),
        new("tar.gz", "batch.tgz", () => Gzip(SmallTar()), null, 5),
        new("tar.bz2", "batch.tar.bz2", () => Bzip2(SmallTar()), null, 5),
        new("tar.xz", "batch.tar.xz", () => Xz(SmallTar()), null, 5),
        new("tar.zst", "batch.tar.zst", () => Zstd(SmallTar()), null, 5),
        new("zip inside zip", "outer.zip", () => Zip(("inner.zip", Zip(("a.csv", Bytes(Csv(1, 3))))), ("c.csv", Bytes(Csv(4, 2)))), null, 5),

        // ---- integrity: truncated, checksum or size mismatch, damaged data ----------------------------------
        new("gzip cut in the middle", "orders.csv.gz", () => Cut(Gzip(BigCsv), 0.6), ErrorKind.Integrity),
        new("gzip with a wrong CRC", "orders.csv.gz", () => { var gz = Gzip(BigCsv); gz[^8] ^= 0x01; return gz; }, ErrorKind.Integrity),
        new("zip cut in the middle", "batch.zip", () => Cut(Zip(("a.csv", BigCsv), ("b.csv", BigCsv)), 0.6), ErrorKind.Integrity),
        new("zip with a wrong CRC", "batch.zip", () => PatchZip(Zip(("a.csv", BigCsv)), localOffset: 14, centralOffset: 16, delta: 1), ErrorKind.Integrity),
        new("zip entry shorter than declared", "batch.zip", () => PatchZip(Zip(("a.csv", BigCsv)), localOffset: 22, centralOffset: 24, delta: 100), ErrorKind.Integrity),
        new("tar cut inside a member", "batch.tar", () => Cut(Tar(TarFile("a.csv", Csv(1, 2000))), 0.5), ErrorKind.Integrity),
        new("tar cut between two members", "batch.tar", TarCutBetweenMembers, ErrorKind.Integrity),
        new("tar header with a wrong checksum", "batch.tar", TarWithDamagedHeader, ErrorKind.Integrity),
        new("tar.gz cut in the middle", "batch.tgz", () => Cut(Gzip(Tar(TarFile("a.csv", Csv(1, 2000)))), 0.6), ErrorKind.Integrity),
        new("bzip2 cut in the middle", "orders.csv.bz2", () => Cut(Bzip2(BigCsv), 0.6), ErrorKind.Integrity),
        new("bzip2 with damaged data", "orders.csv.bz2", () => { var b = Bzip2(BigCsv); b[b.Length / 2] ^= 0x10; return b; }, ErrorKind.Integrity),
        new("xz cut in the middle", "orders.csv.xz", () => Cut(Xz(BigCsv), 0.6), ErrorKind.Integrity),
        new("xz cut before its footer", "orders.csv.xz", () => Xz(BigCsv)[..^6], ErrorKind.Integrity),
        new("zstd cut in the middle", "orders.csv.zst", () => Cut(Zstd(BigCsv), 0.6), ErrorKind.Integrity),
        new("zstd cut inside its checksum", "orders.csv.zst", () => Zstd(BigCsv)[..^2], ErrorKind.Integrity),
        new("tar.xz cut in the middle", "batch.tar.xz", () => Cut(Xz(Tar(TarFile("a.csv", Csv(1, 2000)))), 0.6), ErrorKind.Integrity),
        new("a bad row, then a damaged entry", "batch.zip",
            () => PatchZip(Zip(("a.csv", Bytes("id,name\n1,a,extra\n")), ("b.csv", BigCsv)), localOffset: 14, centralOffset: 16, delta: 1, entry: 1),
            ErrorKind.Integrity),

        // ---- security: bombs, traversal, links --------------------------------------------------------------
        new("nested zip bomb", "bomb.zip", NestedBomb, ErrorKind.Security, MaxBytes: 10_000_000, MaxRatio: 1_000_000),
        new("gzip bomb beside a good csv", "batch.zip", () => Zip(("a.csv", Bytes(Csv(1, 3))), ("zeros.bin.gz", Gzip(new byte[8 * 1024 * 1024]))), ErrorKind.Security),
        new("zip bomb by ratio", "bomb.zip", () => Zip(("a.csv", Bytes(Csv(1, 3))), ("zeros.bin", new byte[8 * 1024 * 1024])), ErrorKind.Security),
        new("zip with ../ in a name", "batch.zip", () => Zip(("a.csv", Bytes(Csv(1, 3))), ("../evil.csv", Bytes(Csv(4, 2)))), ErrorKind.Security),
        new("tar with a symbolic link", "batch.tar", () => Tar(new PaxTarEntry(TarEntryType.SymbolicLink, "passwd.csv") { LinkName = "/etc/passwd" }), ErrorKind.Security),
        new("zip with a symbolic link", "batch.zip", ZipWithSymlink, ErrorKind.Security),

        // ---- format: colliding names, not an archive, unsupported, invalid ----------------------------------
        new("zip with two entries of one name", "batch.zip", () => Zip(("dup.csv", Bytes(Csv(1, 3))), ("other.csv", Bytes(Csv(4, 2))), ("dup.csv", Bytes(Csv(6, 1)))), ErrorKind.Format),
        new("tar with two entries of one name", "batch.tar", () => Tar(TarFile("dup.csv", Csv(1, 3)), TarFile("dup.csv", Csv(4, 2))), ErrorKind.Format),
        new("zip names that differ only in case", "batch.zip", () => Zip(("Data.csv", Bytes(Csv(1, 3))), ("data.csv", Bytes(Csv(4, 2)))), ErrorKind.Format),
        new("zip names equal once normalised", "batch.zip", () => Zip(("a/./b.csv", Bytes(Csv(1, 3))), ("a/b.csv", Bytes(Csv(4, 2)))), ErrorKind.Format),
        new("zip with x.csv.gz beside x.csv", "batch.zip", () => Zip(("x.csv", Bytes(Csv(1, 3))), ("x.csv.gz", Gzip(Bytes(Csv(4, 2))))), ErrorKind.Format),
        new("html named .zip", "batch.zip", () => Bytes("<html><body>Session expired</body></html>"), ErrorKind.Format),
        new("7z", "batch.7z", () => [0x37, 0x7A, 0xBC, 0xAF, 0x27, 0x1C, 0, 4, .. new byte[64]], ErrorKind.Format),
        new("gzip followed by other data", "orders.csv.gz", () => [.. Gzip(BigCsv), .. Bytes("trailing text that is not gzip")], ErrorKind.Format),
        new("zstd followed by other data", "orders.csv.zst", () => [.. Zstd(BigCsv), .. Bytes("trailing text that is not zstd")], ErrorKind.Format),
        new("a bad row", "batch.zip", () => Zip(("a.csv", Bytes("id,name\n1,a\n2,b,extra\n"))), ErrorKind.Format, ExpanderSucceeds: true),

        // ---- empty ------------------------------------------------------------------------------------------
        new("empty zip", "empty.zip", () => Zip(), ErrorKind.Empty),
        new("empty tar", "empty.tar", () => Tar(), ErrorKind.Empty),
        new("empty gzip", "empty.csv.gz", () => Gzip([]), ErrorKind.Empty),
        new("zip without a data file", "batch.zip", () => Zip(("notes.md", Bytes("# nothing to load\n"))), ErrorKind.Empty, ExpanderSucceeds: true),
    ];

    public static Case Get(string label) => All.Single(c => c.Label == label);

    public static TheoryData<string> Labels()
    {
        var data = new TheoryData<string>();
        foreach (var c in All)
        {
            data.Add(c.Label);
        }
        return data;
    }

    /// <summary>Adds <paramref name="delta"/> to a 32-bit field of one entry's local header and its central directory record.</summary>
    public static byte[] PatchZip(byte[] zip, int localOffset, int centralOffset, uint delta, int entry = 0)
    {
        Patch(zip, "PK\x03\x04"u8, entry, localOffset, delta);
        Patch(zip, "PK\x01\x02"u8, entry, centralOffset, delta);
        return zip;

        static void Patch(byte[] data, ReadOnlySpan<byte> signature, int nth, int offset, uint delta)
        {
            int at = -1;
            for (int i = 0; i <= nth; i++)
            {
                int next = data.AsSpan(at + 1).IndexOf(signature);
                next.ShouldBeGreaterThanOrEqualTo(0);
                at += 1 + next;
            }
            var field = data.AsSpan(at + offset, 4);
            BinaryPrimitives.WriteUInt32LittleEndian(field, BinaryPrimitives.ReadUInt32LittleEndian(field) + delta);
        }
    }

    /// <summary>Two members, the file cut right after the first one's padded data: a clean cut between headers.</summary>
    private static byte[] TarCutBetweenMembers()
    {
        var tar = UstarTar(("a.csv", Csv(1, 3)), ("b.csv", Csv(4, 2)));
        int dataBytes = Encoding.UTF8.GetByteCount(Csv(1, 3));
        return tar[..(512 + ((dataBytes + 511) / 512 * 512))];
    }

    /// <summary>A ustar file whose header name was altered after its checksum was written ('a.csv' read as 'a.csw').</summary>
    private static byte[] TarWithDamagedHeader()
    {
        var tar = UstarTar(("a.csv", Csv(1, 3)));
        tar[4] ^= 0x14; // 'v' becomes 'b'
        return tar;
    }

    public static byte[] UstarTar(params (string Name, string Text)[] files)
    {
        var output = new MemoryStream();
        using (var tar = new TarWriter(output, TarEntryFormat.Ustar, leaveOpen: true))
        {
            foreach (var (name, text) in files)
            {
                tar.WriteEntry(new UstarTarEntry(TarEntryType.RegularFile, name) { DataStream = new MemoryStream(Bytes(text)) });
            }
        }
        return output.ToArray();
    }

    /// <summary>
    /// A csv, then four zips of 4 MB of zeros each: 16 MB declared by the inner directories, run with a 10 MB limit
    /// (and a ratio limit out of the way, so that the size is what stops it).
    /// </summary>
    private static byte[] NestedBomb()
    {
        var inners = Enumerable.Range(1, 4).Select(i => ($"inner{i:00}.zip", Zip(($"zeros{i:00}.bin", new byte[4 * 1024 * 1024]))));
        return Zip([("a.csv", Bytes(Csv(1, 3))), .. inners]);
    }

    private static byte[] ZipWithSymlink()
    {
        var output = new MemoryStream();
        using (var zip = new ZipArchive(output, ZipArchiveMode.Create, leaveOpen: true))
        {
            var link = zip.CreateEntry("passwd.csv");
            link.ExternalAttributes = unchecked((int)0xA1FF0000); // S_IFLNK | 0777 in the high half
            using var stream = link.Open();
            stream.Write(Bytes("/etc/passwd"));
        }
        return output.ToArray();
    }
}
