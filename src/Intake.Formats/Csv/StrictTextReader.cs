using System.Diagnostics;
using System.Text;

namespace Intake.Formats.Csv;

/// <summary>
/// Where a file stops being text in its declared encoding: the offset of the first bad byte in the raw stream (0 is
/// the file's first byte), the bytes the decoder could not read, and for a C1 control under ISO-8859-1 the character
/// it would have become.
/// </summary>
internal sealed record DecodeFailure(long Offset, byte[] Bytes, char? Control);

/// <summary>
/// Decodes a byte stream into characters and refuses anything that is not text in the encoding, where
/// <see cref="StreamReader"/> (with the encodings' default fallback) puts U+FFFD in its place and carries on: an
/// ingestion tool must never load a value other than the one that was sent.
/// </summary>
/// <remarks>
/// <para>The characters before the first bad byte are delivered first, so the caller's own line and record counts
/// stand exactly where the bad bytes are; then <see cref="Read"/> returns 0 and <see cref="Failure"/> says what and where.</para>
/// <para>The offset has to be counted in bytes, which a decoder cannot report once it has failed in the middle of a block.
/// So blocks are cut after their last line break: a decoder holds no half character there, and after a failure the
/// part of the block before the bad bytes can be decoded again on its own. A block without a line break (a row
/// longer than 64 KiB) is cut at its end; if the bad bytes come in the next block, the one character split by that
/// cut is left out of what is delivered before the failure (the row it is in is never loaded, since the read fails),
/// and the line, the record and the offset stay exact.</para>
/// <para>Under ISO-8859-1 the bytes 0x80–0x9F are the C1 control characters U+0080–U+009F. That is valid, but text
/// files almost never hold them: such a file is nearly always windows-1252 (0x80 is €, 0x92 is ’), so with
/// <c>rejectC1Controls</c> they fail the same way.</para>
/// </remarks>
internal sealed class StrictTextReader : IDisposable, IAsyncDisposable
{
    private const int BlockBytes = 64 * 1024;

    private readonly Stream _stream;
    private readonly bool _leaveOpen;
    private readonly Encoding _strict;
    private readonly Decoder _decoder;
    private readonly byte[] _lf;
    private readonly byte[] _cr;
    private readonly bool _rejectC1;
    private readonly byte[] _bytes = new byte[BlockBytes];
    private readonly char[] _chars;
    private int _byteEnd;
    private long _offset; // raw offset of _bytes[0]
    private bool _streamEnd;
    private bool _done;
    private bool _nextStartsClean = true; // the next block starts right after a line break (or at the start)
    private int _charStart;
    private int _charEnd;

    public StrictTextReader(Stream stream, Encoding encoding, bool rejectC1Controls, bool leaveOpen)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(encoding);
        _stream = stream;
        _leaveOpen = leaveOpen;
        // A copy whose decoder throws, whatever fallback the given instance has (Encoding.UTF8 and Encoding.Latin1 replace).
        _strict = (Encoding)encoding.Clone();
        _strict.DecoderFallback = DecoderFallback.ExceptionFallback;
        _decoder = _strict.GetDecoder();
        _lf = encoding.GetBytes("\n");
        _cr = encoding.GetBytes("\r");
        _rejectC1 = rejectC1Controls;
        _chars = new char[_strict.GetMaxCharCount(BlockBytes + 16)];
        Encoding = encoding;
    }

    public Encoding Encoding { get; }

    /// <summary>Set once the reader stopped at bytes that are not text; <see cref="Read"/> returns 0 from then on.</summary>
    public DecodeFailure? Failure { get; private set; }

    /// <summary>Characters into <paramref name="destination"/>; 0 at the end of the text (or at a <see cref="Failure"/>).</summary>
    public int Read(Span<char> destination)
    {
        while (true)
        {
            if (_charStart < _charEnd)
            {
                return Deliver(destination);
            }

            if (_done)
            {
                return 0;
            }

            while (_byteEnd < _bytes.Length && !_streamEnd)
            {
                Filled(_stream.Read(_bytes, _byteEnd, _bytes.Length - _byteEnd));
            }

            if (!DecodeBlock())
            {
                return 0;
            }
        }
    }

    /// <summary><see cref="Read"/>, awaiting the stream; synchronous while decoded characters are left.</summary>
    public ValueTask<int> ReadAsync(Memory<char> destination, CancellationToken cancellationToken) =>
        _charStart < _charEnd ? new ValueTask<int>(Deliver(destination.Span)) : ReadBlockAsync(destination, cancellationToken);

    private async ValueTask<int> ReadBlockAsync(Memory<char> destination, CancellationToken cancellationToken)
    {
        while (true)
        {
            if (_charStart < _charEnd)
            {
                return Deliver(destination.Span);
            }

            if (_done)
            {
                return 0;
            }

            while (_byteEnd < _bytes.Length && !_streamEnd)
            {
                Filled(await _stream.ReadAsync(_bytes.AsMemory(_byteEnd), cancellationToken));
            }

            if (!DecodeBlock())
            {
                return 0;
            }
        }
    }

    private int Deliver(Span<char> destination)
    {
        int n = Math.Min(destination.Length, _charEnd - _charStart);
        _chars.AsSpan(_charStart, n).CopyTo(destination);
        _charStart += n;
        return n;
    }

    private void Filled(int n)
    {
        if (n == 0)
        {
            _streamEnd = true;
        }

        _byteEnd += n;
    }

    /// <summary>Decodes the bytes read (a full block, or the rest of the stream); false when there is nothing more to deliver.</summary>
    private bool DecodeBlock()
    {
        bool startsClean = _nextStartsClean;
        int cut = _streamEnd ? _byteEnd : Cut(_byteEnd);
        var block = _bytes.AsSpan(0, cut);
        bool flush = _streamEnd;
        _charStart = 0;
        try
        {
            _charEnd = _decoder.GetChars(block, _chars, flush);
        }
        catch (DecoderFallbackException e)
        {
            Fail(block, e, startsClean);
            return _charEnd > 0;
        }

        if (_rejectC1)
        {
            int c1 = _chars.AsSpan(0, _charEnd).IndexOfAnyInRange('\u0080', '\u009F');
            if (c1 >= 0)
            {
                // ISO-8859-1 has one byte per character and no state: the character's index is the byte's.
                Failure = new DecodeFailure(_offset + c1, [(byte)_chars[c1]], _chars[c1]);
                _charEnd = c1;
                _done = true;
                return _charEnd > 0;
            }
        }

        _offset += cut;
        _byteEnd -= cut;
        Buffer.BlockCopy(_bytes, cut, _bytes, 0, _byteEnd);
        _done = flush;
        return true;
    }

    /// <summary>Where to end a block that is not the last: after its last line break, else at a code unit boundary.</summary>
    private int Cut(int length)
    {
        var span = _bytes.AsSpan(0, length);
        int unit = _lf.Length;
        _nextStartsClean = true;
        int at = LastAligned(span, _lf);
        if (at < 0)
        {
            at = LastAligned(span, _cr);
        }

        if (at >= 0)
        {
            return at + unit;
        }

        _nextStartsClean = false;
        return length - (int)((_offset + length) % unit);
    }

    /// <summary>The last occurrence of <paramref name="unit"/> that starts on a code unit boundary of the stream (UTF-16 and UTF-32 line breaks are 2 and 4 bytes).</summary>
    private int LastAligned(ReadOnlySpan<byte> span, ReadOnlySpan<byte> unit)
    {
        if (unit.Length == 1)
        {
            return span.LastIndexOf(unit[0]);
        }

        int end = span.Length;
        while (end > 0)
        {
            int at = span[..end].LastIndexOf(unit);
            if (at < 0 || (_offset + at) % unit.Length == 0)
            {
                return at;
            }

            end = at + unit.Length - 1;
        }

        return -1;
    }

    private void Fail(ReadOnlySpan<byte> block, DecoderFallbackException e, bool startsClean)
    {
        int index = e.Index; // in the block; negative when the bad sequence began in the previous block
        byte[] bad = e.BytesUnknown ?? [];
        if (index >= bad.Length && bad.Length > 0 && !block[index..].StartsWith(bad) && block.Slice(index - bad.Length, bad.Length).SequenceEqual(bad))
        {
            // The UTF-16 decoder reports an unpaired surrogate at the unit after it, where it found the pair broken.
            index -= bad.Length;
        }

        Failure = new DecodeFailure(_offset + index, bad, null);
        _done = true;
        _charEnd = 0;
        if (index <= 0)
        {
            return;
        }

        // After a line break no half character is pending, so the block's valid part decodes on its own. A block cut
        // elsewhere may start with the rest of a character begun in the previous block: that fragment (at most 3
        // bytes, never a line break) is skipped, so the line and record counts stay exact.
        int unit = _lf.Length;
        for (int skip = 0; skip < index && skip <= 3; skip += unit)
        {
            try
            {
                _charEnd = _strict.GetDecoder().GetChars(block[skip..index], _chars, flush: false);
                return;
            }
            catch (DecoderFallbackException)
            {
                Debug.Assert(!startsClean, "a block cut after a line break decodes up to its first bad byte");
            }
        }

        _charEnd = 0;
    }

    public void Dispose()
    {
        if (!_leaveOpen)
        {
            _stream.Dispose();
        }
    }

    public ValueTask DisposeAsync() => _leaveOpen ? ValueTask.CompletedTask : _stream.DisposeAsync();
}
