namespace Intake.Core.Ports;

/// <summary>
/// One file a source offers: its key (the path relative to the source root, with '/'), and a
/// fingerprint that changes whenever the file does, so discovery loads a changed file again under the
/// same key and never loads an unchanged one twice.
/// </summary>
/// <param name="Key">Relative path with forward slashes, e.g. <c>2026/01/data.csv</c>.</param>
/// <param name="Size">Size in bytes when listed.</param>
/// <param name="Modified">Last modification time as the source reports it.</param>
/// <param name="Fingerprint">Opaque, stable for an unchanged file, e.g. <c>size:123;mtime:1767225600000</c>.</param>
public sealed record SourceFile(string Key, long Size, DateTimeOffset Modified, string Fingerprint);

/// <summary>
/// A place that holds files to ingest: a local directory, an FTP or SFTP folder, an S3 prefix. All of
/// them list and open the same way, so discovery and the fetch step do not care which one they face.
/// </summary>
/// <remarks>
/// What discovery and the fetch step rely on, and what the file-source compliance suite checks on every
/// implementation: keys are relative paths with '/', filtered by the source's include and exclude patterns;
/// a file still being written is not listed (the stable-file rule, or an upload that only appears whole);
/// a file rewritten under the same key is listed with a new fingerprint; reading a key that is gone throws
/// <see cref="FileNotFoundException"/>; and a read whose connection drops never ends early as if the file
/// were shorter: it resumes (<see cref="IResumableFileSource"/>, or inside the stream) or throws.
/// </remarks>
public interface IFileSource
{
    /// <summary>
    /// Lists the files that are ready to be taken now, ordered by key. A file still being written is
    /// left out until it is complete, so a listing never offers a half-uploaded file.
    /// </summary>
    IAsyncEnumerable<SourceFile> ListAsync(CancellationToken cancellationToken);

    /// <summary>Opens a listed file for streaming reads; throws <see cref="FileNotFoundException"/> when it is gone.</summary>
    Task<Stream> OpenReadAsync(string key, CancellationToken cancellationToken);

    /// <summary>
    /// Opens the version of a file that a listing offered with <paramref name="fingerprint"/>, and refuses a later one: a
    /// load stands for one version, and a file rewritten since its listing is a load of its own, so reading the new
    /// content under the old load would load that content twice. A source that cannot tell versions apart opens the
    /// file as it is now (the default).
    /// </summary>
    /// <exception cref="Errors.IntakeException">Integrity: the file has changed since it was listed.</exception>
    Task<Stream> OpenListedAsync(string key, string fingerprint, CancellationToken cancellationToken) => OpenReadAsync(key, cancellationToken);

    /// <summary>A human-readable location of a file for messages (a path or a URL).</summary>
    string Describe(string key);
}
