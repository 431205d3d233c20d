using System.Globalization;
using Intake.Core.Errors;
using Intake.Core.Model;
using Intake.Core.Ports;
using Intake.Engine.Steps;

namespace Intake.Engine.Mail;

/// <summary>
/// <c>receive</c>, a mail pipeline's first step. The receiver records it as the message arrives (the message is in the
/// inbox before the load exists); a worker runs it only when that record is missing (the receiver stopped between
/// registering the load and recording the step): it finds the original through the message's arrival and records it.
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

        return Result(arrival, "recorded by the worker (the receiver stopped before recording it)");
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

        var outputs = new List<string> { $"{Areas.Inbox}:{key}", $"route:{targets.Route}" };
        if (targets.Module is { } module)
        {
            outputs.Add($"module:{module}");
        }

        return new StepResult { Message = targets + note, Outputs = outputs, InboxKey = key, BytesIn = arrival.Size };
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
