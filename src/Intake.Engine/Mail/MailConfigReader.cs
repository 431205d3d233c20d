using System.Globalization;
using System.Text.RegularExpressions;
using Intake.Core.Errors;
using Intake.Engine.Configuration;
using Intake.Engine.SourceKinds;
using Intake.Sources;

namespace Intake.Engine.Mail;

/// <summary>A mail pipeline's settings: <c>source.max_message_size</c> and the top-level <c>routes:</c>.</summary>
public sealed record MailSourceOptions
{
    /// <summary>25 MiB: what common mail servers accept (Postfix's own default <c>message_size_limit</c> is 10 MB).</summary>
    public const long DefaultMaxMessageBytes = 25L * 1024 * 1024;

    /// <summary>The largest message taken, counted as it arrives (never the size the sender announced).</summary>
    public long MaxMessageBytes { get; init; } = DefaultMaxMessageBytes;

    /// <summary>The routes, in the order they are tried.</summary>
    public IReadOnlyList<MailRoute> Routes { get; init; } = [];
}

/// <summary>
/// Reads a mail pipeline: <c>source: {kind: mail, max_message_size: 25MiB}</c> and its <c>routes:</c> list, reporting
/// every problem with the file, line and key.
/// </summary>
/// <example>
/// <code>
/// routes:
///   - name: system_report
///     recipient: "reports+{customer}.{token}@hview.example"
///     token: ${HVIEW_REPORT_TOKEN}
///     senders: ["*@hydrastor.example"]
///     subject: "^System report of (?&lt;grid&gt;[A-Za-z0-9_-]+)$"
///     category: hydrastor
///     type: system_report
///     group: "{grid}"
///     module: hydrastor_system_report   # one of the pipeline's modules:, or a list of them
/// </code>
/// </example>
public static class MailConfigReader
{
    public const string RoutesKey = "routes";

    private const long MinMessageBytes = 1024;
    private const long MaxMessageBytesLimit = 2L * 1024 * 1024 * 1024;

    /// <summary>The <c>source:</c> keys of a mail pipeline.</summary>
    internal static MailSourceOptions ReadSource(SourceReading reading)
    {
        var src = reading.Source;
        var max = src.Size("max_message_size", MailSourceOptions.DefaultMaxMessageBytes);
        if (max is < MinMessageBytes or > MaxMessageBytesLimit)
        {
            src.Report("max_message_size", $"must be between 1KiB and 2GiB, not {max.ToString(CultureInfo.InvariantCulture)} bytes");
        }

        return new MailSourceOptions { MaxMessageBytes = max };
    }

    /// <summary>The pipeline's <c>routes:</c>; at least one is required, with a unique name each.</summary>
    public static IReadOnlyList<MailRoute> ReadRoutes(YamlScope pipeline, PipelineConfig config)
    {
        ArgumentNullException.ThrowIfNull(pipeline);
        ArgumentNullException.ThrowIfNull(config);
        var items = pipeline.ScopeList(RoutesKey);
        if (items is null || items.Count == 0)
        {
            pipeline.Report(RoutesKey, "is required for source.kind: mail: a list of routes, each with a name, a recipient and the senders it takes (see docs/mail.md)");
            return [];
        }

        var routes = new List<MailRoute>();
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var s in items)
        {
            if (!s.Exists)
            {
                pipeline.Report(RoutesKey, "each route is a mapping (name, recipient, senders, …)");
                continue;
            }

            var route = ReadRoute(s, config);
            if (s.String("name") is { Length: > 0 } name && !names.Add(name))
            {
                s.Report("name", $"'{name}' names another route of this pipeline already; route names are unique");
            }

            s.RejectUnknown();
            if (route is not null)
            {
                routes.Add(route);
            }
        }

        return routes;
    }

    private static MailRoute? ReadRoute(YamlScope s, PipelineConfig config)
    {
        var name = s.Name("name", required: true);

        RecipientPattern? recipient = null;
        if (s.String("recipient", required: true) is { } text)
        {
            recipient = RecipientPattern.TryParse(text, out var problem);
            if (problem is not null)
            {
                s.Report("recipient", problem);
            }
        }

        var token = s.String("token");
        if (token is not null && token.Length < 8)
        {
            s.Report("token", "must be at least 8 characters: it is the secret that keeps others from sending to this route");
        }

        if (recipient is not null)
        {
            var hasToken = recipient.Captures.Contains(RecipientPattern.TokenCapture, StringComparer.Ordinal);
            if (token is not null && !hasToken)
            {
                s.Report("token", $"the recipient '{recipient.Text}' has no {{token}}: write where the token stands in the address (reports+{{customer}}.{{token}}@…)");
            }
            else if (token is null && hasToken)
            {
                s.Report("recipient", $"'{recipient.Text}' has a {{token}} but the route sets no token: add token: (e.g. ${{HVIEW_TOKEN}})");
            }
        }

        var senders = new List<Glob>();
        var senderTexts = s.StringList("senders");
        if (senderTexts is null || senderTexts.Count == 0)
        {
            s.Report("senders", "is required: the senders this route takes, as globs on the address (\"*@hydrastor.example\"); write [\"*\"] to take anyone");
        }

        foreach (var glob in senderTexts ?? [])
        {
            try
            {
                senders.Add(Glob.Parse(glob, ignoreCase: true));
            }
            catch (IntakeException e)
            {
                s.Report("senders", $"'{glob}' is not a valid pattern: {e.Message}");
            }
        }

        var subject = ReadRegex(s, "subject");
        var body = ReadRegex(s, "body");

        var captures = new HashSet<string>(StringComparer.Ordinal);
        captures.UnionWith((recipient?.Captures ?? []).Where(c => c != RecipientPattern.TokenCapture));
        captures.UnionWith(GroupNames(subject));
        captures.UnionWith(GroupNames(body));

        var customer = ReadTemplate(s, "customer", config.Customer, captures);
        var category = ReadTemplate(s, "category", config.Category, captures);
        var type = ReadTemplate(s, "type", name.Length > 0 ? name : config.Type, captures);
        var group = ReadTemplate(s, "group", config.Group, captures);
        var modules = ReadModules(s, name, config);

        if (recipient is null || name.Length == 0)
        {
            return null;
        }

        return new MailRoute
        {
            Name = name,
            Recipient = recipient,
            Token = token,
            Senders = senders,
            Subject = subject,
            Body = body,
            Customer = customer,
            Category = category,
            Type = type,
            Group = group,
            Modules = modules,
        };
    }

    /// <summary>
    /// <c>module:</c>, one name or a list: the modules of the pipeline's <c>modules:</c> that parse what the route takes.
    /// A name the pipeline does not declare is refused here, at start, not when a message comes.
    /// </summary>
    private static IReadOnlyList<string> ReadModules(YamlScope s, string route, PipelineConfig config)
    {
        var names = s.StringList("module") ?? [];
        var declared = config.Modules?.Modules.Select(m => m.Name).ToList() ?? [];
        var modules = new List<string>();
        foreach (var module in names)
        {
            if (module.Length == 0)
            {
                s.Report("module", "is empty: name a module of the pipeline's modules:, or leave the key out");
            }
            else if (!declared.Contains(module, StringComparer.Ordinal))
            {
                s.Report("module", declared.Count == 0
                    ? $"route '{route}' names the module '{module}', but this pipeline declares no modules: add a modules: list with a module named '{module}' (see docs/modules.md), or leave the key out"
                    : $"route '{route}' names the module '{module}', which this pipeline does not declare (its modules: {string.Join(", ", declared)}); correct the name, or add the module under modules:");
            }
            else if (modules.Contains(module, StringComparer.Ordinal))
            {
                s.Report("module", $"names '{module}' twice");
            }
            else
            {
                modules.Add(module);
            }
        }

        return modules;
    }

    private static Regex? ReadRegex(YamlScope s, string key)
    {
        if (s.String(key) is not { } text)
        {
            return null;
        }

        try
        {
            return new Regex(text, RegexOptions.CultureInvariant, MailRouter.MatchTimeout);
        }
        catch (ArgumentException e)
        {
            s.Report(key, $"'{text}' is not a valid regular expression: {e.Message}");
            return null;
        }
    }

    private static IEnumerable<string> GroupNames(Regex? regex) =>
        regex?.GetGroupNames().Where(n => !int.TryParse(n, NumberStyles.None, CultureInfo.InvariantCulture, out _)) ?? [];

    private static MailTemplate ReadTemplate(YamlScope s, string key, string fallback, IReadOnlySet<string> captures)
    {
        if (s.String(key) is not { } text)
        {
            return MailTemplate.Literal(MailTemplate.Segment(fallback));
        }

        var template = MailTemplate.TryParse(text, out var problem);
        if (template is null)
        {
            s.Report(key, problem!);
            return MailTemplate.Literal(MailTemplate.Segment(fallback));
        }

        foreach (var missing in template.Placeholders.Where(p => !captures.Contains(p)))
        {
            s.Report(key, missing == RecipientPattern.TokenCapture
                ? $"'{text}' names {{token}}, the route's secret: it never goes into a folder name"
                : $"'{text}' names {{{missing}}}, which the route does not capture (captures: {(captures.Count == 0 ? "none" : string.Join(", ", captures.Order(StringComparer.Ordinal)))}); capture it in the recipient, or as a named group (?<{missing}>…) of subject or body");
        }

        return template;
    }
}
