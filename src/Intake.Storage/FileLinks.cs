using System.Globalization;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Intake.Storage;

/// <summary>What a reflink attempt found: done, refused for these two files, or impossible on this file system.</summary>
internal enum CloneResult
{
    Cloned,

    /// <summary>Not these files (another file system, a source that is not a regular file): another pair may clone.</summary>
    Refused,

    /// <summary>The file system cannot clone at all (EOPNOTSUPP: ext4, tmpfs): no file in this store will.</summary>
    Unsupported,
}

/// <summary>
/// The two ways a local file becomes a second object without copying its bytes: a reflink (FICLONE, a
/// copy-on-write clone: btrfs, xfs, bcachefs) and a hard link. Both only work inside one file system; every failure
/// (another file system, a file system that cannot clone, a source we may not link) is reported and the caller
/// copies instead. Linux only: elsewhere both fail.
/// </summary>
internal partial class FileLinks
{
    // _IOW(0x94, 9, int): the same request number on every Linux architecture .NET runs on.
    private const nuint Ficlone = 0x40049409;

    // errno values shared by every Linux architecture .NET runs on (x64, arm64, arm).
    private const int Enoent = 2;
    private const int Enotty = 25;
    private const int Eopnotsupp = 95;

    public static FileLinks System { get; } = new();

    /// <summary>Makes the empty file open as <paramref name="target"/> a clone of <paramref name="source"/>.</summary>
    public virtual CloneResult TryReflink(SafeFileHandle source, SafeFileHandle target)
    {
        if (!OperatingSystem.IsLinux())
        {
            return CloneResult.Unsupported;
        }

        if (Ioctl((int)target.DangerousGetHandle(), Ficlone, (int)source.DangerousGetHandle()) == 0)
        {
            return CloneResult.Cloned;
        }

        // EXDEV (another file system) is checked before the file system's support, so EOPNOTSUPP speaks of the store's
        // own file system (the clone's target always lives in its .tmp), not of where the source happens to be.
        return Marshal.GetLastPInvokeError() is Eopnotsupp or Enotty ? CloneResult.Unsupported : CloneResult.Refused;
    }

    /// <summary>
    /// Gives the file open as <paramref name="source"/> a second name <paramref name="newPath"/>, which must not exist.
    /// True only when the new name is that very file: a file put under its old name since it was opened is never linked.
    /// </summary>
    /// <param name="sourcePath">
    /// The name it was opened by, to link by name (then checked) where the descriptor cannot be linked (no /proc);
    /// null: by the descriptor only, so that no other file can appear under <paramref name="newPath"/> even briefly.
    /// </param>
    public virtual bool TryHardLink(SafeFileHandle source, string? sourcePath, string newPath)
    {
        if (!OperatingSystem.IsLinux())
        {
            return false;
        }

        // Through the descriptor's own /proc entry, the link is of the opened file whatever its name now points at, and
        // needs no check afterwards (open + statx + close saved per link). Without /proc: by name, then checked.
        var descriptor = "/proc/self/fd/" + ((int)source.DangerousGetHandle()).ToString(CultureInfo.InvariantCulture);
        if (LinkAt(AtFdCwd, descriptor, AtFdCwd, newPath, AtSymlinkFollow) == 0)
        {
            return true;
        }

        if (sourcePath is null || Marshal.GetLastPInvokeError() != Enoent || Directory.Exists("/proc/self/fd") || Link(sourcePath, newPath) != 0)
        {
            return false;
        }

        try
        {
            using var linked = File.OpenHandle(newPath);
            if (Identity(linked) is { } id && id == Identity(source))
            {
                return true;
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // Gone or unreadable: not provably ours.
        }

        File.Delete(newPath);
        return false;
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

    /// <summary>
    /// Size, last write (as <see cref="FileInfo.LastWriteTimeUtc"/> has it, to the tick) and mode of an open file in one
    /// statx; elsewhere than Linux, the runtime's calls.
    /// </summary>
    public static (long Size, DateTime LastWriteUtc, UnixFileMode Mode) Status(SafeFileHandle handle)
    {
        if (!OperatingSystem.IsLinux())
        {
            return (RandomAccess.GetLength(handle), File.GetLastWriteTimeUtc(handle), OperatingSystem.IsWindows() ? default : File.GetUnixFileMode(handle));
        }

        // struct statx: stx_mode at offset 28, stx_size at 40, stx_mtime (seconds, then nanoseconds) at 112.
        Span<byte> buffer = stackalloc byte[256];
        if (Statx((int)handle.DangerousGetHandle(), "", AtEmptyPath, StatxMode | StatxSize | StatxMtime, ref MemoryMarshal.GetReference(buffer)) != 0)
        {
            throw new IOException($"cannot stat {handle.DangerousGetHandle()}: errno {Marshal.GetLastPInvokeError()}");
        }

        var mode = (UnixFileMode)(BitConverter.ToUInt16(buffer[28..]) & 0xFFF);
        var size = BitConverter.ToInt64(buffer[40..]);
        var seconds = BitConverter.ToInt64(buffer[112..]);
        var nanoseconds = BitConverter.ToUInt32(buffer[120..]);
        // The runtime's own conversion (FileStatus): whole ticks, the nanoseconds below a tick dropped.
        var lastWrite = DateTime.UnixEpoch.AddTicks((seconds * TimeSpan.TicksPerSecond) + (nanoseconds / 100));
        return (size, lastWrite, mode);
    }

    /// <summary>fsync on a descriptor, whatever it was opened for (a read-only one flushes the file's data too).</summary>
    public static bool Flush(SafeFileHandle handle) =>
        !OperatingSystem.IsLinux() || Fsync((int)handle.DangerousGetHandle()) == 0;

    private const int AtFdCwd = -100;
    private const int AtSymlinkFollow = 0x400;
    private const int AtEmptyPath = 0x1000;
    private const uint StatxMode = 0x2;
    private const uint StatxMtime = 0x40;
    private const uint StatxIno = 0x100;
    private const uint StatxSize = 0x200;

    [LibraryImport("libc", EntryPoint = "ioctl", SetLastError = true)]
    private static partial int Ioctl(int fd, nuint request, int argument);

    [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
    private static partial int Fsync(int fd);

    [LibraryImport("libc", EntryPoint = "link", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int Link(string existing, string newPath);

    [LibraryImport("libc", EntryPoint = "linkat", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int LinkAt(int oldDirectory, string oldPath, int newDirectory, string newPath, int flags);

    [LibraryImport("libc", EntryPoint = "statx", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int Statx(int dirfd, string path, int flags, uint mask, ref byte buffer);
}
