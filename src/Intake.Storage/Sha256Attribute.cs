using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Intake.Storage;

/// <summary>What an attempt to keep a record in the object's own extended attribute found.</summary>
internal enum AttributeWrite
{
    Written,

    /// <summary>Not this file (no permission, no space for attributes): another file may take one.</summary>
    Refused,

    /// <summary>The file system keeps no user attributes (ENOTSUP): no file in this store will.</summary>
    Unsupported,
}

/// <summary>
/// The SHA-256 record of a local object (the same three facts as <see cref="Sha256Sidecar"/>: hash, size, last-write
/// time) in the extended attribute <c>user.intake.sha256</c> of the object itself. Set on the temp file before its
/// fsync and rename, it appears with the object in one step and costs no file, rename or folder flush of its own; a
/// hard link shares it with the inode, which is right because a hard link shares the bytes too.
/// </summary>
/// <remarks>
/// Binary, 48 bytes: SHA-256 (32), size (8), last write in UTC ticks (8), little-endian. Small on purpose: ext4 keeps
/// an attribute inside a 256-byte inode only while name and value fit in about 90 bytes; the sidecar's 90-character
/// text line took a 4 KiB block of its own per object (measured: st_blocks 0 for 48 bytes, 8 for 90).
/// Linux only: elsewhere every write is unsupported and every read finds nothing, and the store keeps sidecars.
/// </remarks>
internal partial class Sha256Attribute
{
    public const string Name = "user.intake.sha256";

    private const int Length = 48;

    // errno: EOPNOTSUPP (= ENOTSUP on Linux), the same on every architecture .NET runs on.
    private const int Eopnotsupp = 95;

    public static Sha256Attribute System { get; } = new();

    /// <summary>Records <paramref name="record"/> in the file open as <paramref name="file"/>.</summary>
    public virtual AttributeWrite TryWrite(SafeFileHandle file, Sha256Sidecar record)
    {
        if (!OperatingSystem.IsLinux())
        {
            return AttributeWrite.Unsupported;
        }

        Span<byte> value = stackalloc byte[Length];
        if (Convert.FromHexString(record.Sha256, value[..32], out _, out var written) != OperationStatus.Done || written != 32)
        {
            throw new ArgumentException("not a SHA-256 in hex", nameof(record));
        }

        BinaryPrimitives.WriteInt64LittleEndian(value[32..], record.Size);
        BinaryPrimitives.WriteInt64LittleEndian(value[40..], record.LastWriteTicks);
        if (FSetXattr((int)file.DangerousGetHandle(), Name, ref MemoryMarshal.GetReference(value), Length, 0) == 0)
        {
            return AttributeWrite.Written;
        }

        return Marshal.GetLastPInvokeError() == Eopnotsupp ? AttributeWrite.Unsupported : AttributeWrite.Refused;
    }

    /// <summary>The record kept in the file at <paramref name="path"/>; null when there is none (or not ours).</summary>
    public virtual Sha256Sidecar? TryRead(string path)
    {
        if (!OperatingSystem.IsLinux())
        {
            return null;
        }

        Span<byte> value = stackalloc byte[Length + 1];
        return Parse(value, GetXattr(path, Name, ref MemoryMarshal.GetReference(value), value.Length));
    }

    /// <summary>The record kept in the file open as <paramref name="file"/>; null when there is none.</summary>
    public virtual Sha256Sidecar? TryRead(SafeFileHandle file)
    {
        if (!OperatingSystem.IsLinux())
        {
            return null;
        }

        Span<byte> value = stackalloc byte[Length + 1];
        return Parse(value, FGetXattr((int)file.DangerousGetHandle(), Name, ref MemoryMarshal.GetReference(value), value.Length));
    }

    private static Sha256Sidecar? Parse(ReadOnlySpan<byte> value, nint length)
    {
        // -1: no attribute (ENODATA), none possible (ENOTSUP), no file; another length: not a value we wrote.
        if (length != Length)
        {
            return null;
        }

        var size = BinaryPrimitives.ReadInt64LittleEndian(value[32..]);
        var ticks = BinaryPrimitives.ReadInt64LittleEndian(value[40..]);
        return size < 0 ? null : new Sha256Sidecar(Convert.ToHexStringLower(value[..32]), size, ticks);
    }

    [LibraryImport("libc", EntryPoint = "fsetxattr", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int FSetXattr(int fd, string name, ref byte value, nint size, int flags);

    [LibraryImport("libc", EntryPoint = "getxattr", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial nint GetXattr(string path, string name, ref byte value, nint size);

    [LibraryImport("libc", EntryPoint = "fgetxattr", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial nint FGetXattr(int fd, string name, ref byte value, nint size);
}
