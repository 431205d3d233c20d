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
                    throw new ArchiveDamageException($"the entry holds more than the {d.Length} bytes its header declares");
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
                throw new ArchiveDamageException($"the entry holds {_expanded} bytes, its header declares {d.Length}");
            }
            if (_crc != d.Crc32)
            {
                throw new ArchiveDamageException($"the entry's CRC-32 is {_crc:x8}, its header declares {d.Crc32:x8}");
            }
        }
    }
}

/// <summary>
/// What the caller receives as <see cref="ArchiveEntry.Content"/>: turns a corrupt or truncated archive found while
/// reading into an <see cref="Core.Errors.IntakeException"/> that names the archive and the entry, and stops
/// working once the expander has moved on (the bytes underneath belong to the next entry then).
/// </summary>
/// <remarks>
/// A failure is kept: every later read, and the expander's own <see cref="DrainAsync"/>, throws the same exception
/// again instead of asking a decoder that already failed for more (its state after a failure is undefined).
/// </remarks>
internal sealed class EntryStream(Stream inner, string archiveName, string entryName) : ReadOnlyStream
{
    private Stream? _inner = inner;
    private readonly Stream _source = inner;
    private Exception? _failure;

    public override int Read(Span<byte> buffer)
    {
        var source = _inner ?? throw Moved();
        ThrowIfFailed();
        try
        {
            return source.Read(buffer);
        }
        catch (Exception e)
        {
            throw Fail(e);
        }
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        var source = _inner ?? throw Moved();
        ThrowIfFailed();
        try
        {
            return await source.ReadAsync(buffer, cancellationToken);
        }
        catch (Exception e)
        {
            throw Fail(e);
        }
    }

    /// <summary>
    /// Reads what the caller left unread, so that every entry is checked to its end (sizes, checksums, limits) whether
    /// the caller wanted all of it, part of it or none: the outcome of an expansion must not depend on what its caller
    /// reads.
    /// </summary>
    internal async Task DrainAsync(CancellationToken cancellationToken)
    {
        ThrowIfFailed();
        try
        {
            await _source.CopyToAsync(Stream.Null, cancellationToken);
        }
        catch (Exception e)
        {
            throw Fail(e);
        }
    }

    private void ThrowIfFailed()
    {
        if (_failure is not null)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(_failure);
        }
    }

    private Exception Fail(Exception e)
    {
        // Cancellation is the caller's decision, not a property of the archive: not kept.
        if (e is OperationCanceledException)
        {
            return e;
        }
        _failure = Failures.IsCorruption(e) ? Failures.Corrupt(archiveName, entryName, e) : e;
        return _failure;
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

/// <summary>
/// A tar member's data as <see cref="System.Formats.Tar.TarReader"/> hands it out, checked against the size in its
/// header: the framework's data stream returns a clean end of stream when the archive stops in the middle of the
/// member (the error only shows at the next header), so a cut tar would give a shorter file, and a CSV a broken last
/// row, instead of a truncation.
/// </summary>
internal sealed class ExactLengthStream(Stream inner, long length) : WrappingStream(inner, disposeInner: false)
{
    private long _read;

    public override int Read(Span<byte> buffer) => Check(Inner.Read(buffer), buffer.IsEmpty);

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
        Check(await Inner.ReadAsync(buffer, cancellationToken), buffer.IsEmpty);

    private int Check(int n, bool askedForNothing)
    {
        _read += n;
        if (n == 0 && !askedForNothing && _read < length)
        {
            throw new ArchiveTruncatedException($"the entry ends after {_read} of the {length} bytes its header declares");
        }
        return n;
    }
}

/// <summary>
/// Watches what <see cref="System.Formats.Tar.TarReader"/> reads: how many bytes, and the last 512 (the header block
/// it has just parsed, or the zero block that ended the archive). The framework reader checks neither a header's
/// checksum nor that the archive has its end-of-archive marker; this gives the expander what it needs to.
/// </summary>
internal sealed class TarWatch(Stream inner) : WrappingStream(inner, disposeInner: false)
{
    public const int Block = 512;

    private readonly byte[] _last = new byte[Block];
    private int _lastEnd; // ring position: the oldest byte kept is at _lastEnd

    public long BytesRead { get; private set; }

    public override int Read(Span<byte> buffer)
    {
        int n = Inner.Read(buffer);
        Keep(buffer[..n]);
        return n;
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        int n = await Inner.ReadAsync(buffer, cancellationToken);
        Keep(buffer.Span[..n]);
        return n;
    }

    private void Keep(ReadOnlySpan<byte> data)
    {
        BytesRead += data.Length;
        if (data.Length >= Block)
        {
            data[^Block..].CopyTo(_last);
            _lastEnd = 0;
            return;
        }
        foreach (byte b in data)
        {
            _last[_lastEnd] = b;
            _lastEnd = (_lastEnd + 1) % Block;
        }
    }

    /// <summary>
    /// Whether the last 512 bytes read are a header block whose checksum field disagrees with its bytes (POSIX: the
    /// sum of the block's bytes as unsigned values, the checksum field counted as spaces; historic writers summed
    /// signed bytes, accepted too). False when the field does not parse or fewer than 512 bytes were read.
    /// </summary>
    public bool LastHeaderChecksumFails()
    {
        if (BytesRead < Block)
        {
            return false;
        }
        Span<byte> header = stackalloc byte[Block];
        _last.AsSpan(_lastEnd).CopyTo(header);
        _last.AsSpan(0, _lastEnd).CopyTo(header[(Block - _lastEnd)..]);
        if (!header.ContainsAnyExcept((byte)0))
        {
            return false;
        }
        var field = header.Slice(148, 8);
        long stored = 0;
        bool digits = false;
        foreach (byte b in field)
        {
            if (b is >= (byte)'0' and <= (byte)'7')
            {
                stored = (stored * 8) + (b - '0');
                digits = true;
            }
            else if (b is (byte)' ' or 0 && !digits)
            {
                continue;
            }
            else if (b is (byte)' ' or 0)
            {
                break;
            }
            else
            {
                return false;
            }
        }
        if (!digits)
        {
            return false;
        }
        long unsigned = 0, signed = 0;
        for (int i = 0; i < Block; i++)
        {
            byte b = i is >= 148 and < 156 ? (byte)' ' : header[i];
            unsigned += b;
            signed += (sbyte)b;
        }
        return stored != unsigned && stored != signed;
    }
}
