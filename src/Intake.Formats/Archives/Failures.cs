using System.Formats.Tar;
using Intake.Core.Errors;

namespace Intake.Formats.Archives;

/// <summary>
/// The bytes disagree with themselves or with what was declared: a truncation, a checksum that does not match, a size
/// other than the header's, compressed data that no longer decodes. Damage in transit or storage: sending the file
/// again is the cure. Becomes an <c>integrity</c> failure.
/// </summary>
internal sealed class ArchiveDamageException(string message) : Exception(message);

/// <summary>
/// The input stops before the container says it ends: a truncation, said in words of the archive rather than the
/// framework's "unable to read beyond the end of the stream". Becomes an <c>integrity</c> failure.
/// </summary>
internal sealed class ArchiveTruncatedException(string message) : EndOfStreamException(message);

/// <summary>
/// Not the container it claims to be, or built wrongly: a header that does not parse, data after the end, an entry
/// type or method that is not supported, two entries with one name. The sender has to produce it differently.
/// Becomes a <c>format</c> failure.
/// </summary>
/// <remarks>
/// Neither this nor <see cref="ArchiveDamageException"/> is an <see cref="IOException"/>: should one ever escape
/// untranslated, a classifier must not take it for a transient I/O failure and retry.
/// </remarks>
internal sealed class ArchiveStructureException(string message) : Exception(message);

/// <summary>The expander's translation of what it catches into <see cref="IntakeException"/>, in one place.</summary>
/// <remarks>
/// The rule (docs/formats.md): <c>integrity</c> when the bytes disagree with themselves or with what was declared
/// (truncated, checksum or size mismatch, compressed data that does not decode), <c>format</c> when the input is not
/// the container it claims or is structurally invalid. A reader's exception is classified where its layer is known:
/// structure readers (zip directory, tar headers) turn theirs into <see cref="ArchiveStructureException"/> or
/// <see cref="ArchiveDamageException"/> on the spot; whatever else a decoder throws while producing data is damage.
/// </remarks>
internal static class Failures
{
    /// <summary>
    /// What the readers throw on bad bytes: zip and deflate raise <see cref="InvalidDataException"/>, the decoders
    /// here this file's two exceptions, tar raises it or <see cref="FormatException"/>, and any of them raises
    /// <see cref="EndOfStreamException"/> when the data stops early. Plain I/O failures are not corruption and are
    /// left to the caller.
    /// </summary>
    public static bool IsCorruption(Exception e) =>
        e is InvalidDataException or EndOfStreamException or FormatException or ArchiveDamageException or ArchiveStructureException;

    public static IntakeException Corrupt(string archiveName, string entryName, Exception e)
    {
        string where = entryName.Length == 0 || entryName == EntryNames.FileName(archiveName) ? archiveName : $"{archiveName}, entry '{Printable(entryName)}'";
        switch (e)
        {
            case ArchiveStructureException:
                return IntakeException.Format($"{where}: the archive is not valid: {e.Message}", e);
            case EndOfStreamException:
                // The framework's own wording ("unable to read beyond the end of the stream") says nothing about an archive.
                string reason = e is ArchiveTruncatedException ? e.Message : "the data stops in the middle of an entry or a header";
                return new IntakeException(ErrorKind.Integrity, $"{where}: the archive is truncated: {reason}; it was probably cut short in transfer, send it again", e);
            default:
                return new IntakeException(ErrorKind.Integrity, $"{where}: the archive is damaged: {e.Message}; send it again", e);
        }
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
