using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using Intake.Engine.Configuration;

namespace Intake.Engine.Mail;

/// <summary>What routing looks at: the envelope and a few headers of one message, the body read only when a route asks.</summary>
/// <param name="Sender">The envelope sender; null or empty for a bounce.</param>
/// <param name="Recipients">The envelope recipients (or, without an envelope, the To and Cc addresses).</param>
/// <param name="From">The addresses of the <c>From</c> header.</param>
/// <param name="Subject">The decoded subject; empty when there is none.</param>
/// <param name="Body">Reads the text body (the HTML one without a text one); empty when there is none.</param>
public sealed record MailFacts(string? Sender, IReadOnlyList<string> Recipients, IReadOnlyList<string> From, string Subject, Func<string> Body);

/// <summary>
/// Where routing put a message: a route of a pipeline (<see cref="Targets"/> set), or a pipeline that takes its recipient
/// but no route of which takes the whole message (<see cref="Problem"/> says which route came closest and why not).
/// </summary>
public sealed record MailDecision(PipelineConfig Pipeline, MailTargets? Targets, string? Problem)
{
    public bool Routed => Targets is not null;
}

/// <summary>
/// Matches messages to the routes of mail pipelines, in the order of the configuration: the first route that takes the
/// recipient (with its token), the senders, the subject and the body wins. A message whose recipient some route takes
/// but which no route takes whole is still kept (<see cref="MailDecision.Problem"/>): only a recipient no route takes
/// is refused.
/// </summary>
public static class MailRouter
{
    /// <summary>A pattern that takes longer than this on one message is a pattern that backtracks without end: it does not match.</summary>
    public static readonly TimeSpan MatchTimeout = TimeSpan.FromSeconds(2);

    /// <summary>How far a route got with a message, to say which came closest.</summary>
    private enum Stage
    {
        Recipient,
        Token,
        Sender,
        Subject,
        Body,
        Matched,
    }

    /// <summary>The routes of mail pipelines, in configuration order.</summary>
    public static IEnumerable<(PipelineConfig Pipeline, MailRoute Route)> RoutesOf(IEnumerable<PipelineConfig> pipelines) =>
        pipelines.Where(p => p.Source.Options is MailSourceOptions).SelectMany(p => ((MailSourceOptions)p.Source.Options).Routes.Select(r => (p, r)));

    /// <summary>Whether some route takes this recipient (its pattern, and its token when it has one).</summary>
    public static bool AcceptsRecipient(IEnumerable<PipelineConfig> pipelines, string recipient) =>
        RoutesOf(pipelines).Any(x => MatchRecipient(x.Route, [recipient]).Stage > Stage.Token);

    /// <summary>Routes a message; null when no route of any pipeline takes any of its recipients.</summary>
    public static MailDecision? Route(IEnumerable<PipelineConfig> pipelines, MailFacts facts)
    {
        ArgumentNullException.ThrowIfNull(facts);
        (PipelineConfig Pipeline, MailRoute Route, Stage Stage, string Why)? closest = null;
        foreach (var (pipeline, route) in RoutesOf(pipelines))
        {
            var (stage, why, targets) = Try(route, facts);
            if (targets is not null)
            {
                return new MailDecision(pipeline, targets, null);
            }

            if (stage > Stage.Token && (closest is null || stage > closest.Value.Stage))
            {
                closest = (pipeline, route, stage, why);
            }
        }

        return closest is { } c
            ? new MailDecision(c.Pipeline, null, $"no route takes this message; the closest, route '{c.Route.Name}', {c.Why}")
            : null;
    }

    private static (Stage Stage, string Why, MailTargets? Targets) Try(MailRoute route, MailFacts facts)
    {
        var (stage, captures) = MatchRecipient(route, facts.Recipients);
        if (stage == Stage.Recipient)
        {
            return (stage, $"does not take the recipient ({string.Join(", ", facts.Recipients)}; it takes {route.Recipient})", null);
        }

        if (stage == Stage.Token)
        {
            return (stage, "takes the recipient, but its token does not match", null);
        }

        var addresses = new List<string>();
        if (!string.IsNullOrEmpty(facts.Sender))
        {
            addresses.Add(facts.Sender);
        }

        addresses.AddRange(facts.From);
        if (addresses.Count == 0)
        {
            return (Stage.Sender, "needs a sender, and the message has neither an envelope sender nor a From address", null);
        }

        if (addresses.FirstOrDefault(a => !route.Senders.Any(g => g.IsMatch(a.Trim()))) is { } refused)
        {
            return (Stage.Sender, $"does not take mail from {refused} (senders: {string.Join(", ", route.Senders.Select(g => g.Pattern))})", null);
        }

        if (route.Subject is { } subject)
        {
            if (Match(subject, facts.Subject) is not { } m)
            {
                return (Stage.Subject, $"takes the sender, but the subject '{Shorten(facts.Subject)}' does not match '{subject}'", null);
            }

            AddGroups(subject, m, captures!);
        }

        if (route.Body is { } body)
        {
            if (Match(body, facts.Body()) is not { } m)
            {
                return (Stage.Body, $"takes the sender and the subject, but the body does not match '{body}'", null);
            }

            AddGroups(body, m, captures!);
        }

        var targets = new MailTargets(route.Name, route.Customer.Render(captures!), route.Category.Render(captures!), route.Type.Render(captures!), route.Group.Render(captures!))
        {
            Modules = route.Modules,
            Captures = captures!,
        };
        return (Stage.Matched, "", targets);
    }

    /// <summary>How far the recipients get with a route, and the captures of the first one it takes.</summary>
    private static (Stage Stage, Dictionary<string, string>? Captures) MatchRecipient(MailRoute route, IReadOnlyList<string> recipients)
    {
        var best = Stage.Recipient;
        foreach (var recipient in recipients)
        {
            if (route.Recipient.Match(recipient) is not { } captures)
            {
                continue;
            }

            if (route.Token is { } token && !(captures.TryGetValue(RecipientPattern.TokenCapture, out var given) && SameToken(given, token)))
            {
                best = Stage.Token;
                continue;
            }

            captures.Remove(RecipientPattern.TokenCapture);
            return (Stage.Sender, captures);
        }

        return (best, null);
    }

    /// <summary>Compared in fixed time, so the answer's timing tells nothing about how much of a guess was right.</summary>
    private static bool SameToken(string given, string token) =>
        CryptographicOperations.FixedTimeEquals(SHA256.HashData(Encoding.UTF8.GetBytes(given)), SHA256.HashData(Encoding.UTF8.GetBytes(token)));

    private static System.Text.RegularExpressions.Match? Match(Regex regex, string text)
    {
        try
        {
            var m = regex.Match(text);
            return m.Success ? m : null;
        }
        catch (RegexMatchTimeoutException)
        {
            return null;
        }
    }

    private static void AddGroups(Regex regex, System.Text.RegularExpressions.Match m, Dictionary<string, string> captures)
    {
        foreach (var name in regex.GetGroupNames().Where(n => !char.IsAsciiDigit(n[0])))
        {
            if (m.Groups[name].Success)
            {
                captures[name] = m.Groups[name].Value;
            }
        }
    }

    private static string Shorten(string text) => text.Length <= 120 ? text : text[..117] + "...";
}
