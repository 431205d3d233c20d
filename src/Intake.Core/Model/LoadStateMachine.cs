namespace Intake.Core.Model;

/// <summary>
/// The one table of allowed status transitions. Every status change in Intake is checked here
/// first and then applied by the catalog with compare-and-set on the expected status, so a
/// worker that lost a race changes nothing.
/// </summary>
public static class LoadStateMachine
{
    private static readonly Dictionary<LoadStatus, LoadStatus[]> Allowed = new()
    {
        // claimed by an ingest worker; held when a prerequisite is missing
        [LoadStatus.Ready] = [LoadStatus.Ingesting, LoadStatus.Held],
        // all steps done / a step failed for good / lease expired or transient failure: back to ready /
        // a step found a prerequisite missing (a change file before its snapshot): held with the reason
        [LoadStatus.Ingesting] = [LoadStatus.ReadyForArchiving, LoadStatus.ReadyForErroring, LoadStatus.Ready, LoadStatus.Held],
        [LoadStatus.ReadyForArchiving] = [LoadStatus.Archiving],
        // lease expired while archiving: hand it back to the archive pool
        [LoadStatus.Archiving] = [LoadStatus.Archived, LoadStatus.ReadyForArchiving, LoadStatus.ReadyForErroring],
        [LoadStatus.ReadyForErroring] = [LoadStatus.Erroring],
        [LoadStatus.Erroring] = [LoadStatus.Errored, LoadStatus.ReadyForErroring],
        // re-drive: an operator sends a failed load through the steps again
        [LoadStatus.Errored] = [LoadStatus.Ready],
        // re-drive of a finished load (e.g. after a fix to a transform) is explicit too
        [LoadStatus.Archived] = [LoadStatus.Ready],
        [LoadStatus.Held] = [LoadStatus.Ready, LoadStatus.ReadyForErroring],
    };

    /// <summary>Statuses in which a worker holds a lease on the load.</summary>
    public static bool IsWorking(LoadStatus s) => s is LoadStatus.Ingesting or LoadStatus.Archiving or LoadStatus.Erroring;

    /// <summary>Statuses after which nothing happens without an operator.</summary>
    public static bool IsFinal(LoadStatus s) => s is LoadStatus.Archived or LoadStatus.Errored;

    /// <summary>
    /// Whether an operator may send the load through its steps again: only when no worker holds it and it is
    /// not already waiting (<c>ingesting → ready</c> is in the table for lease expiry, not for operators).
    /// </summary>
    public static bool CanRedrive(LoadStatus status) => status is LoadStatus.Errored or LoadStatus.Held or LoadStatus.Archived;

    public static bool CanTransition(LoadStatus from, LoadStatus to) =>
        Allowed.TryGetValue(from, out var targets) && Array.IndexOf(targets, to) >= 0;

    /// <summary>Throws when the transition is not in the table: a programming error, not a race.</summary>
    public static void EnsureCanTransition(LoadStatus from, LoadStatus to)
    {
        if (!CanTransition(from, to))
        {
            throw new InvalidOperationException($"a load cannot go from '{from.ToWord()}' to '{to.ToWord()}'");
        }
    }

    /// <summary>The working status a claim moves a waiting status into, and back when a lease expires.</summary>
    public static LoadStatus WorkingStatusFor(LoadStatus waiting) => waiting switch
    {
        LoadStatus.Ready => LoadStatus.Ingesting,
        LoadStatus.ReadyForArchiving => LoadStatus.Archiving,
        LoadStatus.ReadyForErroring => LoadStatus.Erroring,
        _ => throw new ArgumentException($"'{waiting.ToWord()}' is not a status workers claim from", nameof(waiting)),
    };

    public static LoadStatus WaitingStatusFor(LoadStatus working) => working switch
    {
        LoadStatus.Ingesting => LoadStatus.Ready,
        LoadStatus.Archiving => LoadStatus.ReadyForArchiving,
        LoadStatus.Erroring => LoadStatus.ReadyForErroring,
        _ => throw new ArgumentException($"'{working.ToWord()}' is not a working status", nameof(working)),
    };
}
