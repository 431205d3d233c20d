namespace Intake.Core.Ports;

/// <summary>One scheduled run of a pipeline, taken by exactly one process.</summary>
public sealed record ScheduledRun(string Pipeline, DateTimeOffset ScheduledFor, string ClaimedBy, DateTimeOffset ClaimedAt);

/// <summary>An operator paused a pipeline: no scheduled runs and no new claims of its loads until it is resumed.</summary>
public sealed record PipelinePause(string Pipeline, string? PausedBy, DateTimeOffset PausedAt);

/// <summary>
/// What the scheduler shares between processes. Several server processes on one catalog each evaluate
/// every schedule; the catalog decides which one fires a given run, so each run happens exactly once.
/// </summary>
public interface IScheduleStore
{
    /// <summary>
    /// Takes the run of <paramref name="pipeline"/> due at <paramref name="scheduledFor"/> for <paramref name="owner"/>.
    /// True for exactly one caller per (pipeline, time), across all processes; false for everyone else.
    /// </summary>
    Task<bool> TryClaimScheduledRunAsync(string pipeline, DateTimeOffset scheduledFor, string owner, CancellationToken cancellationToken);

    /// <summary>The latest run taken for the pipeline, or null when it never ran on a schedule.</summary>
    Task<ScheduledRun?> GetLastScheduledRunAsync(string pipeline, CancellationToken cancellationToken);

    /// <summary>The pipeline's most recent runs, newest first.</summary>
    Task<IReadOnlyList<ScheduledRun>> ListScheduledRunsAsync(string pipeline, int limit, CancellationToken cancellationToken);

    /// <summary>Pauses the pipeline (idempotent: pausing a paused pipeline keeps the first record).</summary>
    Task PausePipelineAsync(string pipeline, string? by, CancellationToken cancellationToken);

    /// <summary>Resumes the pipeline; false when it was not paused.</summary>
    Task<bool> ResumePipelineAsync(string pipeline, CancellationToken cancellationToken);

    Task<IReadOnlyDictionary<string, PipelinePause>> GetPausedPipelinesAsync(CancellationToken cancellationToken);
}
