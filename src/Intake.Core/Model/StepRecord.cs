using Intake.Core.Errors;

namespace Intake.Core.Model;

public enum StepOutcome
{
    Running,
    Succeeded,
    Failed,
}

/// <summary>One row per step attempt, append-only (the COLD importer's status tables, generalised).</summary>
public sealed record StepRecord
{
    public long Id { get; init; }
    public long LoadId { get; init; }
    public required string Step { get; init; }
    public int Attempt { get; init; }
    public DateTimeOffset StartedAt { get; init; }
    public DateTimeOffset? FinishedAt { get; init; }
    public StepOutcome Outcome { get; init; }
    public ErrorKind? ErrorKind { get; init; }
    public string? Message { get; init; }
    /// <summary>The replaced system's name for this failure (e.g. <c>FTPServerNetworkDownloadException</c>), only for pipelines that ask for one (<c>error_codes</c>).</summary>
    public string? ErrorCode { get; init; }
    public long? RowsIn { get; init; }
    public long? RowsOut { get; init; }
    /// <summary>Rows the step deliberately did not pass on, the reason in <see cref="Message"/>.</summary>
    public long? RowsRejected { get; init; }
    public long? BytesIn { get; init; }
    public long? BytesOut { get; init; }
    /// <summary>Output locations, one per line (area:key, or table name).</summary>
    public IReadOnlyList<string> Outputs { get; init; } = [];
    public string? Worker { get; init; }

    /// <summary>How the message of an attempt that held its load starts (<see cref="StepResult.Held"/>).</summary>
    public const string HeldPrefix = "held: ";

    /// <summary>
    /// The attempt found its load not yet eligible and held it (recorded as failed without an error kind, the reason
    /// in <see cref="Message"/>): not a failure to show or count as one.
    /// </summary>
    public bool WasHeld => Outcome == StepOutcome.Failed && ErrorKind is null && Message?.StartsWith(HeldPrefix, StringComparison.Ordinal) == true;
}

/// <summary>How a step attempt ended.</summary>
public sealed record StepResult
{
    public StepOutcome Outcome { get; init; } = StepOutcome.Succeeded;
    public ErrorKind? ErrorKind { get; init; }
    public string? Message { get; init; }
    /// <summary>The replaced system's name for this failure (e.g. <c>FTPServerNetworkDownloadException</c>), only for pipelines that ask for one (<c>error_codes</c>).</summary>
    public string? ErrorCode { get; init; }
    public long? RowsIn { get; init; }
    public long? RowsOut { get; init; }
    /// <summary>Rows the step deliberately did not pass on, the reason in <see cref="Message"/>.</summary>
    public long? RowsRejected { get; init; }
    public long? BytesIn { get; init; }
    public long? BytesOut { get; init; }
    public IReadOnlyList<string> Outputs { get; init; } = [];

    /// <summary>Where the step put the original in the inbox area (the fetch); the worker records it on the load at once.</summary>
    public string? InboxKey { get; init; }

    /// <summary>
    /// Set when the step found the load not yet eligible (a prerequisite has not arrived): the worker records the
    /// attempt as failed with this reason and moves the load to <c>held</c> with it; the step runs again once the
    /// load is released (<c>held → ready</c>).
    /// </summary>
    public string? HeldReason { get; init; }

    /// <summary>The load must wait: see <see cref="HeldReason"/>.</summary>
    public static StepResult Held(string reason) => new() { Outcome = StepOutcome.Failed, Message = StepRecord.HeldPrefix + reason, HeldReason = reason };

    public static StepResult Failed(ErrorKind kind, string message) => new() { Outcome = StepOutcome.Failed, ErrorKind = kind, Message = message };
}

public static class StepOutcomeNames
{
    public static string ToWord(this StepOutcome o) => o switch
    {
        StepOutcome.Running => "running",
        StepOutcome.Succeeded => "succeeded",
        StepOutcome.Failed => "failed",
        _ => throw new ArgumentOutOfRangeException(nameof(o)),
    };

    public static StepOutcome Parse(string word) => word switch
    {
        "running" => StepOutcome.Running,
        "succeeded" => StepOutcome.Succeeded,
        "failed" => StepOutcome.Failed,
        _ => throw new ArgumentException($"unknown step outcome '{word}'", nameof(word)),
    };
}

/// <summary>The step record a worker starts as it finishes the one before (<c>ICatalog.FinishAndStartStepAsync</c>).</summary>
public sealed record NextStep
{
    public required long LoadId { get; init; }
    public required string Step { get; init; }
    public required int Attempt { get; init; }
    public string? Worker { get; init; }
    /// <summary>Where the original now sits in the inbox, recorded with the hand-over while <see cref="Worker"/> holds the load; null to leave the load's key alone.</summary>
    public string? InboxKey { get; init; }
}

/// <summary>
/// The end of a worker's stage (<c>ICatalog.EndStageAsync</c>): the last step's record, if its end was left for this
/// call, the load's move out of its working status, and optionally the same worker taking the load on into the next
/// stage, all in one transaction.
/// </summary>
public sealed record StageEnd
{
    public required long LoadId { get; init; }
    public required LoadStatus From { get; init; }
    public required LoadStatus To { get; init; }
    /// <summary>The worker holding the lease: the move is a compare-and-set on it (<see cref="TransitionDetails.LeaseOwner"/> is this).</summary>
    public required string Worker { get; init; }
    /// <summary>The error, held reason or inbox key the move records, as <c>ICatalog.TransitionAsync</c> does.</summary>
    public TransitionDetails? Details { get; init; }
    /// <summary>The running record of the stage's last step whose success this call records; null when there is none.</summary>
    public long? StepId { get; init; }
    /// <summary>That record's result (required with <see cref="StepId"/>).</summary>
    public StepResult? Result { get; init; }
    /// <summary>
    /// When set and <see cref="To"/> is a status workers claim from, the same worker claims the load at once into its
    /// working status with a lease this long, in the same transaction (no other worker's claim in between, no second
    /// claim statement); null to leave the load waiting for any worker.
    /// </summary>
    public TimeSpan? CarryOnLease { get; init; }
    /// <summary>
    /// Step attempts that ran and finished before any record of them was written (a small load's steps): written whole,
    /// attributed to <see cref="Worker"/>, in the same transaction and only if the move is.
    /// </summary>
    public IReadOnlyList<FinishedStep> Done { get; init; } = [];
}

/// <summary>
/// A step attempt written once it has finished, with its start time: a small load's steps are recorded together when
/// their stage ends (or a step fails) instead of one commit at each start and end.
/// </summary>
public sealed record FinishedStep(string Step, int Attempt, DateTimeOffset StartedAt, DateTimeOffset FinishedAt, StepResult Result);
