namespace Intake.Core.Ports;

/// <summary>What an API key may do. Each scope includes the ones before it.</summary>
public enum ApiKeyScope
{
    /// <summary>Read its customer's pipelines, loads, tables and watermarks.</summary>
    Read,
    /// <summary>Also act on them: pause, resume, run, re-drive, cancel.</summary>
    Write,
    /// <summary>Write, on every customer's resources.</summary>
    Admin,
}

public static class ApiKeyScopeNames
{
    public static string ToWord(this ApiKeyScope scope) => scope switch
    {
        ApiKeyScope.Read => "read",
        ApiKeyScope.Write => "write",
        ApiKeyScope.Admin => "admin",
        _ => throw new ArgumentOutOfRangeException(nameof(scope), scope, null),
    };

    public static bool TryParse(string? word, out ApiKeyScope scope)
    {
        switch (word)
        {
            case "read": scope = ApiKeyScope.Read; return true;
            case "write": scope = ApiKeyScope.Write; return true;
            case "admin": scope = ApiKeyScope.Admin; return true;
            default: scope = default; return false;
        }
    }
}

/// <summary>
/// A stored API key. The secret itself is never stored: only <see cref="SecretHash"/>, so a copy of the
/// catalog does not give access to the API. <see cref="Id"/> is the public part of the key, used to find the row.
/// </summary>
public sealed record ApiKeyRecord
{
    public required string Id { get; init; }
    /// <summary>Lower-case hex SHA-256 of the whole key as sent by clients.</summary>
    public required string SecretHash { get; init; }
    public required string Customer { get; init; }
    public required ApiKeyScope Scope { get; init; }
    /// <summary>A note for operators (who or what uses the key).</summary>
    public string? Name { get; init; }
    public DateTimeOffset CreatedAt { get; init; }
    public DateTimeOffset? RevokedAt { get; init; }
}

/// <summary>API keys, kept in the catalog so every server process sharing it accepts the same keys.</summary>
public interface IApiKeyStore
{
    /// <summary>Stores a new key; its <c>CreatedAt</c> is set by the store's clock.</summary>
    Task<ApiKeyRecord> CreateApiKeyAsync(ApiKeyRecord key, CancellationToken cancellationToken);

    /// <summary>The key with this id, revoked or not; null when there is none.</summary>
    Task<ApiKeyRecord?> FindApiKeyAsync(string id, CancellationToken cancellationToken);

    /// <summary>Every key, oldest first (revoked ones included, so an operator sees the history).</summary>
    Task<IReadOnlyList<ApiKeyRecord>> ListApiKeysAsync(CancellationToken cancellationToken);

    /// <summary>Revokes the key; false when there is no such key or it was already revoked.</summary>
    Task<bool> RevokeApiKeyAsync(string id, CancellationToken cancellationToken);

    /// <summary>
    /// The web UI's session key ring: every element stored with <see cref="AddSessionKeyAsync"/>, oldest first (XML
    /// text of ASP.NET Core data protection keys and revocations). Shared by every server on the catalog, so a session
    /// cookie one server issued is accepted by the others and after a restart.
    /// </summary>
    Task<IReadOnlyList<string>> ListSessionKeysAsync(CancellationToken cancellationToken);

    /// <summary>Adds one element to the session key ring; elements are never changed or removed.</summary>
    Task AddSessionKeyAsync(string name, string xml, CancellationToken cancellationToken);
}
