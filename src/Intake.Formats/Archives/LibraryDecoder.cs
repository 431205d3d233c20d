using SharpCompress.Compressors.BZip2;
using SharpCompress.Compressors.Xz;
using ZstdSharp;
using ZstdSharp.Unsafe;
using CompressionMode = SharpCompress.Compressors.CompressionMode;

namespace Intake.Formats.Archives;

/// <summary>
/// Decompresses bzip2 and xz (SharpCompress) and zstd (ZstdSharp), held to the rules <see cref="GzipDecoder"/> keeps:
/// every stream of a concatenated file is read, an input that stops early is a truncation, never a shorter file, and
/// what the libraries throw is classified once, here.
/// </summary>
/// <remarks>
/// How each library reports an input that stops early (checked on every cut point of a test file, sync and async):
/// <list type="bullet">
/// <item>bzip2: <see cref="BZip2Stream"/> created with <c>tolerateTruncatedStream: false</c> throws, though not
/// always the same way (an "ends unexpectedly" error, or a generic "BZip2 error" when the cut falls inside a block);
/// with <c>true</c> it would end silently. Which it was is decided here by whether the input had ended.</item>
/// <item>xz: <see cref="XZStream"/> throws, in several ways (a data error, a missing footer, even an argument
/// error); but it decodes only the first stream of a file and then reports the end, so the streams that
/// <c>xz</c> itself would decode after it (concatenated files, stream padding) are read here, and anything else
/// after the first stream is refused rather than dropped.</item>
/// <item>zstd: <see cref="DecompressionStream"/> ends silently inside a frame unless <c>checkEndOfStream</c> is true,
/// when it throws "Premature end of stream" (it is true here). It reads concatenated frames itself.</item>
/// </list>
/// Each library verifies its own checksums (bzip2 block and stream CRCs, xz block checks, zstd content checksums
/// when the frame has one) and throws on a mismatch: damage, an <c>integrity</c> failure.
/// </remarks>
internal sealed class LibraryDecoder : ReadOnlyStream
{
    private readonly ArchiveFormat _format;
    private readonly SourceWatch _source;
    private Stream? _decoder;
    private long _produced;
    private bool _done;

    public LibraryDecoder(Stream source, ArchiveFormat format)
    {
        if (format is not (ArchiveFormat.Bzip2 or ArchiveFormat.Xz or ArchiveFormat.Zstd))
        {
            throw new ArgumentOutOfRangeException(nameof(format), format, "Only bzip2, xz and zstd are decoded here.");
        }
        _format = format;
        _source = new SourceWatch(source);
    }

    /// <summary>Compressed bytes the library has taken so far, for the expansion ratio.</summary>
    public long CompressedBytesRead => _source.BytesRead;

    private string Name => ArchiveFormats.Describe(_format);

    public override int Read(Span<byte> buffer)
    {
        if (_done || buffer.IsEmpty)
        {
            return 0;
        }
        while (true)
        {
            int n;
            try
            {
                _decoder ??= Open();
                n = _decoder.Read(buffer);
            }
            catch (Exception e) when (IsDecoderFailure(e))
            {
                throw Classify(e);
            }
            if (n > 0)
            {
                _produced += n;
                return n;
            }
            if (!NextXzStream())
            {
                _done = true;
                return 0;
            }
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
            int n;
            try
            {
                _decoder ??= await OpenAsync(cancellationToken);
                n = await _decoder.ReadAsync(buffer, cancellationToken);
            }
            catch (Exception e) when (IsDecoderFailure(e))
            {
                throw Classify(e);
            }
            if (n > 0)
            {
                _produced += n;
                return n;
            }
            if (!await NextXzStreamAsync(cancellationToken))
            {
                _done = true;
                return 0;
            }
        }
    }

    private Stream Open() => _format switch
    {
        ArchiveFormat.Bzip2 => BZip2Stream.Create(_source, CompressionMode.Decompress, decompressConcatenated: true, leaveOpen: true, tolerateTruncatedStream: false),
        _ => OpenOther(),
    };

    private async ValueTask<Stream> OpenAsync(CancellationToken cancellationToken) => _format switch
    {
        ArchiveFormat.Bzip2 => await BZip2Stream.CreateAsync(_source, CompressionMode.Decompress, decompressConcatenated: true, leaveOpen: true, tolerateTruncatedStream: false, cancellationToken),
        _ => OpenOther(),
    };

    private Stream OpenOther() => _format == ArchiveFormat.Xz
        ? new XZStream(_source)
        : new DecompressionStream(_source, checkEndOfStream: true, leaveOpen: true);

    // ---- xz: the streams after the first ----------------------------------------------------------------------

    // After an xz stream: nothing, stream padding (zero bytes), or another stream. XZStream stops exactly at the end
    // of its stream's footer (it does not read ahead), so what follows is still in the source.
    private bool NextXzStream()
    {
        if (_format != ArchiveFormat.Xz)
        {
            return false;
        }
        Span<byte> head = stackalloc byte[6];
        int b;
        while ((b = _source.ReadByte()) == 0)
        {
        }
        if (b < 0)
        {
            return false;
        }
        head[0] = (byte)b;
        int more = _source.ReadAtLeast(head[1..], 5, throwOnEndOfStream: false);
        return StartNextXzStream(head[..(1 + more)]);
    }

    private async ValueTask<bool> NextXzStreamAsync(CancellationToken cancellationToken)
    {
        if (_format != ArchiveFormat.Xz)
        {
            return false;
        }
        var head = new byte[6];
        while (true)
        {
            int n = await _source.ReadAsync(head.AsMemory(0, 1), cancellationToken);
            if (n == 0)
            {
                return false;
            }
            if (head[0] != 0)
            {
                break;
            }
        }
        int more = await _source.ReadAtLeastAsync(head.AsMemory(1), 5, throwOnEndOfStream: false, cancellationToken);
        return StartNextXzStream(head.AsSpan(0, 1 + more));
    }

    private bool StartNextXzStream(ReadOnlySpan<byte> head)
    {
        if (!head.SequenceEqual(ArchiveFormats.XzMagic))
        {
            throw new ArchiveStructureException("unexpected data after the end of the xz data");
        }
        _source.PushBack(head);
        _decoder!.Dispose();
        _decoder = new XZStream(_source);
        return true;
    }

    // ---- failures ---------------------------------------------------------------------------------------------

    // What the source throws (an I/O error, the damage or limit of an enclosing entry) is already what it is; what
    // the library throws while decoding is classified here. Cancellation is neither.
    private bool IsDecoderFailure(Exception e) =>
        e is not OperationCanceledException && !ReferenceEquals(e, _source.Fault) && e is not Core.Errors.IntakeException;

    private Exception Classify(Exception e)
    {
        // Another stream's magic missing after a complete one: data after the end, not damage.
        bool trailing = _produced > 0 && !_source.Ended && e switch
        {
            ZstdException z => z.Code == ZSTD_ErrorCode.ZSTD_error_prefix_unknown,
            SharpCompress.Common.InvalidFormatException => _format == ArchiveFormat.Bzip2,
            _ => false,
        };
        if (trailing)
        {
            return new ArchiveStructureException($"unexpected data after the end of the {Name} data");
        }
        if (_source.Ended)
        {
            return new ArchiveTruncatedException($"the {Name} data stops before its end marker");
        }
        return new ArchiveDamageException($"the {Name} data does not decode ({e.Message.TrimEnd('.')})");
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _decoder?.Dispose();
            _decoder = null;
        }
        base.Dispose(disposing);
    }
}

/// <summary>
/// The source of a library decoder: counts what it reads, remembers whether the input ended and the exception it
/// threw itself (so that it is not mistaken for the decoder's), and takes back bytes read ahead.
/// </summary>
internal sealed class SourceWatch(Stream inner) : WrappingStream(inner, disposeInner: false)
{
    private byte[] _pushed = [];
    private int _pushedAt;

    public long BytesRead { get; private set; }

    /// <summary>A read of the input returned no byte.</summary>
    public bool Ended { get; private set; }

    public Exception? Fault { get; private set; }

    /// <summary>Bytes handed to the decoder so far: <see cref="XZStream"/> reads the position to align its blocks.</summary>
    public override long Position
    {
        get => BytesRead - (_pushed.Length - _pushedAt);
        set => throw new NotSupportedException();
    }

    public void PushBack(ReadOnlySpan<byte> bytes)
    {
        _pushed = [.. bytes, .. _pushed.AsSpan(_pushedAt)];
        _pushedAt = 0;
    }

    public override int Read(Span<byte> buffer)
    {
        if (TakePushed(buffer) is var p and > 0)
        {
            return p;
        }
        int n;
        try
        {
            n = Inner.Read(buffer);
        }
        catch (Exception e)
        {
            Fault = e;
            throw;
        }
        return Count(n, buffer.IsEmpty);
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (TakePushed(buffer.Span) is var p and > 0)
        {
            return p;
        }
        int n;
        try
        {
            n = await Inner.ReadAsync(buffer, cancellationToken);
        }
        catch (Exception e)
        {
            Fault = e;
            throw;
        }
        return Count(n, buffer.IsEmpty);
    }

    private int TakePushed(Span<byte> buffer)
    {
        int n = Math.Min(buffer.Length, _pushed.Length - _pushedAt);
        _pushed.AsSpan(_pushedAt, n).CopyTo(buffer);
        _pushedAt += n;
        return n;
    }

    private int Count(int n, bool askedForNothing)
    {
        BytesRead += n;
        if (n == 0 && !askedForNothing)
        {
            Ended = true;
        }
        return n;
    }
}
