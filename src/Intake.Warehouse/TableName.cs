using System.Text.RegularExpressions;
using Intake.Core.Errors;

namespace Intake.Warehouse;

/// <summary>
/// A validated target table name: <c>name</c> or <c>schema.name</c>, each part <c>[A-Za-z_][A-Za-z0-9_]*</c>.
/// Table names come from pipeline files, so they are validated (and still quoted) rather than trusted:
/// anything else is a configuration error, never a piece of SQL.
/// </summary>
internal readonly partial record struct TableName(string? Schema, string Name)
{
    // 63 bytes is PostgreSQL's identifier limit; longer names would be truncated silently by the server.
    private const int MaxPartLength = 63;

    [GeneratedRegex("^[A-Za-z_][A-Za-z0-9_]*$", RegexOptions.CultureInvariant)]
    private static partial Regex PartPattern();

    public static TableName Parse(string? table)
    {
        if (string.IsNullOrEmpty(table))
        {
            throw IntakeException.Config("The warehouse table name is empty.");
        }

        var dot = table.IndexOf('.', StringComparison.Ordinal);
        var schema = dot < 0 ? null : table[..dot];
        var name = dot < 0 ? table : table[(dot + 1)..];
        if ((schema is not null && !IsValidPart(schema)) || !IsValidPart(name))
        {
            throw IntakeException.Config(
                $"The warehouse table name '{Describe(table)}' is not valid: use letters, digits and underscores, optionally prefixed by 'schema.'.");
        }

        return new TableName(schema, name);
    }

    public override string ToString() => Schema is null ? Name : $"{Schema}.{Name}";

    private static bool IsValidPart(string part) => part.Length <= MaxPartLength && PartPattern().IsMatch(part);

    private static string Describe(string table) => table.Length <= 80 ? table : string.Concat(table.AsSpan(0, 80), "…");
}
