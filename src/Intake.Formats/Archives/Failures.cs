using System.Formats.Tar;
using Intake.Core.Errors;

namespace Intake.Formats.Archives;

/// <summary>The expander's translation of what it catches into <see cref="IntakeException"/>, in one place.</summary>
internal static class Failures
{
    /// <summary>
    /// What the framework's readers throw on bad bytes: zip and gzip raise <see cref="InvalidDataException"/>, tar
    /// raises it or <see cref="FormatException"/>, and any of them raises <see cref="EndOfStreamException"/> when the
    /// data stops early. Plain I/O failures are not corruption and are left to the caller.
    /// </summary>
    public static bool IsCorruption(Exception e) =>
        e is InvalidDataException or EndOfStreamException or FormatException;

    public static IntakeException Corrupt(string archiveName, string entryName, Exception e)
    {
        string what = e is EndOfStreamException ? "truncated" : "corrupt";
        string where = entryName.Length == 0 || entryName == EntryNames.FileName(archiveName) ? archiveName : $"{archiveName}, entry '{Printable(entryName)}'";
        return IntakeException.Format($"{where}: the archive is {what}: {e.Message}", e);
    }

    public static IntakeException Location(string archiveName, string entryName, string reason) =>
        IntakeException.Security($"{archiveName}: entry '{Printable(entryName)}' {reason}; nothing was extracted from it");

    public static string Describe(TarEntryType type) => type switch
    {
        TarEntryType.SymbolicLink => "a symbolic link",
        TarEntryType.HardLink => "a hard link",
        TarEntryType.CharacterDevice => "a character device",
        TarEntryType.BlockDevice => "a block device",
        TarEntryType.Fifo => "a named pipe",
        _ => $"a '{type}' entry",
    };

    /// <summary>Entry names come from the archive: keep control characters out of messages and logs.</summary>
    public static string Printable(string name)
    {
        if (!name.AsSpan().ContainsAnyInRange('\0', '\u001f'))
        {
            return name;
        }
        return string.Create(name.Length, name, static (span, source) =>
        {
            for (int i = 0; i < source.Length; i++)
            {
                span[i] = source[i] < ' ' ? '?' : source[i];
            }
        });
    }

    public static async Task<T> GuardAsync<T>(Func<Task<T>> operation, string archiveName, string entryName)
    {
        try
        {
            return await operation();
        }
        catch (Exception e) when (IsCorruption(e))
        {
            throw Corrupt(archiveName, entryName, e);
        }
    }

    public static async ValueTask<T> GuardAsync<T>(Func<ValueTask<T>> operation, string archiveName, string entryName)
    {
        try
        {
            return await operation();
        }
        catch (Exception e) when (IsCorruption(e))
        {
            throw Corrupt(archiveName, entryName, e);
        }
    }

    public static async Task GuardAsync(Func<Task> operation, string archiveName, string entryName)
    {
        try
        {
            await operation();
        }
        catch (Exception e) when (IsCorruption(e))
        {
            throw Corrupt(archiveName, entryName, e);
        }
    }
}
