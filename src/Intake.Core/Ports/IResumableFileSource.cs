namespace Intake.Core.Ports;

/// <summary>
/// A source whose downloads survive a dropped connection: the stream reconnects and continues from the
/// bytes already read, and ends only once <c>expectedSize</c> bytes have arrived (else it throws), so the
/// caller can copy it into an atomic write without ever keeping a short file.
/// </summary>
public interface IResumableFileSource : IFileSource
{
    Task<Stream> OpenResumableReadAsync(string key, long expectedSize, CancellationToken cancellationToken);
}
