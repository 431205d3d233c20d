using Intake.Core.Errors;
using Intake.Core.Model;
using Intake.Core.Ports;

namespace Intake.Engine.Operations;

/// <summary>How an operator action on a load ended.</summary>
public enum ActionOutcome
{
    /// <summary>The load moved; <see cref="ActionResult.Load"/> is the load as the action left it.</summary>
    Done,
    /// <summary>The load's status does not allow the action; nothing changed.</summary>
    NotAllowed,
    /// <summary>The load changed status while the action ran (a worker or another operator got there first); nothing changed.</summary>
    Raced,
}

/// <param name="Outcome">Whether the action happened.</param>
/// <param name="Load">The load as the action left it (or as it was, when nothing changed).</param>
/// <param name="Reason">Why nothing changed, in words for the operator; null when done.</param>
public sealed record ActionResult(ActionOutcome Outcome, Load Load, string? Reason)
{
    public bool Done => Outcome == ActionOutcome.Done;
}

/// <summary>
/// The operator's actions on a load, written once for every host: the CLI, the REST API and the web UI call
/// these and only turn the result into their own output. Each action is one compare-and-set transition, so an
/// action that races a worker changes nothing and says so.
/// </summary>
public sealed class LoadActions(ICatalog catalog, TimeProvider time)
{
    /// <summary>
    /// Sends an errored, held or archived load through its steps again: back to <c>ready</c> with its error
    /// cleared and its attempts reset. It resumes at its first step without a success.
    /// </summary>
    public async Task<ActionResult> RedriveAsync(Load load, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(load);
        // Not CanTransition(status, ready): ingesting → ready exists too (a lease handed back), but re-driving a load a worker holds is not allowed.
        if (!LoadStateMachine.CanRedrive(load.Status))
        {
            return new(ActionOutcome.NotAllowed, load, $"load {load.Id} is {load.Status.ToWord()}; only errored, held or archived loads can be re-driven");
        }

        if (!await catalog.TransitionAsync(load.Id, load.Status, LoadStatus.Ready, new TransitionDetails { ClearError = true, ResetAttempts = true }, cancellationToken))
        {
            return Raced(load, "re-driving");
        }

        return new(ActionOutcome.Done, load with
        {
            Status = LoadStatus.Ready, ErrorKind = null, ErrorMessage = null, ErrorCode = null, HeldReason = null, Attempts = 0,
            LeaseOwner = null, LeaseExpiresAt = null, UpdatedAt = time.GetUtcNow(),
        }, null);
    }

    /// <summary>Keeps a ready load from being claimed, with the reason, until it is re-driven.</summary>
    public async Task<ActionResult> HoldAsync(Load load, string reason, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(load);
        ArgumentException.ThrowIfNullOrWhiteSpace(reason);
        if (load.Status != LoadStatus.Ready)
        {
            return new(ActionOutcome.NotAllowed, load, $"load {load.Id} is {load.Status.ToWord()}; only ready loads can be held");
        }

        if (!await catalog.TransitionAsync(load.Id, LoadStatus.Ready, LoadStatus.Held, new TransitionDetails { HeldReason = reason }, cancellationToken))
        {
            return Raced(load, "holding");
        }

        return new(ActionOutcome.Done, load with { Status = LoadStatus.Held, HeldReason = reason, UpdatedAt = time.GetUtcNow() }, null);
    }

    /// <summary>
    /// Stops a load: a ready one is held; an ingesting one fails as transient, so the worker holding it loses its
    /// lease (compare-and-set on the owner seen) and stops at its next heartbeat, and its original goes to the error area.
    /// </summary>
    /// <param name="load">The load as the caller last saw it.</param>
    /// <param name="who">Who cancels, in words ("cancelled through the API by key 12"), recorded on the load.</param>
    /// <param name="cancellationToken">Stops the catalog call.</param>
    public async Task<ActionResult> CancelAsync(Load load, string who, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(load);
        switch (load.Status)
        {
            case LoadStatus.Ready:
                var held = await HoldAsync(load, who, cancellationToken);
                return held.Outcome == ActionOutcome.Raced ? Raced(load, "cancelling") : held;
            case LoadStatus.Ingesting:
                var message = who + " while ingesting";
                if (!await catalog.TransitionAsync(load.Id, LoadStatus.Ingesting, LoadStatus.ReadyForErroring,
                        new TransitionDetails { LeaseOwner = load.LeaseOwner, ErrorKind = ErrorKind.Transient, ErrorMessage = message }, cancellationToken))
                {
                    return Raced(load, "cancelling");
                }

                return new(ActionOutcome.Done, load with
                {
                    Status = LoadStatus.ReadyForErroring, ErrorKind = ErrorKind.Transient, ErrorMessage = message,
                    LeaseOwner = null, LeaseExpiresAt = null, UpdatedAt = time.GetUtcNow(),
                }, null);
            default:
                return new(ActionOutcome.NotAllowed, load, $"load {load.Id} is {load.Status.ToWord()}; only ready or ingesting loads can be cancelled");
        }
    }

    private static ActionResult Raced(Load load, string doing) =>
        new(ActionOutcome.Raced, load, $"load {load.Id} changed status while {doing}; nothing was done, look at it again");
}
