namespace Intake.Storage.Tests;

/// <summary>Deterministic test content and a source stream that breaks part-way, like a dropped download.</summary>
internal static class TestStreams
{
    public static byte[] Bytes(int length, int seed = 1)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    public static string Sha256(byte[] bytes) => Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(bytes));

    /// <summary>Byte-exact comparison that stays fast for megabytes (Shouldly compares element by element) and names the first difference.</summary>
    public static void ShouldBeSameBytes(this byte[] actual, byte[] expected)
    {
        var common = Math.Min(actual.Length, expected.Length);
        var firstDifference = actual.AsSpan(0, common).CommonPrefixLength(expected.AsSpan(0, common));
        if (firstDifference < common || actual.Length != expected.Length)
        {
            throw new Shouldly.ShouldAssertException(
                $"expected {expected.Length} bytes, got {actual.Length}; first difference at offset {firstDifference}");
        }
    }

    public static async Task<byte[]> ReadAllAsync(Stream stream)
    {
        await using (stream)
        {
            using var copy = new MemoryStream();
            await stream.CopyToAsync(copy);
            return copy.ToArray();
        }
    }
}

/// <summary>Serves <c>goodBytes</c> bytes of a longer content, then throws, as a network source does when the connection drops.</summary>
internal sealed class FailingStream(byte[] content, int goodBytes) : Stream
{
    private int _position;

    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => _position; set => throw new NotSupportedException(); }

    public override int Read(byte[] buffer, int offset, int count)
    {
        if (_position >= goodBytes)
        {
            throw new IOException("connection reset by peer");
        }

        var n = Math.Min(count, goodBytes - _position);
        Array.Copy(content, _position, buffer, offset, n);
        _position += n;
        return n;
    }

    public override void Flush() { }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
