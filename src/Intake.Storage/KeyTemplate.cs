using System.Collections.Frozen;
using System.Globalization;
using System.Text;
using Intake.Core.Errors;

namespace Intake.Storage;

/// <summary>
/// A per-pipeline object key layout such as <c>{customer}/{category}/{type}/{group}/{received:yyyyMMdd_HHmmss}/{name}</c>.
/// </summary>
/// <remarks>
/// <para>
/// Templates come from configuration, so every mistake a template can hold (an unknown or misspelt
/// placeholder, a format on a text placeholder, a bad date format, a layout that cannot give a valid key)
/// is reported by <see cref="Parse(string)"/> at start-up, not at the first file.
/// </para>
/// <para>
/// Values come from outside (customer names, attachment file names), so a value can never add or climb
/// folders: <c>/</c>, <c>\</c>, control characters and <c>..</c> inside a value become <c>_</c>. The
/// folders of a key are the template's alone. Dates are formatted with the invariant culture in the
/// offset they are given, and a date format may add folders on purpose (<c>{received:yyyy/MM/dd}</c>).
/// </para>
/// <para>Placeholders are <c>{name}</c> or <c>{name:format}</c>; <c>{{</c> and <c>}}</c> are literal braces.</para>
/// </remarks>
public sealed class KeyTemplate
{
    /// <summary>The HView layout for received data, the default of every pipeline.</summary>
    public const string DefaultReceivedText = "{customer}/{category}/{type}/{group}/{received:yyyyMMdd_HHmmss}/{name}";

    /// <summary>The format of a date placeholder written without one: HView's receive-time folder.</summary>
    public const string DefaultDateFormat = "yyyyMMdd_HHmmss";

    /// <summary>Placeholders taking text (or any number, formatted invariantly).</summary>
    public static IReadOnlySet<string> TextPlaceholders { get; } = FrozenSet.Create(
        StringComparer.Ordinal, "customer", "category", "type", "group", "name", "pipeline", "load", "partition", "source");

    /// <summary>Placeholders taking a <see cref="DateTimeOffset"/> and an optional .NET date format.</summary>
    public static IReadOnlySet<string> DatePlaceholders { get; } = FrozenSet.Create(StringComparer.Ordinal, "received", "modified");

    /// <summary><see cref="DefaultReceivedText"/>, parsed.</summary>
    public static KeyTemplate DefaultReceived { get; } = Parse(DefaultReceivedText);

    // A fixed, unambiguous date to try formats and layouts with at parse time.
    private static readonly DateTimeOffset SampleDate = new(2001, 2, 3, 4, 5, 6, 789, TimeSpan.Zero);

    private readonly Part[] _parts;

    private KeyTemplate(string text, Part[] parts)
    {
        Text = text;
        _parts = parts;
        Placeholders = parts.Where(p => p.Name is not null).Select(p => p.Name!).Distinct(StringComparer.Ordinal).ToArray();
    }

    /// <summary>The template as written.</summary>
    public string Text { get; }

    /// <summary>The placeholder names the template uses, in order of first use: the values <see cref="Render"/> needs.</summary>
    public IReadOnlyList<string> Placeholders { get; }

    /// <summary>Parses a template using the standard placeholders (<see cref="TextPlaceholders"/>, <see cref="DatePlaceholders"/>).</summary>
    /// <exception cref="IntakeException">Config, naming the template and the offending placeholder.</exception>
    public static KeyTemplate Parse(string template) => Parse(template, TextPlaceholders, DatePlaceholders);

    /// <summary>Parses a template whose placeholders are the given text and date names (for layouts such as exports that need others).</summary>
    /// <exception cref="IntakeException">Config, naming the template and the offending placeholder.</exception>
    public static KeyTemplate Parse(string template, IEnumerable<string> textPlaceholders, IEnumerable<string> datePlaceholders)
    {
        ArgumentNullException.ThrowIfNull(template);
        var textNames = textPlaceholders.ToHashSet(StringComparer.Ordinal);
        var dateNames = datePlaceholders.ToHashSet(StringComparer.Ordinal);
        if (template.Length == 0)
        {
            throw IntakeException.Config("key template is empty");
        }

        var parts = new List<Part>();
        var literal = new StringBuilder();
        for (var i = 0; i < template.Length; i++)
        {
            var c = template[i];
            if (c == '}')
            {
                if (i + 1 < template.Length && template[i + 1] == '}')
                {
                    literal.Append('}');
                    i++;
                    continue;
                }

                throw IntakeException.Config($"key template '{template}': '}}' at position {i + 1} closes nothing (write '}}}}' for a literal brace)");
            }

            if (c != '{')
            {
                literal.Append(c);
                continue;
            }

            if (i + 1 < template.Length && template[i + 1] == '{')
            {
                literal.Append('{');
                i++;
                continue;
            }

            var close = template.IndexOf('}', i + 1);
            var nested = template.IndexOf('{', i + 1);
            if (close < 0 || (nested >= 0 && nested < close))
            {
                throw IntakeException.Config($"key template '{template}': '{{' at position {i + 1} is never closed");
            }

            if (literal.Length > 0)
            {
                parts.Add(new Part(literal.ToString(), null, null, false));
                literal.Clear();
            }

            parts.Add(ParsePlaceholder(template, template[(i + 1)..close], textNames, dateNames));
            i = close;
        }

        if (literal.Length > 0)
        {
            parts.Add(new Part(literal.ToString(), null, null, false));
        }

        var result = new KeyTemplate(template, [.. parts]);

        // The layout itself must give valid keys (no leading '/', no '//', no '..' folder...). Values are
        // sanitised and cannot break that, so one render with sample values proves the layout.
        var sample = result.Placeholders.ToDictionary(
            n => n, n => dateNames.Contains(n) ? (object)SampleDate : "x", StringComparer.Ordinal);
        _ = result.Render(sample);
        return result;
    }

    /// <summary>
    /// Renders a key. Text placeholders take strings (or numbers), date placeholders take
    /// <see cref="DateTimeOffset"/>; extra entries are ignored.
    /// </summary>
    /// <exception cref="IntakeException">
    /// Config: a placeholder has no value or a value of the wrong type, or the values leave the key with an
    /// empty folder (for example an empty <c>{group}</c> in <c>{customer}/{group}/{name}</c>).
    /// </exception>
    public string Render(IReadOnlyDictionary<string, object> values)
    {
        ArgumentNullException.ThrowIfNull(values);
        var key = new StringBuilder();
        foreach (var part in _parts)
        {
            if (part.Name is null)
            {
                key.Append(part.Literal);
                continue;
            }

            if (!values.TryGetValue(part.Name, out var value) || value is null)
            {
                throw IntakeException.Config($"key template '{Text}': no value for {{{part.Name}}}");
            }

            if (part.IsDate)
            {
                if (value is not DateTimeOffset date)
                {
                    throw IntakeException.Config($"key template '{Text}': {{{part.Name}}} needs a date, got {value.GetType().Name}");
                }

                // The format is the template author's, not outside data: it may add folders.
                key.Append(date.ToString(part.Format ?? DefaultDateFormat, CultureInfo.InvariantCulture));
                continue;
            }

            var text = value switch
            {
                string s => s,
                IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
                _ => value.ToString() ?? "",
            };
            key.Append(Sanitize(text));
        }

        var rendered = key.ToString();
        try
        {
            ObjectKeys.ValidateKey(rendered);
        }
        catch (ArgumentException ex)
        {
            throw IntakeException.Config($"key template '{Text}' gives an invalid key '{rendered}': {ex.Message}", ex);
        }

        return rendered;
    }

    /// <summary>
    /// Makes a value safe inside one key segment: <c>/</c>, <c>\</c>, NUL and other control characters
    /// become <c>_</c>, so do <c>..</c> and a value that is exactly <c>.</c>. Everything else is kept.
    /// </summary>
    public static string Sanitize(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        var builder = new StringBuilder(value.Length);
        foreach (var c in value)
        {
            builder.Append(c is '/' or '\\' || char.IsControl(c) ? '_' : c);
        }

        // Replacement has no dot, so one pass leaves no ".." anywhere ("..." becomes "_.").
        builder.Replace("..", "_");
        return builder.Length == 1 && builder[0] == '.' ? "_" : builder.ToString();
    }

    /// <inheritdoc />
    public override string ToString() => Text;

    private static Part ParsePlaceholder(string template, string body, HashSet<string> textNames, HashSet<string> dateNames)
    {
        var colon = body.IndexOf(':', StringComparison.Ordinal);
        var name = colon < 0 ? body : body[..colon];
        var format = colon < 0 ? null : body[(colon + 1)..];

        var isDate = dateNames.Contains(name);
        if (!isDate && !textNames.Contains(name))
        {
            var known = string.Join(", ", textNames.Concat(dateNames).Order(StringComparer.Ordinal).Select(n => "{" + n + "}"));
            throw IntakeException.Config($"key template '{template}': unknown placeholder {{{name}}}; known placeholders are {known}");
        }

        if (format is not null && !isDate)
        {
            throw IntakeException.Config($"key template '{template}': placeholder {{{name}}} is text and takes no format (':{format}')");
        }

        if (format is not null)
        {
            if (format.Length == 0)
            {
                throw IntakeException.Config($"key template '{template}': placeholder {{{name}}} has an empty format");
            }

            try
            {
                _ = SampleDate.ToString(format, CultureInfo.InvariantCulture);
            }
            catch (FormatException ex)
            {
                throw IntakeException.Config($"key template '{template}': placeholder {{{name}}} has an invalid date format '{format}'", ex);
            }
        }

        return new Part(null, name, format, isDate);
    }

    private sealed record Part(string? Literal, string? Name, string? Format, bool IsDate);
}
