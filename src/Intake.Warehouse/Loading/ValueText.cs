using System.Text;

namespace Intake.Warehouse.Loading;

/// <summary>How a source value appears in an error message: short, on one line.</summary>
internal static class ValueText
{
    // Enough to recognise the value in the file; a whole JSON document in a step record helps nobody.
    public const int MaxLength = 50;

    public static string Truncate(string value)
    {
        var cut = value.Length > MaxLength;
        var span = cut ? value.AsSpan(0, MaxLength) : value.AsSpan();
        var sb = new StringBuilder(span.Length + 4);
        foreach (var c in span)
        {
            _ = c switch
            {
                '\r' => sb.Append("\\r"),
                '\n' => sb.Append("\\n"),
                '\t' => sb.Append("\\t"),
                < ' ' => sb.Append('?'),
                _ => sb.Append(c),
            };
        }

        return cut ? sb.Append('…').ToString() : sb.ToString();
    }
}
