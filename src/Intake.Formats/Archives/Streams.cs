namespace Intake.Formats.Archives;

/// <summary>
/// Base for the forward-only, read-only wrappers the expander stacks on each other. Subclasses implement the
/// span and memory overloads only; everything about seeking and writing is refused.
/// </summary>
internal abstract class ReadOnlyStream : Stream
{
    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    public abstract override int Read(Span<byte> buffer);

    public abstract override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default);

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int ReadByte()
    {
        Span<byte> one = stackalloc byte[1];
        return Read(one) == 1 ? one[0] : -1;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Flush() { }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}

/// <summary>A read-only stream over another, which it disposes with itself when asked to.</summary>
internal abstract class WrappingStream(Stream inner, bool disposeInner) : ReadOnlyStream
{
    protected Stream Inner { get; } = inner;

    protected override void Dispose(bool disposing)
    {
        if (disposing && disposeInner)
        {
            Inner.Dispose();
        }
        base.Dispose(disposing);
    }

    public override async ValueTask DisposeAsync()
    {
        if (disposeInner)
        {
            await Inner.DisposeAsync();
        }
        await base.DisposeAsync();
    }
}

/// <summary>Counts the bytes read from the caller's input: the denominator of the overall expansion ratio.</summary>
internal sealed class CountingStream(Stream inner) : ReadOnlyStream
{
    public long BytesRead { get; private set; }

    public override int Read(Span<byte> buffer)
    {
        int n = inner.Read(buffer);
        BytesRead += n;
        return n;
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        int n = await inner.ReadAsync(buffer, cancellationToken);
        BytesRead += n;
        return n;
    }
}

/// <summary>
/// Reads the first bytes of a stream ahead (to recognise a format by its magic bytes) and then replays them, so
/// detection never needs a seekable stream and never reads an entry twice.
/// </summary>
internal sealed class PeekStream(Stream inner, bool disposeInner) : WrappingStream(inner, disposeInner)
{
    // 512 bytes: one tar header block, which holds the "ustar" magic at offset 257.
    public const int HeadSize = 512;

    private readonly byte[] _head = new byte[HeadSize];
    private int _headLength;
    private int _headPosition;

    public ReadOnlySpan<byte> Head => _head.AsSpan(0, _headLength);

    public async Task FillAsync(CancellationToken cancellationToken)
    {
        _headLength = await Inner.ReadAtLeastAsync(_head, HeadSize, throwOnEndOfStream: false, cancellationToken);
        _headPosition = 0;
    }

    public override int Read(Span<byte> buffer)
    {
        if (_headPosition < _headLength)
        {
            int n = Math.Min(buffer.Length, _headLength - _headPosition);
            _head.AsSpan(_headPosition, n).CopyTo(buffer);
            _headPosition += n;
            return n;
        }
        return Inner.Read(buffer);
    }

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (_headPosition < _headLength)
        {
            return ValueTask.FromResult(Read(buffer.Span));
        }
        return Inner.ReadAsync(buffer, cancellationToken);
    }
}

/// <summary>
/// Sits on the output of one decompression (a gzip stream, a zip entry) and stops it as soon as the expansion goes
/// past the limits: checked on every read, so a bomb is refused after about one buffer past the limit, never after
/// it has been written out.
/// </summary>
/// <param name="declared">
/// The size and CRC-32 a zip directory declares, checked at the end of the entry: the framework stops reading an
/// entry at its declared size without a word, so a shortened size or damaged data would otherwise go unnoticed.
/// </param>
internal sealed class MeteredStream(
    Stream inner, Expansion expansion, Func<long> compressedBytes, string itemName, bool disposeInner, (long Length, uint Crc32)? declared = null)
    : WrappingStream(inner, disposeInner)
{
    private long _expanded;
    private uint _crc;
    private bool _verified;

    public override int Read(Span<byte> buffer)
    {
        int n = Inner.Read(buffer);
        Account(buffer[..n], buffer.IsEmpty);
        return n;
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        int n = await Inner.ReadAsync(buffer, cancellationToken);
        Account(buffer.Span[..n], buffer.IsEmpty);
        return n;
    }

    private void Account(ReadOnlySpan<byte> produced, bool askedForNothing)
    {
        if (!produced.IsEmpty)
        {
            _expanded += produced.Length;
            if (declared is { } d)
            {
                if (_expanded > d.Length)
                {
                    throw new InvalidDataException($"the entry produces more than the {d.Length} bytes its header declares");
                }
                _crc = Crc32.Append(_crc, produced);
            }
            expansion.OnExpanded(produced.Length, _expanded, compressedBytes(), itemName);
        }
        else if (!askedForNothing && declared is { } d && !_verified)
        {
            _verified = true;
            if (_expanded != d.Length)
            {
                throw new EndOfStreamException($"the entry ends after {_expanded} bytes, its header declares {d.Length}");
            }
            if (_crc != d.Crc32)
            {
                throw new InvalidDataException($"the entry's CRC-32 is {_crc:x8}, its header declares {d.Crc32:x8}");
            }
        }
    }
}

/// <summary>
/// What the caller receives as <see cref="ArchiveEntry.Content"/>: turns a corrupt or truncated archive found while
/// reading into an <see cref="Core.Errors.IntakeException"/> that names the archive and the entry, and stops
/// working once the expander has moved on (the bytes underneath belong to the next entry then).
/// </summary>
internal sealed class EntryStream(Stream inner, string archiveName, string entryName) : ReadOnlyStream
{
    private Stream? _inner = inner;

    public override int Read(Span<byte> buffer)
    {
        var source = _inner ?? throw Moved();
        try
        {
            return source.Read(buffer);
        }
        catch (Exception e) when (Failures.IsCorruption(e))
        {
            throw Failures.Corrupt(archiveName, entryName, e);
        }
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        var source = _inner ?? throw Moved();
        try
        {
            return await source.ReadAsync(buffer, cancellationToken);
        }
        catch (Exception e) when (Failures.IsCorruption(e))
        {
            throw Failures.Corrupt(archiveName, entryName, e);
        }
    }

    /// <summary>Called by the expander when the next entry is requested.</summary>
    internal void Detach() => _inner = null;

    // The caller disposing the content only detaches it; the expander owns and disposes the streams underneath.
    protected override void Dispose(bool disposing)
    {
        _inner = null;
        base.Dispose(disposing);
    }

    private ObjectDisposedException Moved() =>
        new(nameof(ArchiveEntry), $"The content of '{entryName}' in {archiveName} is no longer readable: the expander has moved to the next entry, or it was disposed.");
}
