using System.Globalization;

namespace Intake.Storage;

/// <summary>
/// The SHA-256 of a local object, kept in the object's own extended attribute (<see cref="Sha256Attribute"/>) or,
/// where the file system keeps none and in stores written before those, in a small file beside it under
/// <c>.meta</c>, so <c>StatAsync</c> and <c>ListAsync</c> never re-read the object. The sidecar records the object's size and last-write time too: it is
/// trusted only while both still match the object, so a sidecar left stale by a crash between the two
/// renames, by two racing writers, or by someone editing the file by hand is detected and ignored.
/// </summary>
/// <remarks>Sidecar format: one line, <c>&lt;sha256 hex&gt; &lt;size&gt; &lt;last write, UTC ticks&gt;</c>.</remarks>
internal readonly record struct Sha256Sidecar(string Sha256, long Size, long LastWriteTicks)
{
    public string Format() => string.Create(CultureInfo.InvariantCulture, $"{Sha256} {Size} {LastWriteTicks}\n");

    public bool Matches(FileInfo file) => Matches(file.Length, file.LastWriteTimeUtc);

    public bool Matches(long size, DateTime lastWriteUtc) => size == Size && lastWriteUtc.Ticks == LastWriteTicks;

    public static Sha256Sidecar? TryParse(string text)
    {
        var parts = text.TrimEnd('\n').Split(' ');
        if (parts.Length != 3 || parts[0].Length != 64 || !parts[0].All(char.IsAsciiHexDigitLower))
        {
            return null;
        }

        if (!long.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var size) ||
            !long.TryParse(parts[2], NumberStyles.None, CultureInfo.InvariantCulture, out var ticks))
        {
            return null;
        }

        return new Sha256Sidecar(parts[0], size, ticks);
    }

    /// <summary>Reads the sidecar at <paramref name="path"/>; null when it is absent or unreadable (it is only a cache).</summary>
    public static Sha256Sidecar? TryRead(string path)
    {
        try
        {
            // A sidecar is under 100 bytes; a bigger file at that path is not ours.
            var info = new FileInfo(path);
            return info.Exists && info.Length < 256 ? TryParse(File.ReadAllText(path)) : null;
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }
}
