namespace Intake.Core.Ports;

/// <summary>
/// A file source Intake may also write into: a receiver (the batcher of a stream) drops a complete file there, and
/// the pipeline that reads the source discovers it like any other file. Implemented by the sources whose place is
/// Intake's to write (a local folder, an S3 prefix); a source that only reads someone else's server is never one.
/// </summary>
/// <remarks>
/// What the stream batcher relies on, and what every implementation's tests check:
/// <list type="bullet">
/// <item>A file appears whole or not at all: a listing never offers it half-written.</item>
/// <item><see cref="WriteAsync"/> returns only once the file is durable (fsynced, or acknowledged by the service).</item>
/// <item>Writing the same content under the same key with the same <c>written</c> time again (a batch re-sent after a
/// crash) leaves the source offering the file with the same fingerprint, so discovery counts it as seen and never
/// registers a second load.</item>
/// </list>
/// </remarks>
public interface IFileDrop
{
    /// <summary>
    /// Whether a file written under <paramref name="key"/> would be listed by this source: the include and exclude
    /// patterns take it, and it is not a name the source never offers (hidden or temporary names).
    /// </summary>
    bool Offers(string key);

    /// <summary>Writes <paramref name="content"/> as the complete file <paramref name="key"/>, replacing one already there.</summary>
    /// <param name="key">Relative path with forward slashes, as the source lists it.</param>
    /// <param name="content">The whole file, read to its end.</param>
    /// <param name="written">
    /// The time the file stands for (a batch's seal time). A source whose fingerprint holds the modification time
    /// stamps the file with it, so writing the same content again gives the same fingerprint.
    /// </param>
    /// <param name="cancellationToken">Stops the write; a file cut short is never made visible.</param>
    Task WriteAsync(string key, Stream content, DateTimeOffset written, CancellationToken cancellationToken);
}
