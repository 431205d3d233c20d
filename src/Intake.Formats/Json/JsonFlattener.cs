using System.Text.Json;

namespace Intake.Formats.Json;

/// <summary>
/// Writes a JSON record with its nested objects turned into dotted keys (<c>{"a":{"b":{"c":1}}}</c> becomes
/// <c>{"a.b.c":1}</c>), so a table can hold it with one column per leaf. Arrays stay JSON arrays: their length
/// varies per record and a column per index would make the table's shape depend on the data.
/// </summary>
public static class JsonFlattener
{
    /// <summary>Writes <paramref name="record"/> to <paramref name="writer"/>, flattened when it is an object; anything else is written as it is.</summary>
    public static void Write(JsonElement record, Utf8JsonWriter writer)
    {
        ArgumentNullException.ThrowIfNull(writer);
        if (record.ValueKind != JsonValueKind.Object)
        {
            record.WriteTo(writer);
            return;
        }

        writer.WriteStartObject();
        WriteMembers(record, "", writer);
        writer.WriteEndObject();
    }

    /// <summary>The members of <paramref name="record"/> (an object) as <see cref="Write"/> names them: one per leaf, nested names dotted.</summary>
    public static void Leaves(JsonElement record, List<KeyValuePair<string, JsonElement>> into)
    {
        ArgumentNullException.ThrowIfNull(into);
        AddLeaves(record, "", into);
    }

    private static void AddLeaves(JsonElement obj, string prefix, List<KeyValuePair<string, JsonElement>> into)
    {
        foreach (var property in obj.EnumerateObject())
        {
            var name = prefix.Length == 0 ? property.Name : string.Concat(prefix, ".", property.Name);
            if (property.Value.ValueKind == JsonValueKind.Object && property.Value.EnumerateObject().Any())
            {
                AddLeaves(property.Value, name, into);
            }
            else
            {
                into.Add(new(name, property.Value));
            }
        }
    }

    private static void WriteMembers(JsonElement obj, string prefix, Utf8JsonWriter writer)
    {
        foreach (var property in obj.EnumerateObject())
        {
            var name = prefix.Length == 0 ? property.Name : string.Concat(prefix, ".", property.Name);
            if (property.Value.ValueKind == JsonValueKind.Object && property.Value.EnumerateObject().Any())
            {
                WriteMembers(property.Value, name, writer);
            }
            else
            {
                // An empty object has no leaf to become a column: it stays {} under its own name.
                writer.WritePropertyName(name);
                property.Value.WriteTo(writer);
            }
        }
    }
}
