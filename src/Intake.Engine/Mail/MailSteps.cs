using System.Globalization;
using System.Text.Json;
using Intake.Core.Errors;
using Intake.Core.Model;
using Intake.Core.Ports;
using Intake.Engine.Steps;

namespace Intake.Engine.Mail;

/// <summary>
/// <c>receive</c>, a mail pipeline's first step. The receiver records it with the load, in one transaction, as the message
/// arrives (the message is in the inbox before the load exists); a worker runs it only for a load registered without that
/// record (by a version of Intake before the two were one transaction): it finds the original through the message's
/// arrival and records it.
/// </summary>
public sealed class ReceiveStep : IStep
{
    public string Name => MailSlice.Receive.Name;

    public async Task<StepResult> RunAsync(StepContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        var arrival = await MailStepSupport.ArrivalAsync(context, cancellationToken);
        if (await context.Store.StatAsync(Areas.Inbox, arrival.InboxKey, cancellationToken) is null)
        {
            throw IntakeException.Integrity($"load {context.Load.Id}: the message is not in the inbox at {context.Store.Describe(Areas.Inbox, arrival.InboxKey)}, where its arrival says it was put");
        }

        return Result(arrival, "recorded by the worker (the load was registered without it)");
    }

    /// <summary>The receive step's record: the envelope, where the original is, and what routing said.</summary>
    public static StepResult Result(MailArrival arrival, string routing)
    {
        ArgumentNullException.ThrowIfNull(arrival);
        var message = string.Create(CultureInfo.InvariantCulture,
            $"from {(string.IsNullOrEmpty(arrival.Sender) ? "<>" : arrival.Sender)} to {string.Join(", ", arrival.Recipients)}{(arrival.MessageId is null ? "" : $", Message-ID <{arrival.MessageId}>")}, received {arrival.ReceivedAt:yyyy-MM-dd HH:mm:ss}Z; {routing}");
        return new StepResult
        {
            BytesIn = arrival.Size,
            BytesOut = arrival.Size,
            Outputs = [$"{Areas.Inbox}:{arrival.InboxKey}"],
            InboxKey = arrival.InboxKey,
            Message = message,
        };
    }
}

/// <summary>
/// <c>route</c>: matches the message to the pipeline's routes as they are configured now, so a message that no route took
/// when it arrived (its load errored, kind <c>config</c>, with the reason) is routed by a re-drive once the routes are
/// fixed. The original is copied (verified) to its route's folder in the inbox when it is not there yet, and that key is
/// recorded as the load's; the first copy stays where it was put, as the inbox is never modified.
/// </summary>
public sealed class RouteStep : IStep
{
    public string Name => MailSlice.Route.Name;

    public async Task<StepResult> RunAsync(StepContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        var arrival = await MailStepSupport.ArrivalAsync(context, cancellationToken);
        var store = context.Store;
        var current = context.Load.InboxKey ?? arrival.InboxKey;

        MailDecision? decision;
        await using (var original = await store.OpenReadAsync(Areas.Inbox, current, cancellationToken))
        {
            using var spool = await MailSpool.CopyAsync(original, long.MaxValue, null, cancellationToken);
            using var parsed = await spool.ParseAsync(cancellationToken);
            decision = MailRouter.Route([context.Pipeline], MailMessages.Facts(parsed, arrival.Sender, arrival.Recipients));
        }

        var fix = $"the message stays at {store.Describe(Areas.Inbox, current)}; fix routes: in {context.Pipeline.File}, then re-drive load {context.Load.Id.ToString(CultureInfo.InvariantCulture)}";
        if (decision is null)
        {
            throw IntakeException.Config($"no route of pipeline {context.Pipeline.Name} takes its recipient ({string.Join(", ", arrival.Recipients)}) any more; {fix}");
        }

        if (decision.Targets is not { } targets)
        {
            throw IntakeException.Config($"{decision.Problem}; {fix}");
        }

        var key = MailLayout.MessageKey(MailLayout.Folder(targets, arrival.ReceivedAt, arrival.Sha256));
        var note = "";
        if (key != current)
        {
            if (await store.StatAsync(Areas.Inbox, key, cancellationToken) is null)
            {
                await store.CopyAsync(Areas.Inbox, current, Areas.Inbox, key, cancellationToken);
            }

            note = $" (copied from {current})";
        }

        return new StepResult { Message = targets + note, Outputs = RouteRecord.Outputs(key, targets), InboxKey = key, BytesIn = arrival.Size };
    }
}

/// <summary>
/// What the <c>route</c> step records of its decision, in its outputs, for the steps after it: a load's modules and their
/// values come from this record, never from routing again (the routes may have changed since; a re-drive of a later step
/// keeps the route the message was given).
/// </summary>
/// <remarks>
/// <c>inbox:&lt;key&gt;</c>, <c>route:&lt;name&gt;</c>, <c>target:&lt;customer&gt;/&lt;category&gt;/&lt;type&gt;/&lt;group&gt;</c> (each a safe folder
/// name, so the '/' separates them), one <c>module:&lt;name&gt;</c> per module the route names, and
/// <c>captures:&lt;JSON object&gt;</c> when the route captured values (JSON, because a captured value is the sender's text).
/// </remarks>
internal static class RouteRecord
{
    private const string RoutePrefix = "route:";
    private const string TargetPrefix = "target:";
    private const string ModulePrefix = "module:";
    private const string CapturesPrefix = "captures:";

    public static IReadOnlyList<string> Outputs(string inboxKey, MailTargets targets)
    {
        var outputs = new List<string> { $"{Areas.Inbox}:{inboxKey}", RoutePrefix + targets.Route, TargetPrefix + targets.Folders };
        outputs.AddRange(targets.Modules.Select(m => ModulePrefix + m));
        if (targets.Captures.Count > 0)
        {
            outputs.Add(CapturesPrefix + JsonSerializer.Serialize(targets.Captures.OrderBy(c => c.Key, StringComparer.Ordinal).ToDictionary(c => c.Key, c => c.Value)));
        }

        return outputs;
    }

    /// <summary>The decision in the load's last successful <c>route</c> record; null when it has none.</summary>
    public static async Task<MailTargets?> FindAsync(StepContext context, CancellationToken cancellationToken)
    {
        var steps = await context.Catalog.GetStepsAsync(context.Load.Id, cancellationToken);
        if (steps.LastOrDefault(s => s.Step == MailSlice.Route.Name && s.Outcome == StepOutcome.Succeeded) is not { } record)
        {
            return null;
        }

        string? Value(string prefix) => record.Outputs.FirstOrDefault(o => o.StartsWith(prefix, StringComparison.Ordinal))?[prefix.Length..];
        var folders = (Value(TargetPrefix) ?? "").Split('/');
        var captures = Value(CapturesPrefix) is { } json
            ? JsonSerializer.Deserialize<Dictionary<string, string>>(json) ?? []
            : [];

        // A record written before target: was recorded has the folders only in its inbox key; its values then stay the pipeline's.
        return new MailTargets(
            Value(RoutePrefix) ?? "",
            folders.Length == 4 ? folders[0] : "",
            folders.Length == 4 ? folders[1] : "",
            folders.Length == 4 ? folders[2] : "",
            folders.Length == 4 ? folders[3] : "")
        {
            Modules = [.. record.Outputs.Where(o => o.StartsWith(ModulePrefix, StringComparison.Ordinal)).Select(o => o[ModulePrefix.Length..])],
            Captures = new Dictionary<string, string>(captures, StringComparer.Ordinal),
        };
    }
}

internal static class MailStepSupport
{
    /// <summary>The arrival of the load's message (its envelope and first inbox key).</summary>
    public static async Task<MailArrival> ArrivalAsync(StepContext context, CancellationToken cancellationToken)
    {
        var load = context.Load;
        var sha = MailArrivals.Sha256Of(load.Fingerprint)
            ?? throw IntakeException.Config($"load {load.Id} ({load.SourceKey}) was not received as mail: its fingerprint is not a message's SHA-256");
        return await MailArrivals.FindAsync(context.Store, load.Pipeline, sha, cancellationToken)
            ?? throw IntakeException.Integrity($"load {load.Id}: the arrival of its message is missing ({context.Store.Describe(MailArrivals.Area, MailArrivals.Key(load.Pipeline, sha))})");
    }
}
