using System.Runtime.InteropServices;

namespace Intake.Shared.IO;

/// <summary>
/// Makes a directory's entries durable (fsync on the directory itself), so that a rename that made an
/// object visible survives a power cut. .NET cannot open a directory as a <see cref="FileStream"/>, so
/// on Linux this calls <c>open(O_RDONLY)</c> + <c>fsync</c> + <c>close</c> directly. Elsewhere it does
/// nothing: Windows has no directory fsync (NTFS journals renames), and macOS needs F_FULLFSYNC, which
/// is out of scope for a development platform. One source file compiled into every project that renames
/// files into place (the local store, the local source's file drop, the stream spool of the engine).
/// </summary>
/// <remarks>
/// Best effort by design: some file systems answer EINVAL to a directory fsync, and the object itself is
/// already fsynced before the rename, so a failure here only widens the window in which a crash can lose
/// the newest rename. It never produces a partial object.
/// </remarks>
internal static partial class DirectorySync
{
    // O_RDONLY is 0 everywhere; O_CLOEXEC is 02000000 (octal) on every Linux architecture .NET runs on
    // (x64, arm64, arm, x86, riscv64, loongarch64), so a child process never inherits the descriptor.
    private const int OpenReadOnlyCloseOnExec = 0x80000;

    public static void Flush(string directory)
    {
        if (!OperatingSystem.IsLinux())
        {
            return;
        }

        var fd = Open(directory, OpenReadOnlyCloseOnExec);
        if (fd < 0)
        {
            return;
        }

        try
        {
            _ = Fsync(fd);
        }
        finally
        {
            _ = Close(fd);
        }
    }

    [LibraryImport("libc", EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
    private static partial int Fsync(int fd);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    private static partial int Close(int fd);
}
