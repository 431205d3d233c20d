namespace Intake.Core.Ports;

/// <summary>
/// Where a long-running step keeps its progress inside one load (the HTTP pull's cursor, part number and
/// record count), so a worker that takes the load over after a crash resumes from the last completed part
/// instead of from the beginning. The state is an opaque text (JSON) owned by the step; one per (load, step).
/// </summary>
public interface ICheckpointStore
{
    /// <summary>The state saved last for this load and step, or null when there is none.</summary>
    Task<string?> GetCheckpointAsync(long loadId, string step, CancellationToken cancellationToken);

    /// <summary>Replaces the state for this load and step (insert or update, one row).</summary>
    Task SaveCheckpointAsync(long loadId, string step, string state, CancellationToken cancellationToken);

    /// <summary>Forgets the state, so the next run starts from the beginning; absent is not an error.</summary>
    Task DeleteCheckpointAsync(long loadId, string step, CancellationToken cancellationToken);
}
