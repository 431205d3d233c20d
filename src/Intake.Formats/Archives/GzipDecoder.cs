using System.Buffers.Binary;
using System.IO.Compression;

namespace Intake.Formats.Archives;

/// <summary>
/// Decompresses gzip (RFC 1952): every member of a concatenated file, each checked against the CRC-32 and length in
/// its trailer.
/// </summary>
/// <remarks>
/// Why not <see cref="GZipStream"/>: it reports a clean end of stream when the input stops in the middle
/// (dotnet/runtime#47563; the fix was reverted), so a half-downloaded <c>.csv.gz</c> would load as a shorter file.
/// Here the gzip framing is parsed by hand and only the raw deflate data goes to <see cref="DeflateStream"/> through
/// <see cref="Feed"/>, which hands it out in small slices. Raw deflate stops reading once its final block is
/// decoded, so the end of the member lies inside the last slice handed out; the trailer is found there by its
/// expected bytes (CRC-32 of what was produced, then the length), which also proves the data intact. Not finding
/// it means truncated (the input ended) or corrupt (it did not).
/// <para>
/// Failures: a header that is not gzip, or data after the end, is <see cref="ArchiveStructureException"/>
/// (<c>format</c>); an input that stops early is <see cref="EndOfStreamException"/> and a trailer that disagrees with
/// the data <see cref="ArchiveDamageException"/> (both <c>integrity</c>), as is the <see cref="InvalidDataException"/>
/// of deflate data that does not decode.
/// </para>
/// </remarks>
internal sealed class GzipDecoder : ReadOnlyStream
{
    private const int BufferSize = 64 * 1024;
    // DeflateStream asks for 8 KiB at a time; capping slices bounds the window the trailer search keeps.
    private const int MaxSlice = 16 * 1024;

    private readonly Stream _source;
    private readonly byte[] _buffer = new byte[BufferSize];
    private readonly Feed _feed;
    private int _position;
    private int _end;
    private int _sliceStart = -1;
    private bool _sourceEnded;
    private DeflateStream? _inflate;
    private uint _crc;
    private uint _size;
    private int _members;
    private bool _done;

    public GzipDecoder(Stream source)
    {
        _source = source;
        _feed = new Feed(this);
    }

    /// <summary>
    /// Compressed bytes handed to inflate so far, for the expansion ratio. Counted per slice rather than per read
    /// from the source, which runs up to 64 KiB ahead: zeros inflate about 1000 times, so counting the read-ahead
    /// would let a bomb run to tens of megabytes before its ratio showed.
    /// </summary>
    public long CompressedBytesRead { get; private set; }

    public override int Read(Span<byte> buffer)
    {
        if (_done || buffer.IsEmpty)
        {
            return 0;
        }
        while (true)
        {
            if (_inflate is null)
            {
                if (!StartMember())
                {
                    _done = true;
                    return 0;
                }
            }
            int n = _inflate!.Read(buffer);
            if (n > 0)
            {
                Produced(buffer[..n]);
                return n;
            }
            FinishMember();
        }
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (_done || buffer.IsEmpty)
        {
            return 0;
        }
        while (true)
        {
            if (_inflate is null)
            {
                if (!await StartMemberAsync(cancellationToken))
                {
                    _done = true;
                    return 0;
                }
            }
            int n = await _inflate!.ReadAsync(buffer, cancellationToken);
            if (n > 0)
            {
                Produced(buffer.Span[..n]);
                return n;
            }
            await FinishMemberAsync(cancellationToken);
        }
    }

    private void Produced(ReadOnlySpan<byte> data)
    {
        _crc = Crc32.Append(_crc, data);
        _size += (uint)data.Length; // ISIZE is the length modulo 2^32
    }

    // ---- member start: header -------------------------------------------------------------------------------

    private bool StartMember()
    {
        while (true)
        {
            switch (TryStart(out int keepFrom))
            {
                case Step.Done: return true;
                case Step.End: return false;
                default:
                    if (!Fill(keepFrom))
                    {
                        if (!AtCleanEnd())
                        {
                            throw new ArchiveTruncatedException("the gzip header is cut short");
                        }
                        return false;
                    }
                    break;
            }
        }
    }

    private async ValueTask<bool> StartMemberAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            switch (TryStart(out int keepFrom))
            {
                case Step.Done: return true;
                case Step.End: return false;
                default:
                    if (!await FillAsync(keepFrom, cancellationToken))
                    {
                        if (!AtCleanEnd())
                        {
                            throw new ArchiveTruncatedException("the gzip header is cut short");
                        }
                        return false;
                    }
                    break;
            }
        }
    }

    // The input may end cleanly only between members, after at least one.
    private bool AtCleanEnd() => _members > 0 && _position == _end;

    private enum Step { Done, End, NeedMore }

    private Step TryStart(out int keepFrom)
    {
        keepFrom = _position;
        if (_position == _end)
        {
            return _sourceEnded && _members > 0 ? Step.End : Step.NeedMore;
        }
        if (_members > 0 && _buffer[_position] == 0)
        {
            // Zero padding after the last member (tape blocks) is accepted, as gzip(1) does.
            int nonZero = _buffer.AsSpan(_position, _end - _position).IndexOfAnyExcept((byte)0);
            if (nonZero < 0)
            {
                _position = _end;
                keepFrom = _end;
                return _sourceEnded ? Step.End : Step.NeedMore;
            }
            throw new ArchiveStructureException("unexpected data after the zero padding that follows the gzip data");
        }
        var data = _buffer.AsSpan(_position, _end - _position);
        if (!TryParseHeader(data, _members, out int headerLength))
        {
            if (_end - _position == _buffer.Length)
            {
                throw new ArchiveStructureException("the gzip header is longer than 64 KiB");
            }
            return Step.NeedMore;
        }
        _position += headerLength;
        _sliceStart = -1;
        _inflate = new DeflateStream(_feed, CompressionMode.Decompress, leaveOpen: true);
        _crc = 0;
        _size = 0;
        _members++;
        return Step.Done;
    }

    private static bool TryParseHeader(ReadOnlySpan<byte> data, int membersBefore, out int length)
    {
        length = 0;
        if (data.Length >= 1 && data[0] != 0x1F || data.Length >= 2 && data[1] != 0x8B)
        {
            throw new ArchiveStructureException(membersBefore == 0 ? "not gzip data" : "unexpected data after the end of the gzip data");
        }
        if (data.Length < 10)
        {
            return false;
        }
        if (data[2] != 8)
        {
            throw new ArchiveStructureException($"unsupported gzip compression method {data[2]}");
        }
        byte flags = data[3];
        if ((flags & 0xE0) != 0)
        {
            throw new ArchiveStructureException("reserved gzip header flags are set");
        }
        int p = 10;
        if ((flags & 0x04) != 0) // FEXTRA
        {
            if (data.Length < p + 2)
            {
                return false;
            }
            p += 2 + BinaryPrimitives.ReadUInt16LittleEndian(data[p..]);
        }
        foreach (byte zeroTerminated in (ReadOnlySpan<byte>)[0x08, 0x10]) // FNAME, FCOMMENT
        {
            if ((flags & zeroTerminated) != 0)
            {
                if (p > data.Length)
                {
                    return false;
                }
                int zero = data[p..].IndexOf((byte)0);
                if (zero < 0)
                {
                    return false;
                }
                p += zero + 1;
            }
        }
        if ((flags & 0x02) != 0) // FHCRC
        {
            p += 2;
        }
        if (p > data.Length)
        {
            return false;
        }
        length = p;
        return true;
    }

    // ---- member end: trailer --------------------------------------------------------------------------------

    private void FinishMember()
    {
        int from = _sliceStart >= 0 ? _sliceStart : _position;
        int sliceEnd = _position;
        while (!TryFinish(ref from, ref sliceEnd))
        {
            int shift = from;
            if (!Fill(from))
            {
                throw new ArchiveTruncatedException("the gzip data ends before its end marker and checksum");
            }
            sliceEnd -= shift;
            from = 0;
        }
    }

    private async ValueTask FinishMemberAsync(CancellationToken cancellationToken)
    {
        int from = _sliceStart >= 0 ? _sliceStart : _position;
        int sliceEnd = _position;
        while (!TryFinish(ref from, ref sliceEnd))
        {
            int shift = from;
            if (!await FillAsync(from, cancellationToken))
            {
                throw new ArchiveTruncatedException("the gzip data ends before its end marker and checksum");
            }
            sliceEnd -= shift;
            from = 0;
        }
    }

    private bool TryFinish(ref int from, ref int sliceEnd)
    {
        Span<byte> trailer = stackalloc byte[8];
        BinaryPrimitives.WriteUInt32LittleEndian(trailer, _crc);
        BinaryPrimitives.WriteUInt32LittleEndian(trailer[4..], _size);
        int index = _buffer.AsSpan(from, _end - from).IndexOf(trailer);
        if (index >= 0)
        {
            _position = from + index + 8;
            _sliceStart = -1;
            _inflate!.Dispose();
            _inflate = null;
            return true;
        }
        // The member ended somewhere in [from, sliceEnd]; its 8-byte trailer follows at once.
        if (_end >= sliceEnd + 8)
        {
            throw new ArchiveDamageException("the gzip checksum or length in the trailer does not match the data");
        }
        if (_sourceEnded)
        {
            throw new ArchiveTruncatedException("the gzip data ends before its end marker and checksum");
        }
        return false;
    }

    // ---- buffer ---------------------------------------------------------------------------------------------

    private int FeedRead(Span<byte> destination)
    {
        if (_position == _end && !Fill(_end))
        {
            return 0;
        }
        return Hand(destination);
    }

    private async ValueTask<int> FeedReadAsync(Memory<byte> destination, CancellationToken cancellationToken)
    {
        if (_position == _end && !await FillAsync(_end, cancellationToken))
        {
            return 0;
        }
        return Hand(destination.Span);
    }

    private int Hand(Span<byte> destination)
    {
        int n = Math.Min(Math.Min(destination.Length, _end - _position), MaxSlice);
        _sliceStart = _position;
        _buffer.AsSpan(_position, n).CopyTo(destination);
        _position += n;
        CompressedBytesRead += n;
        return n;
    }

    /// <summary>Moves <c>[keepFrom, end)</c> to the front and reads more after it; false when the source has ended.</summary>
    private bool Fill(int keepFrom)
    {
        Compact(keepFrom);
        if (_sourceEnded || _end == _buffer.Length)
        {
            return false;
        }
        int n = _source.Read(_buffer, _end, _buffer.Length - _end);
        return Added(n);
    }

    private async ValueTask<bool> FillAsync(int keepFrom, CancellationToken cancellationToken)
    {
        Compact(keepFrom);
        if (_sourceEnded || _end == _buffer.Length)
        {
            return false;
        }
        int n = await _source.ReadAsync(_buffer.AsMemory(_end, _buffer.Length - _end), cancellationToken);
        return Added(n);
    }

    private void Compact(int keepFrom)
    {
        if (keepFrom == 0)
        {
            return;
        }
        int keep = _end - keepFrom;
        if (keep > 0)
        {
            Buffer.BlockCopy(_buffer, keepFrom, _buffer, 0, keep);
        }
        _position -= keepFrom;
        _end = keep;
        _sliceStart = _sliceStart >= keepFrom ? _sliceStart - keepFrom : -1;
    }

    private bool Added(int n)
    {
        if (n <= 0)
        {
            _sourceEnded = true;
            return false;
        }
        _end += n;
        return true;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _inflate?.Dispose();
            _inflate = null;
        }
        base.Dispose(disposing);
    }

    /// <summary>What <see cref="DeflateStream"/> reads from: slices of the decoder's buffer.</summary>
    private sealed class Feed(GzipDecoder owner) : ReadOnlyStream
    {
        public override int Read(Span<byte> buffer) => owner.FeedRead(buffer);

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            owner.FeedReadAsync(buffer, cancellationToken);
    }
}
