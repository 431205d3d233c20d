namespace Intake.Core.Ports;

/// <summary>
/// A source whose files are files on this machine (a local folder): the fetch may hand the listed version to a store
/// on the same file system as a link instead of copying its bytes (<see cref="ILinkingObjectStore"/>).
/// </summary>
public interface ILocalFileSource : IFileSource
{
    /// <summary>
    /// Opens the version a listing offered with <paramref name="fingerprint"/> as a file, as
    /// <see cref="IFileSource.OpenListedAsync"/> does (a later version is refused). The caller owns the stream.
    /// </summary>
    /// <exception cref="Errors.IntakeException">Integrity: the file has changed since it was listed.</exception>
    Task<FileStream> OpenListedFileAsync(string key, string fingerprint, CancellationToken cancellationToken);
}

/// <summary>How a store placed a local file or an object it already held under a new key.</summary>
public enum Placement
{
    /// <summary>The bytes were copied (and hashed while they were written).</summary>
    Copied,

    /// <summary>A copy-on-write clone (FICLONE): a file of its own sharing the blocks until either side is written.</summary>
    Reflinked,

    /// <summary>A second name for the same file (same inode): no byte moved.</summary>
    HardLinked,
}

/// <summary>What a put of a local file or a linking copy wrote, and how.</summary>
public sealed record PlacedObject(ObjectInfo Info, Placement How);

/// <summary>
/// A store on the local file system that can take a file by a reflink or a hard link when it sits on the same file
/// system, and falls back to a verified copy elsewhere. Either way the SHA-256 is computed once, here, and recorded
/// with the object, so later steps (validate, archive, release, audit) read it instead of the file.
/// </summary>
public interface ILinkingObjectStore : IObjectStore
{
    /// <summary>
    /// Stores the open <paramref name="file"/> under the key: a reflink when the file system can clone, else a hard
    /// link when <paramref name="mayHardLink"/> is true or the file is already read-only (a hard link shares the inode,
    /// so a later edit of the file in place would change the stored object too), else a copy. A linked object is made
    /// read-only (mode 0444), which for a hard link is the file's own mode.
    /// </summary>
    Task<PlacedObject> PutFileAsync(string area, string key, FileStream file, bool mayHardLink, CancellationToken cancellationToken);

    /// <summary>
    /// <see cref="IObjectStore.CopyAsync"/> that says how: a read-only object (the inbox original) is linked (reflink,
    /// else hard link: it never changes in place, so sharing it is safe) and its recorded SHA-256 carried over without
    /// reading it; anything else is copied and verified while it is written.
    /// </summary>
    Task<PlacedObject> PlaceCopyAsync(string fromArea, string fromKey, string toArea, string toKey, CancellationToken cancellationToken);
}
