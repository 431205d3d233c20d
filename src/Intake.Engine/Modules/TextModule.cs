using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Intake.Core.Errors;
using Intake.Core.Ports;
using Intake.Engine.Configuration;

namespace Intake.Engine.Modules;

/// <summary>
/// <c>kind: text</c>: rows out of text, from the mail's body (<c>from: body</c>, the <c>extract</c> step's <c>body.txt</c>),
/// its subject (<c>from: subject</c>) or the files of <c>files:</c>. Either <c>pattern:</c>, a regular expression whose
/// named groups are the columns, applied to every line (each match a row), or <c>pairs:</c>, <c>key: value</c> lines
/// (one row per block of lines between blank lines, or one for the whole text with <c>pairs: whole</c>), the keys made
/// column names (lower case, <c>_</c> for other characters) or renamed by <c>key_map:</c>.
/// </summary>
public sealed class TextModule : IModule
{
    /// <summary>How long one line may keep the pattern busy: a pattern that backtracks without end fails the load instead of the worker.</summary>
    private static readonly TimeSpan MatchTimeout = TimeSpan.FromSeconds(2);

    public string Kind => "text";

    public IReadOnlyList<string> DefaultFiles => [];

    public object? ReadOptions(YamlScope scope, ModuleConfig module)
    {
        if (module.Target is null)
        {
            scope.Report("table", "is required: the warehouse table the rows go to");
        }

        var from = scope.String("from");
        if (from is not (null or "body" or "subject" or "message"))
        {
            scope.Report("from", $"'{from}' is not a text to read (body: the mail's body.txt; subject: the mail's subject; message: a line 'Subject: …' and then the body; or leave it out and name files:)");
        }

        var hasFiles = scope.Node("files") is not null;
        if (from is null && !hasFiles)
        {
            scope.Report("from", "is required without files: read the mail's body (from: body), its subject (from: subject), or files (files: [\"attachments/*.txt\"])");
        }
        else if (from is not null && hasFiles)
        {
            scope.Report("files", $"is set with from: {from}; read one or the other");
        }

        var pattern = scope.String("pattern");
        var pairs = scope.String("pairs");
        Regex? regex = null;
        if (pattern is not null)
        {
            try
            {
                regex = new Regex(pattern, RegexOptions.CultureInvariant, MatchTimeout);
                if (!Captures(regex).Any())
                {
                    scope.Report("pattern", "has no named group: name each value you want as a column, e.g. (?<node>\\S+)");
                }
            }
            catch (ArgumentException e)
            {
                scope.Report("pattern", $"is not a regular expression: {e.Message}");
            }
        }

        var pairMode = pairs switch
        {
            null or "false" or "no" => PairMode.None,
            "true" or "yes" or "blocks" => PairMode.Blocks,
            "whole" => PairMode.Whole,
            _ => (PairMode?)null,
        };
        if (pairMode is null)
        {
            scope.Report("pairs", $"'{pairs}' is not true (a row per block of 'key: value' lines), whole (one row for the whole text) or false");
        }

        if (pattern is null && pairMode is PairMode.None)
        {
            scope.Report("pattern", "is required without pairs: a regular expression with named groups, or pairs: true for 'key: value' lines");
        }
        else if (pattern is not null && pairMode is not (PairMode.None or null))
        {
            scope.Report("pairs", "is set with pattern; use one or the other");
        }

        var separator = scope.String("separator", fallback: ":")!;
        if (separator.Length == 0)
        {
            scope.Report("separator", "is empty: the text between a key and its value, ':' by default");
        }

        var keyMap = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        var km = scope.Scope("key_map");
        foreach (var (key, _) in km.Entries.ToList())
        {
            keyMap[key] = km.String(key) ?? "";
        }

        if (km.Exists && pairMode is PairMode.None)
        {
            scope.Report("key_map", "renames the keys of pairs; it needs pairs: true");
        }

        var encoding = scope.String("encoding", fallback: "utf-8")!;
        if (!TextEncodings.TryGet(encoding, out _))
        {
            scope.Report("encoding", $"'{encoding}' is not an encoding name (utf-8, windows-1252, iso-8859-15, …)");
        }

        return new TextOptions(from, regex, pairMode ?? PairMode.None, separator, keyMap, encoding);
    }

    public async Task<IReadOnlyList<ModuleRows>> RunAsync(ModuleContext context, CancellationToken cancellationToken)
    {
        var options = context.Module.OptionsAs<TextOptions>();
        var module = context.Module;
        var lists = new List<RowList>();
        foreach (var (name, text) in await TextsAsync(context, options, cancellationToken))
        {
            var rows = new RowList($"{name} (module {module.Name})");
            if (options.Pattern is { } regex)
            {
                Match(regex, text, rows, name, module.Name);
            }
            else
            {
                Pairs(options, text, rows, module);
            }

            if (rows.Count > 0)
            {
                lists.Add(rows);
            }
        }

        return [new ModuleRows(module.Target!, lists.ToAsyncEnumerable<IRowSource>())];
    }

    /// <summary>The texts to read: a file's name and content, or the subject.</summary>
    private static async Task<List<(string Name, string Text)>> TextsAsync(ModuleContext context, TextOptions options, CancellationToken cancellationToken)
    {
        var texts = new List<(string, string)>();
        string? subject = null;
        if (options.From is "subject" or "message")
        {
            subject = await SubjectAsync(context, cancellationToken);
        }

        if (options.From == "subject")
        {
            if (subject is not null)
            {
                texts.Add(("subject", subject));
            }
            else if (!context.Module.Optional)
            {
                throw IntakeException.Empty(
                    $"module '{context.Module.Name}': {context.Step.Load.SourceKey} has no subject to read (no parts.json from the 'extract' step, or a message without a Subject header); set optional: true when that is normal");
            }

            return texts;
        }

        var files = options.From is "body" or "message"
            ? context.Files.Where(f => f.Name == "body.txt").ToList()
            : ModuleFiles.Required(context);
        if (files.Count == 0 && !context.Module.Optional)
        {
            throw IntakeException.Empty(
                $"module '{context.Module.Name}': {context.Step.Load.SourceKey} has no body.txt (a message without a text body, or no 'extract' step before the modules); set optional: true when that is normal");
        }

        var encoding = TextEncodings.Get(options.Encoding);
        foreach (var file in files)
        {
            await using var stream = await file.OpenAsync(cancellationToken);
            using var reader = new StreamReader(stream, encoding, detectEncodingFromByteOrderMarks: true);
            var text = await reader.ReadToEndAsync(cancellationToken);
            // from: message reads the subject as the first line, so one row can hold what the subject and the body say.
            texts.Add(options.From == "message" && subject is not null ? (file.DisplayName, $"Subject: {subject}\n{text}") : (file.DisplayName, text));
        }

        return texts;
    }

    /// <summary>
    /// The received message's subject: from the <c>extract</c> step's <c>parts.json</c> (its first message), else a value
    /// a slice gave (<c>subject</c>); null when neither has one.
    /// </summary>
    private static async Task<string?> SubjectAsync(ModuleContext context, CancellationToken cancellationToken)
    {
        if (context.Files.FirstOrDefault(f => f.Name == "parts.json") is { } manifest)
        {
            await using var stream = await manifest.OpenAsync(cancellationToken);
            try
            {
                using var json = await JsonDocument.ParseAsync(stream, cancellationToken: cancellationToken);
                if (json.RootElement.TryGetProperty("messages", out var messages) && messages.ValueKind == JsonValueKind.Array && messages.GetArrayLength() > 0
                    && messages[0].TryGetProperty("subject", out var subject) && subject.ValueKind == JsonValueKind.String)
                {
                    return subject.GetString();
                }
            }
            catch (JsonException e)
            {
                throw IntakeException.Format($"module '{context.Module.Name}': {manifest.DisplayName} is not valid JSON (line {e.LineNumber + 1}): {e.Message}", e);
            }
        }

        return context.Values.GetValueOrDefault("subject");
    }

    private static void Match(Regex regex, string text, RowList rows, string source, string module)
    {
        var names = Captures(regex).ToList();
        var lineNumber = 0L;
        foreach (var line in Lines(text))
        {
            lineNumber++;
            try
            {
                for (var m = regex.Match(line); m.Success; m = m.NextMatch())
                {
                    rows.Add(lineNumber, names.Select(n => new KeyValuePair<string, string?>(n, m.Groups[n].Success ? m.Groups[n].Value : null)));
                    if (m.Length == 0)
                    {
                        break; // an empty match would match again at the same place
                    }
                }
            }
            catch (RegexMatchTimeoutException e)
            {
                throw IntakeException.Format($"module '{module}': {source} line {lineNumber.ToString(CultureInfo.InvariantCulture)}: the pattern took longer than {MatchTimeout.TotalSeconds.ToString(CultureInfo.InvariantCulture)}s on this line; simplify the pattern", e);
            }
        }
    }

    private static void Pairs(TextOptions options, string text, RowList rows, ModuleConfig module)
    {
        var declared = module.Target?.Columns?.Select(c => c.Name).ToHashSet(StringComparer.OrdinalIgnoreCase);
        var block = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        var order = new List<string>();
        long start = 0, lineNumber = 0;
        void Flush()
        {
            if (order.Count > 0)
            {
                rows.Add(start, order.Select(k => new KeyValuePair<string, string?>(k, block[k])));
            }

            block.Clear();
            order.Clear();
            start = 0;
        }

        foreach (var line in Lines(text))
        {
            lineNumber++;
            if (line.Trim().Length == 0)
            {
                if (options.Pairs == PairMode.Blocks)
                {
                    Flush();
                }

                continue;
            }

            var at = line.IndexOf(options.Separator, StringComparison.Ordinal);
            if (at <= 0)
            {
                continue; // a heading or a line of prose: not a pair
            }

            var key = line[..at].Trim();
            var value = line[(at + options.Separator.Length)..].Trim();
            var column = options.KeyMap.TryGetValue(key, out var mapped) ? mapped : ColumnName(key);
            if (column.Length == 0 || (declared is not null && !declared.Contains(column)))
            {
                continue; // with declared columns, the keys that are not among them are left out
            }

            if (block.ContainsKey(column))
            {
                throw IntakeException.Format(
                    $"module '{module.Name}': line {lineNumber.ToString(CultureInfo.InvariantCulture)}: the key '{key}' (column {column}) appears twice in the block that starts at line {(start == 0 ? lineNumber : start).ToString(CultureInfo.InvariantCulture)}; map one of them to another column with key_map");
            }

            if (start == 0)
            {
                start = lineNumber;
            }

            block[column] = value.Length == 0 ? null : value;
            order.Add(column);
        }

        Flush();
    }

    /// <summary>A key as a column name: lower case, runs of other characters than letters and digits made one <c>_</c>.</summary>
    internal static string ColumnName(string key)
    {
        var b = new StringBuilder(key.Length);
        foreach (var c in key.Trim().ToLowerInvariant())
        {
            if (char.IsAsciiLetterOrDigit(c) || c == '_')
            {
                b.Append(c);
            }
            else if (b.Length > 0 && b[^1] != '_')
            {
                b.Append('_');
            }
        }

        return b.ToString().Trim('_');
    }

    private static IEnumerable<string> Lines(string text) => text.ReplaceLineEndings("\n").Split('\n');

    private static IEnumerable<string> Captures(Regex regex) => regex.GetGroupNames().Where(n => !n.All(char.IsAsciiDigit));

    private enum PairMode
    {
        None,
        Blocks,
        Whole,
    }

    private sealed record TextOptions(string? From, Regex? Pattern, PairMode Pairs, string Separator, IReadOnlyDictionary<string, string> KeyMap, string Encoding);
}
