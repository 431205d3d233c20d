using System.Text;
using System.Text.Json;

namespace Intake.Shared.Json;

/// <summary>A JSON value as the text of a column or a cursor: strings as they are, numbers as written, objects and arrays compact.</summary>
internal static class JsonText
{
    public static string? Of(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.String => value.GetString(),
        JsonValueKind.Number => value.GetRawText(),
        JsonValueKind.True => "true",
        JsonValueKind.False => "false",
        JsonValueKind.Null or JsonValueKind.Undefined => null,
        _ => Compact(value),
    };

    private static string Compact(JsonElement value)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer))
        {
            value.WriteTo(w);
        }

        return Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length);
    }
}
