using System.Security.Cryptography;
using System.Text;
using Intake.Core.Ports;
using Intake.Engine.Mail;
using Intake.Storage;
using Xunit.Abstractions;

namespace Intake.Engine.Tests.Mail;

/// <summary>
/// Big attachments, made at test time (not committed): decoded straight from the message into the store. The memory
/// test runs alone (its collection is not parallel), so the bytes the process allocated meanwhile are its own.
/// </summary>
[Collection(nameof(LargeAttachmentTests))]
[CollectionDefinition(nameof(LargeAttachmentTests), DisableParallelization = true)]
public sealed class LargeAttachmentTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("intake-mail-large-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    /// <summary>A message with a text body and one base64 attachment of <paramref name="size"/> random bytes; returns its path and the bytes' SHA-256.</summary>
    private (string Path, string Sha256) WriteMessage(int size, string name)
    {
        var path = Path.Combine(_root, name + ".eml");
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        using (var file = new StreamWriter(path, false, new UTF8Encoding(false)) { NewLine = "\r\n" })
        {
            file.Write("From: grid@example.com\r\nTo: intake@example.org\r\nSubject: big\r\nMIME-Version: 1.0\r\n");
            file.Write("Content-Type: multipart/mixed; boundary=\"BIG\"\r\n\r\n--BIG\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n");
            file.Write($"--BIG\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"{name}.bin\"\r\nContent-Transfer-Encoding: base64\r\n\r\n");
            var random = new Random(42);
            var chunk = new byte[57 * 1024]; // 57 bytes make one 76-character base64 line
            for (var written = 0; written < size; written += chunk.Length)
            {
                var piece = chunk.AsSpan(0, Math.Min(chunk.Length, size - written));
                random.NextBytes(piece);
                hash.AppendData(piece);
                var text = Convert.ToBase64String(piece);
                for (var i = 0; i < text.Length; i += 76)
                {
                    file.WriteLine(text.AsSpan(i, Math.Min(76, text.Length - i)));
                }
            }

            file.Write("--BIG--\r\n");
        }

        return (path, Convert.ToHexStringLower(hash.GetHashAndReset()));
    }

    [Fact]
    public async Task FiveMebibyteAttachment_IsWrittenWhole()
    {
        var (path, sha256) = WriteMessage(5 * 1024 * 1024, "five");
        var store = new LocalDirectoryStore("test", Path.Combine(_root, "store"), TimeProvider.System);

        await using var input = File.OpenRead(path);
        var manifest = await new MailExtractor(new MailExtractLimits()).ExtractAsync(input, "five.eml", store, Areas.Work, "m/", default);

        var part = manifest.Parts.Single(p => p.Role == MailPartRole.Attachment);
        part.Path.ShouldBe("attachments/five.bin");
        part.Size.ShouldBe(5 * 1024 * 1024);
        part.Sha256.ShouldBe(sha256);
        (await store.StatAsync(Areas.Work, "m/attachments/five.bin", default))!.Size.ShouldBe(5 * 1024 * 1024);
    }

    [Fact]
    public async Task FiftyMegabyteAttachment_FromAStreamThatCannotSeek_IsDecodedWithoutHoldingItInMemory()
    {
        const int size = 50_000_000;
        var (path, sha256) = WriteMessage(size, "fifty");
        var store = new LocalDirectoryStore("test", Path.Combine(_root, "store"), TimeProvider.System);
        await using var input = new ForwardOnly(File.OpenRead(path)); // as an S3 object reads: the extractor spools it

        var before = GC.GetTotalAllocatedBytes(precise: true);
        var manifest = await new MailExtractor(new MailExtractLimits()).ExtractAsync(input, "fifty.eml", store, Areas.Work, "m/", default);
        var allocated = GC.GetTotalAllocatedBytes(precise: true) - before;

        output.WriteLine($"{allocated:N0} bytes allocated while extracting a {size:N0}-byte attachment");
        var part = manifest.Parts.Single(p => p.Role == MailPartRole.Attachment);
        part.Size.ShouldBe(size);
        part.Sha256.ShouldBe(sha256);
        // A copy of the attachment (or of the 68 MB message) in memory allocates at least its size, a growing buffer about
        // twice that. Streamed, the run allocated some 10 MB here (read buffers and the parser's small objects, garbage as
        // soon as used): half the size tells the two apart with room to spare.
        allocated.ShouldBeLessThan(size / 2, $"{allocated:N0} bytes allocated while extracting");
    }

    private sealed class ForwardOnly(Stream inner) : Stream
    {
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, count);
        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => inner.ReadAsync(buffer, cancellationToken);
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                inner.Dispose();
            }

            base.Dispose(disposing);
        }
    }
}
