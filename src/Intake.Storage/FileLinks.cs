using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Intake.Storage;

/// <summary>
/// The two ways a local file becomes a second object without copying its bytes: a reflink (FICLONE, a
/// copy-on-write clone: btrfs, xfs, bcachefs) and a hard link. Both only work inside one file system; every failure
/// (another file system, a file system that cannot clone, a source we may not link) returns false and the caller
/// copies instead. Linux only: elsewhere both answer false.
/// </summary>
internal partial class FileLinks
{
    // _IOW(0x94, 9, int): the same request number on every Linux architecture .NET runs on.
    private const nuint Ficlone = 0x40049409;

    public static FileLinks System { get; } = new();

    /// <summary>Makes the empty file open as <paramref name="target"/> a clone of <paramref name="source"/>.</summary>
    public virtual bool TryReflink(SafeFileHandle source, SafeFileHandle target)
    {
        if (!OperatingSystem.IsLinux())
        {
            return false;
        }

        return Ioctl((int)target.DangerousGetHandle(), Ficlone, (int)source.DangerousGetHandle()) == 0;
    }

    /// <summary>Gives the file at <paramref name="existing"/> a second name <paramref name="newPath"/> (which must not exist).</summary>
    public virtual bool TryHardLink(string existing, string newPath)
    {
        if (!OperatingSystem.IsLinux())
        {
            return false;
        }

        return Link(existing, newPath) == 0;
    }

    /// <summary>The file's device and inode, to tell whether two handles or paths are one file.</summary>
    public static (ulong Device, ulong Inode)? Identity(SafeFileHandle handle)
    {
        if (!OperatingSystem.IsLinux())
        {
            return null;
        }

        // struct statx: stx_ino at offset 32, stx_dev_major/minor at 136/140. statx is the one stat layout that is
        // the same on every architecture.
        Span<byte> buffer = stackalloc byte[256];
        var fd = (int)handle.DangerousGetHandle();
        if (Statx(fd, "", AtEmptyPath, StatxIno, ref MemoryMarshal.GetReference(buffer)) != 0)
        {
            return null;
        }

        var inode = BitConverter.ToUInt64(buffer[32..]);
        var major = BitConverter.ToUInt32(buffer[136..]);
        var minor = BitConverter.ToUInt32(buffer[140..]);
        return (((ulong)major << 32) | minor, inode);
    }

    /// <summary>fsync on a descriptor, whatever it was opened for (a read-only one flushes the file's data too).</summary>
    public static bool Flush(SafeFileHandle handle) =>
        !OperatingSystem.IsLinux() || Fsync((int)handle.DangerousGetHandle()) == 0;

    private const int AtEmptyPath = 0x1000;
    private const uint StatxIno = 0x100;

    [LibraryImport("libc", EntryPoint = "ioctl", SetLastError = true)]
    private static partial int Ioctl(int fd, nuint request, int argument);

    [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
    private static partial int Fsync(int fd);

    [LibraryImport("libc", EntryPoint = "link", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int Link(string existing, string newPath);

    [LibraryImport("libc", EntryPoint = "statx", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int Statx(int dirfd, string path, int flags, uint mask, ref byte buffer);
}
