namespace Intake.Formats.Archives;

/// <summary>
/// CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320) as used by gzip trailers. The framework has no public
/// CRC-32 (only CRC-32C) and the base library must not take a package for it. Slicing by eight: eight table lookups
/// per eight input bytes, fast enough not to show next to inflate.
/// </summary>
internal static class Crc32
{
    private static readonly uint[] Table = BuildTable();

    private static uint[] BuildTable()
    {
        var table = new uint[8 * 256];
        for (uint i = 0; i < 256; i++)
        {
            uint c = i;
            for (int k = 0; k < 8; k++)
            {
                c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            }
            table[i] = c;
        }
        for (int i = 0; i < 256; i++)
        {
            for (int t = 1; t < 8; t++)
            {
                uint prev = table[((t - 1) * 256) + i];
                table[(t * 256) + i] = (prev >> 8) ^ table[prev & 0xFF];
            }
        }
        return table;
    }

    /// <summary>Continues <paramref name="crc"/> (0 for a fresh start) over <paramref name="data"/>, like zlib's <c>crc32()</c>.</summary>
    public static uint Append(uint crc, ReadOnlySpan<byte> data)
    {
        uint[] t = Table;
        uint c = ~crc;
        while (data.Length >= 8)
        {
            uint one = System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(data) ^ c;
            uint two = System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(data[4..]);
            c = t[(7 * 256) + (one & 0xFF)] ^ t[(6 * 256) + ((one >> 8) & 0xFF)] ^
                t[(5 * 256) + ((one >> 16) & 0xFF)] ^ t[(4 * 256) + (one >> 24)] ^
                t[(3 * 256) + (two & 0xFF)] ^ t[(2 * 256) + ((two >> 8) & 0xFF)] ^
                t[256 + ((two >> 16) & 0xFF)] ^ t[two >> 24];
            data = data[8..];
        }
        foreach (byte b in data)
        {
            c = t[(c ^ b) & 0xFF] ^ (c >> 8);
        }
        return ~c;
    }
}
