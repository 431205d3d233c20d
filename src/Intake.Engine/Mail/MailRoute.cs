using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using Intake.Sources;

namespace Intake.Engine.Mail;

/// <summary>
/// One entry of a mail pipeline's <c>routes:</c>: which messages it takes (recipient, token, senders, subject, body) and
/// where they go (<c>customer/category/type/group</c>, templates over the captures, and the module that parses them).
/// </summary>
public sealed record MailRoute
{
    /// <summary>The route's name, unique in its pipeline; named in step records and in the reason a message matched none.</summary>
    public required string Name { get; init; }

    /// <summary>The envelope recipient it takes, with <c>{captures}</c>.</summary>
    public required RecipientPattern Recipient { get; init; }

    /// <summary>A secret the recipient's <c>{token}</c> must equal; null when the route has none.</summary>
    public string? Token { get; init; }

    /// <summary>Globs the envelope sender and every <c>From</c> address must match (<c>*@hview.example</c>; <c>*</c> takes anyone).</summary>
    public required IReadOnlyList<Glob> Senders { get; init; }

    /// <summary>A pattern the subject must match, its named groups captures; null takes any subject.</summary>
    public Regex? Subject { get; init; }

    /// <summary>A pattern the text body must match somewhere, its named groups captures; null when the body is not looked at.</summary>
    public Regex? Body { get; init; }

    public required MailTemplate Customer { get; init; }
    public required MailTemplate Category { get; init; }
    public required MailTemplate Type { get; init; }
    public required MailTemplate Group { get; init; }

    /// <summary>
    /// The modules (of the pipeline's <c>modules:</c>) that parse the message's parts; empty when the route names none, and
    /// then every module of the pipeline runs.
    /// </summary>
    public IReadOnlyList<string> Modules { get; init; } = [];
}

/// <summary>
/// A recipient address with <c>{name}</c> captures and <c>*</c> wildcards (<c>reports+{customer}.{token}@hview.example</c>),
/// matched against the whole address without regard to case. A capture takes at least one character and never '@';
/// where two captures meet a separator, the first takes as little as it can.
/// </summary>
public sealed partial class RecipientPattern
{
    public const string TokenCapture = "token";

    private readonly Regex _regex;

    private RecipientPattern(string text, Regex regex, IReadOnlyList<string> captures)
    {
        Text = text;
        _regex = regex;
        Captures = captures;
    }

    /// <summary>The pattern as written.</summary>
    public string Text { get; }

    /// <summary>The names of its captures, in order.</summary>
    public IReadOnlyList<string> Captures { get; }

    /// <summary>Parses a pattern; a problem comes back in words, for the configuration's report.</summary>
    public static RecipientPattern? TryParse(string text, out string? problem)
    {
        problem = null;
        var at = text.LastIndexOf('@');
        if (at <= 0 || at == text.Length - 1)
        {
            problem = $"'{text}' is not an address pattern: it needs a local part, '@' and a domain (reports+{{customer}}@hview.example)";
            return null;
        }

        var regex = new StringBuilder("^");
        var captures = new List<string>();
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (c == '{')
            {
                var end = text.IndexOf('}', i);
                var name = end < 0 ? "" : text[(i + 1)..end];
                if (!CaptureName().IsMatch(name))
                {
                    problem = $"'{text}': a capture is {{name}}, a name of letters, digits and '_' starting with a letter";
                    return null;
                }

                if (captures.Contains(name, StringComparer.Ordinal))
                {
                    problem = $"'{text}' captures {{{name}}} twice";
                    return null;
                }

                if (i > at)
                {
                    problem = $"'{text}': captures belong in the local part (before '@'); write the domain as it is";
                    return null;
                }

                captures.Add(name);
                regex.Append("(?<").Append(name).Append(">[^@]+?)");
                i = end;
            }
            else if (c == '*')
            {
                regex.Append("[^@]*?");
            }
            else if (c == '}')
            {
                problem = $"'{text}' has a '}}' without its '{{'";
                return null;
            }
            else
            {
                regex.Append(Regex.Escape(c.ToString()));
            }
        }

        regex.Append('$');
        return new RecipientPattern(text, new Regex(regex.ToString(), RegexOptions.IgnoreCase | RegexOptions.CultureInvariant, MailRouter.MatchTimeout), captures);
    }

    /// <summary>The captures when <paramref name="address"/> matches, else null.</summary>
    public Dictionary<string, string>? Match(string address)
    {
        var m = _regex.Match(address.Trim());
        if (!m.Success)
        {
            return null;
        }

        return Captures.ToDictionary(n => n, n => m.Groups[n].Value, StringComparer.Ordinal);
    }

    public override string ToString() => Text;

    [GeneratedRegex("^[A-Za-z][A-Za-z0-9_]*$")]
    private static partial Regex CaptureName();
}

/// <summary>
/// A target of a route (<c>group: "{grid}"</c>): text with <c>{captures}</c>, rendered into one folder name of the
/// layout. Captured values come from outside, so each is made a safe folder name (<see cref="Segment"/>).
/// </summary>
public sealed partial class MailTemplate
{
    private MailTemplate(string text, IReadOnlyList<string> placeholders)
    {
        Text = text;
        Placeholders = placeholders;
    }

    public string Text { get; }

    /// <summary>The captures it names.</summary>
    public IReadOnlyList<string> Placeholders { get; }

    /// <summary>Parses a template; a problem comes back in words.</summary>
    public static MailTemplate? TryParse(string text, out string? problem)
    {
        problem = null;
        var names = new List<string>();
        var literal = Placeholder().Replace(text, m =>
        {
            names.Add(m.Groups[1].Value);
            return "x";
        });
        if (literal.Length == 0 || literal.Contains('{', StringComparison.Ordinal) || literal.Contains('}', StringComparison.Ordinal))
        {
            problem = $"'{text}' is not a template: text and {{captures}} (\"{{grid}}\", \"hydrastor\")";
            return null;
        }

        if (Segment(literal) != literal)
        {
            problem = $"'{text}' must be one folder name: letters, digits, '.', '-' and '_' besides its {{captures}}";
            return null;
        }

        return new MailTemplate(text, names);
    }

    /// <summary>A template without captures.</summary>
    public static MailTemplate Literal(string text) => new(text, []);

    /// <summary>The folder name for these captures; each captured value is made a safe folder name first.</summary>
    public string Render(IReadOnlyDictionary<string, string> captures) =>
        Segment(Placeholder().Replace(Text, m => captures.TryGetValue(m.Groups[1].Value, out var v) ? Segment(v) : "_"));

    /// <summary>
    /// One safe folder name from any text: letters, digits, '.', '-' and '_' kept, anything else (a '/', a space, a control
    /// character) becomes '_'; no leading dot, at most 64 characters, never empty.
    /// </summary>
    public static string Segment(string value)
    {
        var sb = new StringBuilder(Math.Min(value.Length, 64));
        foreach (var c in value.Trim())
        {
            if (sb.Length == 64)
            {
                break;
            }

            sb.Append(char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' ? c : '_');
        }

        var s = sb.ToString().TrimStart('.');
        return s.Length == 0 ? "_" : s;
    }

    public override string ToString() => Text;

    [GeneratedRegex(@"\{([A-Za-z][A-Za-z0-9_]*)\}")]
    private static partial Regex Placeholder();
}

/// <summary>
/// Where a routed message goes: the four folders of the layout, the route that decided them, the modules it names
/// (empty: all of the pipeline's), and the values the route captured (raw, as matched; the secret token never among them).
/// </summary>
public sealed record MailTargets(string Route, string Customer, string Category, string Type, string Group)
{
    public IReadOnlyList<string> Modules { get; init; } = [];

    public IReadOnlyDictionary<string, string> Captures { get; init; } = new Dictionary<string, string>(StringComparer.Ordinal);

    /// <summary>The four folders, <c>customer/category/type/group</c>, as the route step records them (<c>target:</c>).</summary>
    public string Folders => $"{Customer}/{Category}/{Type}/{Group}";

    public override string ToString() =>
        string.Create(CultureInfo.InvariantCulture, $"route {Route}: {Folders}{Modules.Count switch { 0 => "", 1 => $", module {Modules[0]}", _ => $", modules {string.Join(", ", Modules)}" }}");
}
