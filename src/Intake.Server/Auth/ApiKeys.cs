using System.Security.Cryptography;
using System.Text;
using Intake.Core.Ports;

namespace Intake.Server.Auth;

/// <summary>A newly made key: <see cref="Key"/> is shown to the user once and never stored.</summary>
public sealed record CreatedApiKey(string Key, ApiKeyRecord Record);

/// <summary>
/// The key format and its checks. A key reads <c>ik_&lt;id&gt;_&lt;secret&gt;</c>: the id (public, 12 hex
/// characters) finds the row; the secret is 32 random bytes. The catalog keeps the SHA-256 of the whole key;
/// a slow password hash is not needed because the secret has 256 bits of entropy, not a human's choice.
/// </summary>
public static class ApiKeys
{
    private const string Prefix = "ik_";

    public static async Task<CreatedApiKey> CreateAsync(IApiKeyStore store, string customer, ApiKeyScope scope, string? name, CancellationToken cancellationToken)
    {
        var id = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6));
        var secret = Base64Url(RandomNumberGenerator.GetBytes(32));
        var key = $"{Prefix}{id}_{secret}";
        var record = await store.CreateApiKeyAsync(new ApiKeyRecord { Id = id, SecretHash = Hash(key), Customer = customer, Scope = scope, Name = name }, cancellationToken);
        return new CreatedApiKey(key, record);
    }

    /// <summary>The id part of a well-formed key; null for anything else (never throws on client input).</summary>
    public static string? IdOf(string key)
    {
        if (!key.StartsWith(Prefix, StringComparison.Ordinal) || key.Length > 200)
        {
            return null;
        }

        var rest = key.AsSpan(Prefix.Length);
        var underscore = rest.IndexOf('_');
        return underscore == 12 ? rest[..underscore].ToString() : null;
    }

    /// <summary>Lower-case hex SHA-256 of the key's UTF-8 bytes.</summary>
    public static string Hash(string key) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)));

    /// <summary>Whether <paramref name="key"/> is the one <paramref name="record"/> was made for, in time independent of where they differ.</summary>
    public static bool Matches(string key, ApiKeyRecord record)
    {
        Span<byte> computed = stackalloc byte[32];
        SHA256.HashData(Encoding.UTF8.GetBytes(key), computed);
        Span<byte> stored = stackalloc byte[32];
        if (record.SecretHash.Length != 64 || Convert.FromHexString(record.SecretHash, stored, out _, out var written) != System.Buffers.OperationStatus.Done || written != 32)
        {
            return false;
        }

        return CryptographicOperations.FixedTimeEquals(computed, stored);
    }

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
