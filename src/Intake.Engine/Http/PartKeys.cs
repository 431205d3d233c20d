using System.Globalization;
using System.Text.RegularExpressions;

namespace Intake.Engine.Http;

/// <summary>
/// The key template of the parts of one (event, day): placeholders <c>{event}</c>, <c>{day}</c> (yyyy-MM-dd) and
/// <c>{n}</c> (00001, 00002, …: five digits so that text order is part order). Knowing the template, a re-run can
/// tell the day's parts from any other object and remove the ones it did not write.
/// </summary>
public static class PartKeys
{
    private static readonly string[] Placeholders = ["{event}", "{day}", "{n}"];

    /// <summary>Why the template cannot work, or null.</summary>
    public static string? Problem(string template, int events)
    {
        ArgumentNullException.ThrowIfNull(template);
        foreach (Match m in Regex.Matches(template, @"\{[^}]*\}"))
        {
            if (!Placeholders.Contains(m.Value))
            {
                return $"'{m.Value}' is not a placeholder here ({string.Join(", ", Placeholders)})";
            }
        }

        if (Count(template, "{n}") != 1)
        {
            return "must contain {n} (the part number) exactly once, or the parts of a day would overwrite each other";
        }

        if (!template.Contains("{day}", StringComparison.Ordinal))
        {
            return "must contain {day}, or the days would overwrite each other";
        }

        if (events > 1 && !template.Contains("{event}", StringComparison.Ordinal))
        {
            return "must contain {event} when several events are read, or they would overwrite each other";
        }

        return template.StartsWith('/') ? "must be relative (no leading '/')" : null;
    }

    public static string Render(string template, string eventType, string day, int n) =>
        Fill(template, eventType, day).Replace("{n}", n.ToString("D5", CultureInfo.InvariantCulture), StringComparison.Ordinal);

    /// <summary>The key up to the part number: every part of the (event, day) is listed under it.</summary>
    public static string ListPrefix(string template, string eventType, string day)
    {
        var filled = Fill(template, eventType, day);
        return filled[..filled.IndexOf("{n}", StringComparison.Ordinal)];
    }

    /// <summary>Whether <paramref name="key"/> is a part of this (event, day) under the template, whatever its number.</summary>
    public static bool IsPart(string template, string eventType, string day, string key)
    {
        var filled = Fill(template, eventType, day);
        var at = filled.IndexOf("{n}", StringComparison.Ordinal);
        var pattern = "^" + Regex.Escape(filled[..at]) + "[0-9]+" + Regex.Escape(filled[(at + 3)..]) + "$";
        return Regex.IsMatch(key, pattern, RegexOptions.CultureInvariant);
    }

    private static string Fill(string template, string eventType, string day) =>
        template.Replace("{event}", eventType, StringComparison.Ordinal).Replace("{day}", day, StringComparison.Ordinal);

    private static int Count(string text, string part)
    {
        var count = 0;
        for (var i = text.IndexOf(part, StringComparison.Ordinal); i >= 0; i = text.IndexOf(part, i + part.Length, StringComparison.Ordinal))
        {
            count++;
        }

        return count;
    }
}
