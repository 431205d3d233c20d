using Intake.Core.Ports;
using Intake.Server.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Intake.Server.Auth;

/// <summary>Set on a request whose key was refused, so the 401 can say so (<c>error="invalid_token"</c>).</summary>
public sealed record RejectedKey(string Reason);

/// <summary>
/// Reads the key from <c>X-Api-Key</c> or <c>Authorization: Bearer</c> and, when it is valid and not revoked,
/// attaches the <see cref="Caller"/> to the request. It never rejects by itself: the rate limiter runs next
/// (so guessing keys is rate-limited too, per client address), then the API's endpoint filter answers 401.
/// The key is compared exactly as sent: nothing around it (a no-break space, a form feed) is trimmed, so a key
/// works only when it is the key. The secret is never logged; a refused key's line carries its public id and
/// the client's address.
/// </summary>
public sealed class ApiKeyMiddleware
{
    private readonly RequestDelegate _next;

    public ApiKeyMiddleware(RequestDelegate next) => _next = next;

    /// <summary>
    /// Where a key is read: the API and, when it is protected, <c>/metrics</c>. Routes match in any case, so
    /// this check does too: <c>/API/V1/LOADS</c> is the same endpoint as <c>/api/v1/loads</c>.
    /// </summary>
    internal static bool TakesAKey(PathString path, ServerOptions options) =>
        path.StartsWithSegments("/api", StringComparison.OrdinalIgnoreCase)
        || (options.MetricsNeedAdminKey && path.StartsWithSegments("/metrics", StringComparison.OrdinalIgnoreCase))
        || Ui.UiSession.Applies(path);

    public async Task InvokeAsync(HttpContext context, ServerState state)
    {
        // The web UI's pages carry the key in their session cookie instead of a header; it is checked the same way.
        var key = !TakesAKey(context.Request.Path, state.Options) ? null
            : Ui.UiSession.Applies(context.Request.Path) ? Ui.UiSession.ReadKey(context)
            : ReadKey(context.Request);
        if (key is not null && await AuthenticateAsync(key, context, state) is { } caller)
        {
            context.Features.Set(caller);
        }

        await _next(context);
    }

    /// <summary>
    /// The one check of a key, for the API's headers and the web UI's sign-in and session cookie: the caller when
    /// the key is valid and not revoked; otherwise null, with the reason set on the request and logged.
    /// </summary>
    internal static async Task<Caller?> AuthenticateAsync(string key, HttpContext context, ServerState state)
    {
        var id = ApiKeys.IdOf(key);
        var record = id is null ? null : await state.KeyCache.FindAsync(id, context.RequestAborted);
        if (record is not null && record.RevokedAt is null && ApiKeys.Matches(key, record))
        {
            return new Caller(record.Id, record.Customer, record.Scope);
        }

        var reason = id is null ? "not a key" : record is null ? "unknown key" : record.RevokedAt is not null ? "revoked key" : "wrong secret";
        context.Features.Set(new RejectedKey(reason));
        ServerLog.KeyRejected(state.Log, reason, id ?? "none", context.Connection.RemoteIpAddress?.ToString() ?? "unknown");
        return null;
    }

    /// <summary>The key as sent: the whole <c>X-Api-Key</c> value, or what follows <c>Bearer</c> and its spaces (RFC 9110 §11.4 allows several).</summary>
    private static string? ReadKey(HttpRequest request)
    {
        if (request.Headers.TryGetValue("X-Api-Key", out var header) && header.Count == 1 && !string.IsNullOrEmpty(header[0]))
        {
            return header[0];
        }

        var authorization = request.Headers.Authorization;
        if (authorization.Count == 1 && authorization[0] is { } value && value.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            var token = value["Bearer ".Length..].TrimStart(' ');
            return token.Length > 0 ? token : null;
        }

        return null;
    }
}

public static class CallerExtensions
{
    /// <summary>The authenticated caller; only valid inside the API group, whose filter guarantees one.</summary>
    public static Caller Caller(this HttpContext context) =>
        context.Features.Get<Caller>() ?? throw new InvalidOperationException("no authenticated caller on this request");
}
