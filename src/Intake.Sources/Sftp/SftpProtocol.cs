using System.Buffers;
using System.Buffers.Binary;
using System.Text;

namespace Intake.Sources.Sftp;

/// <summary>
/// The subset of SFTP version 3 (draft-ietf-secsh-filexfer-02, what OpenSSH's sftp-server and
/// internal-sftp speak, and what every server still supports) that reading files needs.
/// </summary>
internal static class SftpProtocol
{
    public const uint Version = 3;

    public const byte Init = 1;
    public const byte VersionReply = 2;
    public const byte Open = 3;
    public const byte Close = 4;
    public const byte Read = 5;
    public const byte Lstat = 7;
    public const byte Fstat = 8;
    public const byte OpenDir = 11;
    public const byte ReadDir = 12;

    public const byte Status = 101;
    public const byte Handle = 102;
    public const byte Data = 103;
    public const byte Name = 104;
    public const byte Attrs = 105;

    public const uint OpenRead = 0x1;

    public const uint AttrSize = 0x1;
    public const uint AttrUidGid = 0x2;
    public const uint AttrPermissions = 0x4;
    public const uint AttrTimes = 0x8;
    public const uint AttrExtended = 0x80000000;

    /// <summary>
    /// The largest reply accepted. OpenSSH caps its messages at 256 KiB; a length far above that means
    /// the bytes are not SFTP at all (typically a login script on the server printing text).
    /// </summary>
    public const int MaxPacketLength = 1024 * 1024;

    /// <summary>Names are UTF-8 on every current server; bytes that are not valid UTF-8 cannot become keys.</summary>
    public static readonly UTF8Encoding Utf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);
}

/// <summary>SFTP v3 status codes.</summary>
internal enum SftpStatus : uint
{
    Ok = 0,
    Eof = 1,
    NoSuchFile = 2,
    PermissionDenied = 3,
    Failure = 4,
    BadMessage = 5,
    NoConnection = 6,
    ConnectionLost = 7,
    OperationUnsupported = 8,
}

/// <summary>The attributes a server reports for a file; absent fields are null.</summary>
internal readonly record struct SftpAttributes(long? Size, uint? Permissions, long? ModifiedUnixSeconds)
{
    private const uint TypeMask = 0xF000; // S_IFMT
    private const uint RegularFile = 0x8000;
    private const uint DirectoryType = 0x4000;
    private const uint SymbolicLink = 0xA000;

    public bool IsRegularFile => (Permissions & TypeMask) == RegularFile;

    public bool IsDirectory => (Permissions & TypeMask) == DirectoryType;

    public bool IsSymbolicLink => (Permissions & TypeMask) == SymbolicLink;
}

/// <summary>A malformed reply: the bytes on the channel are not the SFTP the client expects.</summary>
internal sealed class SftpProtocolException(string message) : Exception(message)
{
    public SftpProtocolException() : this("malformed SFTP reply") { }

    public SftpProtocolException(string message, Exception inner) : this(message + ": " + inner.Message) { }
}

/// <summary>
/// Builds outgoing packets into one growing buffer, so several requests (pipelined reads) go to the
/// server in a single write.
/// </summary>
internal sealed class SftpPacketWriter
{
    private byte[] _buffer = new byte[4096];
    private int _length;
    private int _packetStart = -1;

    public ReadOnlyMemory<byte> Pending => _buffer.AsMemory(0, _length);

    public void Clear() => _length = 0;

    /// <summary>Starts a packet: length placeholder, type, and the request id unless it is INIT.</summary>
    public void Begin(byte type, uint? id)
    {
        _packetStart = _length;
        UInt32(0);
        Byte(type);
        if (id is { } value)
        {
            UInt32(value);
        }
    }

    /// <summary>Fills in the length of the packet started by <see cref="Begin"/>.</summary>
    public void End()
    {
        BinaryPrimitives.WriteUInt32BigEndian(_buffer.AsSpan(_packetStart), (uint)(_length - _packetStart - 4));
        _packetStart = -1;
    }

    public void Byte(byte value) => Reserve(1)[0] = value;

    public void UInt32(uint value) => BinaryPrimitives.WriteUInt32BigEndian(Reserve(4), value);

    public void UInt64(ulong value) => BinaryPrimitives.WriteUInt64BigEndian(Reserve(8), value);

    public void String(ReadOnlySpan<byte> value)
    {
        UInt32((uint)value.Length);
        value.CopyTo(Reserve(value.Length));
    }

    public void String(string value)
    {
        var bytes = SftpProtocol.Utf8.GetBytes(value);
        String(bytes);
    }

    private Span<byte> Reserve(int count)
    {
        if (_length + count > _buffer.Length)
        {
            Array.Resize(ref _buffer, Math.Max(_buffer.Length * 2, _length + count));
        }

        var span = _buffer.AsSpan(_length, count);
        _length += count;
        return span;
    }
}

/// <summary>
/// One reply from the server. Its body sits in a pooled buffer that <see cref="Dispose"/> returns, so a
/// download of any size reuses the same few buffers. For DATA replies the body is the file bytes only.
/// </summary>
internal sealed class SftpResponse : IDisposable
{
    private byte[]? _buffer;
    private readonly int _length;
    private int _position;

    public SftpResponse(byte type, uint id, byte[] buffer, int length)
    {
        Type = type;
        Id = id;
        _buffer = buffer;
        _length = length;
    }

    public byte Type { get; }

    public uint Id { get; }

    /// <summary>The file bytes of a DATA reply.</summary>
    public ReadOnlyMemory<byte> Data => Buffer.AsMemory(0, _length);

    private byte[] Buffer => _buffer ?? throw new ObjectDisposedException(nameof(SftpResponse));

    public uint UInt32()
    {
        var value = BinaryPrimitives.ReadUInt32BigEndian(Take(4));
        return value;
    }

    public ulong UInt64() => BinaryPrimitives.ReadUInt64BigEndian(Take(8));

    public byte[] Bytes()
    {
        var length = UInt32();
        if (length > _length - _position)
        {
            throw new SftpProtocolException($"a string of {length} bytes does not fit in a reply of {_length}");
        }

        return Take((int)length).ToArray();
    }

    /// <summary>A string field as UTF-8, or null when its bytes are not valid UTF-8.</summary>
    public string? Utf8String()
    {
        var bytes = Bytes();
        try
        {
            return SftpProtocol.Utf8.GetString(bytes);
        }
        catch (DecoderFallbackException)
        {
            return null;
        }
    }

    /// <summary>A string field decoded leniently, for human-readable messages.</summary>
    public string Text() => Encoding.UTF8.GetString(Bytes());

    public SftpAttributes Attributes()
    {
        var flags = UInt32();
        long? size = null;
        uint? permissions = null;
        long? modified = null;
        if ((flags & SftpProtocol.AttrSize) != 0)
        {
            size = checked((long)UInt64());
        }

        if ((flags & SftpProtocol.AttrUidGid) != 0)
        {
            Take(8);
        }

        if ((flags & SftpProtocol.AttrPermissions) != 0)
        {
            permissions = UInt32();
        }

        if ((flags & SftpProtocol.AttrTimes) != 0)
        {
            Take(4); // atime
            modified = UInt32(); // v3 times are unsigned 32-bit seconds: valid until 2106
        }

        if ((flags & SftpProtocol.AttrExtended) != 0)
        {
            var count = UInt32();
            for (var i = 0; i < count; i++)
            {
                Bytes();
                Bytes();
            }
        }

        return new SftpAttributes(size, permissions, modified);
    }

    public void Dispose()
    {
        var buffer = Interlocked.Exchange(ref _buffer, null);
        if (buffer is not null && buffer.Length > 0)
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private ReadOnlySpan<byte> Take(int count)
    {
        if (count > _length - _position)
        {
            throw new SftpProtocolException($"reply of type {Type} ends early");
        }

        var span = Buffer.AsSpan(_position, count);
        _position += count;
        return span;
    }
}
