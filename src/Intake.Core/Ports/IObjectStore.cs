namespace Intake.Core.Ports;

/// <summary>The named areas every store has. User-named areas (raw, springboard, exports) are plain strings too.</summary>
public static class Areas
{
    /// <summary>The original as received; never modified.</summary>
    public const string Inbox = "inbox";
    public const string Work = "work";
    public const string Archive = "archive";
    public const string Error = "error";
}

public sealed record ObjectInfo(string Area, string Key, long Size, string? Sha256, DateTimeOffset LastModified);

/// <summary>
/// An object store: a local directory or an S3-compatible service. Writes are atomic: a reader
/// sees the whole object or nothing, never a partial one.
/// </summary>
public interface IObjectStore
{
    /// <summary>The store's name in configuration.</summary>
    string Name { get; }

    /// <summary>Writes the whole stream, then makes it visible under the key at once. Returns the size and SHA-256 of what was written.</summary>
    Task<ObjectInfo> PutAsync(string area, string key, Stream content, CancellationToken cancellationToken);

    /// <summary>Opens an object for streaming reads; throws <see cref="FileNotFoundException"/> when absent.</summary>
    Task<Stream> OpenReadAsync(string area, string key, CancellationToken cancellationToken);

    Task<ObjectInfo?> StatAsync(string area, string key, CancellationToken cancellationToken);

    IAsyncEnumerable<ObjectInfo> ListAsync(string area, string prefix, CancellationToken cancellationToken);

    /// <summary>Copies, verifies the copy's size and SHA-256, and returns it. Safe to repeat.</summary>
    Task<ObjectInfo> CopyAsync(string fromArea, string fromKey, string toArea, string toKey, CancellationToken cancellationToken);

    /// <summary>Removes an object; absent objects are not an error.</summary>
    Task DeleteAsync(string area, string key, CancellationToken cancellationToken);

    /// <summary>Removes every object under a prefix (the work area of a load); absent is not an error.</summary>
    Task DeletePrefixAsync(string area, string prefix, CancellationToken cancellationToken);

    /// <summary>A human-readable location for messages (a path or an s3:// address).</summary>
    string Describe(string area, string key);
}
