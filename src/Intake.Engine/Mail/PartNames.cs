using System.Globalization;
using System.Text;

namespace Intake.Engine.Mail;

/// <summary>
/// File names for the parts of a message, one folder at a time. A name in a message is the sender's to choose, so it
/// is turned into one plain file name that stays inside its folder on every system the files may be copied to: only
/// its last path segment is kept (<c>../../x</c>, <c>/etc/passwd</c> and <c>C:\a\x</c> become <c>x</c>, <c>passwd</c>
/// and <c>x</c>), characters that are invisible or that Windows refuses become <c>_</c>, a leading dot gets a <c>_</c>
/// in front (no hidden files), a Windows device name (<c>CON</c>, <c>NUL</c>, <c>COM1</c>…) gets one too, and long
/// names are shortened to <see cref="MaxBytes"/> bytes keeping their extension. Two parts whose names are equal,
/// ignoring case (as macOS and Windows compare them), are told apart as <c>name (2).csv</c>. Names are not normalised
/// (see <see cref="Clean"/>): the same name spelt composed and decomposed gives two files, never one over the other.
/// </summary>
public sealed class PartNames
{
    /// <summary>
    /// The longest name in UTF-8 bytes: file systems take 255, and a collision's <c> (NN)</c> and the store's own
    /// temporary suffixes need room beside it.
    /// </summary>
    public const int MaxBytes = 200;

    // An extension longer than this is more likely a sentence after a dot than a type: it is not kept whole when shortening.
    private const int MaxExtensionBytes = 32;

    private static readonly string[] DeviceNames =
    [
        "CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$",
        "COM0", "COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7", "COM8", "COM9", "COM¹", "COM²", "COM³",
        "LPT0", "LPT1", "LPT2", "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9", "LPT¹", "LPT²", "LPT³",
    ];

    private readonly HashSet<string> _taken = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>
    /// A unique safe name in this folder for a part named <paramref name="name"/> by the sender (null when it has
    /// none), or <paramref name="generated"/> when nothing usable is left of the sender's name.
    /// </summary>
    public string Claim(string? name, string generated)
    {
        ArgumentNullException.ThrowIfNull(generated);
        var safe = Clean(name) ?? Clean(generated) ?? "part";
        if (_taken.Add(safe))
        {
            return safe;
        }

        var (stem, extension) = Split(safe);
        for (var n = 2; ; n++)
        {
            var suffix = $" ({n.ToString(CultureInfo.InvariantCulture)})";
            var candidate = Shorten(stem, MaxBytes - Encoding.UTF8.GetByteCount(extension) - suffix.Length) + suffix + extension;
            if (_taken.Add(candidate))
            {
                return candidate;
            }
        }
    }

    /// <summary>
    /// The sender's name made safe as one file name (see the class), or null when nothing usable is left: no name,
    /// only dots, only characters that had to be replaced.
    /// </summary>
    public static string? Clean(string? name)
    {
        if (string.IsNullOrWhiteSpace(name))
        {
            return null;
        }

        // Only the last segment: mail programs on Windows send whole paths, and '..' must never climb out.
        var last = name.Replace('\\', '/');
        last = last[(last.LastIndexOf('/') + 1)..];

        var text = new StringBuilder(last.Length);
        var kept = 0;
        foreach (var rune in EnumerateRunes(last))
        {
            var replaced = Replace(rune);
            if (replaced is { } r)
            {
                text.Append(r);
            }
            else
            {
                text.Append(rune.ToString());
                kept += rune.Value is '.' or ' ' ? 0 : 1;
            }
        }

        if (kept == 0)
        {
            return null;
        }

        // Not normalised to NFC: Intake runs with invariant globalization, where the base library does not compose.
        // A name sent decomposed ("e" + U+0301) stays so; it differs from the composed one, so both files are kept.
        var clean = text.ToString();

        // Windows drops trailing dots and spaces, so "a.csv." would silently become "a.csv" there.
        clean = clean.Trim(' ').TrimEnd('.', ' ');
        if (clean.Length == 0)
        {
            return null;
        }

        if (clean[0] == '.')
        {
            clean = "_" + clean;
        }

        var device = clean.Split('.')[0].TrimEnd(' ');
        if (DeviceNames.Contains(device, StringComparer.OrdinalIgnoreCase))
        {
            clean = "_" + clean;
        }

        return Fit(clean);
    }

    /// <summary>The name at most <see cref="MaxBytes"/> bytes long, its extension kept when it is a short one.</summary>
    private static string Fit(string name)
    {
        if (Encoding.UTF8.GetByteCount(name) <= MaxBytes)
        {
            return name;
        }

        var (stem, extension) = Split(name);
        if (Encoding.UTF8.GetByteCount(extension) > MaxExtensionBytes)
        {
            return Shorten(name, MaxBytes);
        }

        return Shorten(stem, MaxBytes - Encoding.UTF8.GetByteCount(extension)) + extension;
    }

    /// <summary>The longest start of <paramref name="text"/> of at most <paramref name="maxBytes"/> bytes that ends between two whole characters.</summary>
    private static string Shorten(string text, int maxBytes)
    {
        if (Encoding.UTF8.GetByteCount(text) <= maxBytes)
        {
            return text;
        }

        var result = new StringBuilder();
        var bytes = 0;
        var elements = StringInfo.GetTextElementEnumerator(text);
        while (elements.MoveNext())
        {
            var element = elements.GetTextElement();
            var size = Encoding.UTF8.GetByteCount(element);
            if (bytes + size > maxBytes)
            {
                break;
            }

            result.Append(element);
            bytes += size;
        }

        return result.ToString().TrimEnd('.', ' ');
    }

    /// <summary>The name and its extension (with its dot); no extension when the only dot starts the name.</summary>
    private static (string Stem, string Extension) Split(string name)
    {
        var dot = name.LastIndexOf('.');
        return dot <= 0 ? (name, "") : (name[..dot], name[dot..]);
    }

    private static IEnumerable<Rune> EnumerateRunes(string text)
    {
        for (var i = 0; i < text.Length;)
        {
            if (Rune.TryGetRuneAt(text, i, out var rune))
            {
                yield return rune;
                i += rune.Utf16SequenceLength;
            }
            else
            {
                yield return Rune.ReplacementChar; // a lone surrogate: not a character at all
                i++;
            }
        }
    }

    /// <summary>What a character becomes in a file name, or null when it stays.</summary>
    private static char? Replace(Rune rune)
    {
        if (rune == Rune.ReplacementChar)
        {
            return '_';
        }

        if (rune.Value < 0x80)
        {
            return rune.Value switch
            {
                < 0x20 or 0x7F => '_',
                '<' or '>' or ':' or '"' or '|' or '?' or '*' => '_',
                _ => null,
            };
        }

        return Rune.GetUnicodeCategory(rune) switch
        {
            // Control and format characters (the bidirectional overrides that make "exe.pdf" look like "fdp.exe",
            // zero-width joiners), line and paragraph separators, private and unassigned code points: unseen or unsure.
            UnicodeCategory.Control or UnicodeCategory.Format or UnicodeCategory.LineSeparator
                or UnicodeCategory.ParagraphSeparator or UnicodeCategory.Surrogate
                or UnicodeCategory.PrivateUse or UnicodeCategory.OtherNotAssigned => '_',
            UnicodeCategory.SpaceSeparator => ' ',
            _ => null,
        };
    }
}
