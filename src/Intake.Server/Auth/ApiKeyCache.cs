using System.Collections.Concurrent;
using Intake.Core.Ports;

namespace Intake.Server.Auth;

/// <summary>
/// Keys looked up in the catalog, kept for a short time: under load most requests then cost one catalog
/// query instead of two. Unknown ids are not cached (a client guessing ids must not fill memory), and the
/// secret is still checked against the stored hash on every request.
/// </summary>
public sealed class ApiKeyCache
{
    private readonly IApiKeyStore _store;
    private readonly TimeProvider _time;
    private readonly TimeSpan _ttl;
    private readonly ConcurrentDictionary<string, (ApiKeyRecord Record, long At)> _entries = new(StringComparer.Ordinal);

    public ApiKeyCache(IApiKeyStore store, TimeProvider time, TimeSpan ttl)
    {
        _store = store;
        _time = time;
        _ttl = ttl;
    }

    public async Task<ApiKeyRecord?> FindAsync(string id, CancellationToken cancellationToken)
    {
        if (_ttl > TimeSpan.Zero && _entries.TryGetValue(id, out var entry) && _time.GetElapsedTime(entry.At) < _ttl)
        {
            return entry.Record;
        }

        var record = await _store.FindApiKeyAsync(id, cancellationToken);
        if (record is null || _ttl <= TimeSpan.Zero)
        {
            _entries.TryRemove(id, out _);
        }
        else
        {
            _entries[id] = (record, _time.GetTimestamp());
        }

        return record;
    }
}
