using System.Diagnostics;
using System.IO.Compression;
using System.Text.Json;
using Intake.Formats.Json;
using static Intake.Formats.Tests.Archives.TestArchives;

namespace Intake.Formats.Tests.Json;

/// <summary>
/// A pulled part is one gzip member per checkpoint (so a crash can resume after the last checkpointed page): every
/// reader of parts must read all the members, not stop after the first.
/// </summary>
public sealed class NdjsonMemberTests
{
    private static readonly string Expected = string.Concat(Enumerable.Range(1, 30).Select(i => $"{{\"id\":{i}}}\n"));

    /// <summary>30 records in pages of 7, each page ending its member; returns the bytes and the length after each page.</summary>
    private static async Task<(byte[] Bytes, List<long> PageEnds)> WritePagesAsync()
    {
        using var buffer = new MemoryStream();
        var ends = new List<long>();
        await using (var writer = new NdjsonPartWriter(buffer, flatten: false))
        {
            for (var i = 1; i <= 30; i++)
            {
                using var doc = JsonDocument.Parse($"{{\"id\":{i}}}");
                await writer.WriteAsync(doc.RootElement, default);
                if (i % 7 == 0)
                {
                    writer.EndMember();
                    writer.EndMember(); // a second call adds nothing
                    ends.Add(buffer.Length);
                }
            }
        }

        return (buffer.ToArray(), ends);
    }

    [Fact]
    public async Task EndMember_EachPageIsAGzipMember_AndGZipStreamReadsThemAll()
    {
        var (bytes, ends) = await WritePagesAsync();

        // a member starts at 0 and right after each page: the gzip magic bytes are there
        ends.Count.ShouldBe(4);
        foreach (var start in ends.Prepend(0))
        {
            bytes[(int)start].ShouldBe((byte)0x1f);
            bytes[(int)start + 1].ShouldBe((byte)0x8b);
        }

        using var gzip = new GZipStream(new MemoryStream(bytes), CompressionMode.Decompress);
        using var reader = new StreamReader(gzip);
        (await reader.ReadToEndAsync()).ShouldBe(Expected);
    }

    [Fact]
    public async Task EndMember_CutAfterAPage_IsACompleteFileOfThatPagesRecords()
    {
        var (bytes, ends) = await WritePagesAsync();

        using var gzip = new GZipStream(new MemoryStream(bytes[..(int)ends[1]]), CompressionMode.Decompress);
        using var reader = new StreamReader(gzip);
        (await reader.ReadToEndAsync()).ShouldBe(string.Concat(Enumerable.Range(1, 14).Select(i => $"{{\"id\":{i}}}\n")));
    }

    [Fact]
    public async Task EndMember_TheArchiveExpanderReadsEveryMember()
    {
        var (bytes, _) = await WritePagesAsync();

        var entries = await ExpandAllAsync(bytes, "part-00001.ndjson.gz", seekable: false);

        entries.ShouldBe([("part-00001.ndjson", Expected)]);
    }

    [Fact]
    public async Task EndMember_GzipDcReadsEveryMember()
    {
        var (bytes, _) = await WritePagesAsync();
        var path = Path.Combine(Path.GetTempPath(), $"intake-members-{Guid.NewGuid():N}.ndjson.gz");
        await File.WriteAllBytesAsync(path, bytes);
        try
        {
            using var gzip = Process.Start(new ProcessStartInfo("gzip", ["-dc", path]) { RedirectStandardOutput = true, UseShellExecute = false })!;
            var text = await gzip.StandardOutput.ReadToEndAsync();
            await gzip.WaitForExitAsync();

            gzip.ExitCode.ShouldBe(0);
            text.ShouldBe(Expected);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public async Task Read_RowSourceOverAMultiMemberPart_GivesEveryRow()
    {
        var (bytes, _) = await WritePagesAsync();

        using var rows = new NdjsonRowSource(new GZipStream(new MemoryStream(bytes), CompressionMode.Decompress), "part", ["id"]);
        var ids = new List<string>();
        while (rows.Read())
        {
            ids.Add(rows.GetString(0)!);
        }

        ids.ShouldBe(Enumerable.Range(1, 30).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToList());
    }
}
