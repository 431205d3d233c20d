namespace Intake.Shared.Json;

/// <summary>Finding and showing bytes that are not UTF-8, for messages that say exactly where and what they are.</summary>
internal static class Utf8Check
{
    /// <summary>The first bytes of <paramref name="text"/> that are not UTF-8: their index and how many; null when it is all UTF-8.</summary>
    public static (int Index, int Length)? FirstInvalid(ReadOnlySpan<byte> text)
    {
        if (System.Text.Unicode.Utf8.IsValid(text))
        {
            return null;
        }

        int i = 0;
        while (i < text.Length)
        {
            if (System.Text.Rune.DecodeFromUtf8(text[i..], out _, out int consumed) != System.Buffers.OperationStatus.Done)
            {
                return (i, Math.Max(consumed, 1));
            }

            i += consumed;
        }

        return null;
    }

    /// <summary>Bytes for a message: <c>byte 0xFF is</c>, <c>bytes 0xC3 0x28 are</c>.</summary>
    public static string Describe(ReadOnlySpan<byte> bytes)
    {
        var text = new System.Text.StringBuilder(bytes.Length == 1 ? "byte" : "bytes");
        foreach (var b in bytes)
        {
            text.Append(" 0x").Append(b.ToString("X2", System.Globalization.CultureInfo.InvariantCulture));
        }

        return text.Append(bytes.Length == 1 ? " is" : " are").ToString();
    }
}
