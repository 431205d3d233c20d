namespace Intake.Core.Ports;

/// <summary>What <see cref="IRemovableFileSource.DeleteAsync"/> found and did.</summary>
public enum SourceRemoval
{
    /// <summary>The listed version was there and is deleted now.</summary>
    Deleted,

    /// <summary>Nothing is under the key (an earlier attempt deleted it, or someone else did): nothing to do.</summary>
    AlreadyGone,

    /// <summary>
    /// The key holds another version than the one listed (rewritten since): it is left where it is, because it is a
    /// load of its own that discovery registers under its new fingerprint.
    /// </summary>
    Changed,
}

/// <summary>
/// A source that can remove a file once its load is final (<c>source.remove_after</c>): an incoming folder or prefix
/// emptied of what Intake has taken, as the Cubic design moves objects out of incoming.
/// </summary>
/// <remarks>
/// Only the version a load stands for is ever deleted: the fingerprint the listing gave is compared with the file as it
/// is now, so a file rewritten under the same key after its listing stays (it is a new load). Between that comparison
/// and the delete a producer may still rewrite the file; sources with a conditional delete close that window, the
/// others keep it as short as one request. Safe to repeat: a file already gone is <see cref="SourceRemoval.AlreadyGone"/>,
/// so a worker that stopped after the delete but before recording it finds its own effect and carries on.
/// </remarks>
public interface IRemovableFileSource : IFileSource
{
    /// <summary>Deletes the file under <paramref name="key"/> if it is still the version listed with <paramref name="expectedFingerprint"/>.</summary>
    /// <exception cref="Errors.IntakeException">Transient when the source cannot be reached; Config when deleting is not permitted.</exception>
    Task<SourceRemoval> DeleteAsync(string key, string expectedFingerprint, CancellationToken cancellationToken);
}
