using Intake.Core.Ports;
using Intake.Server.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Intake.Server.Auth;

/// <summary>
/// Reads the key from <c>X-Api-Key</c> or <c>Authorization: Bearer</c> and, when it is valid and not revoked,
/// attaches the <see cref="Caller"/> to the request. It never rejects by itself: the rate limiter runs next
/// (so guessing keys is rate-limited too, per client address), then the API's endpoint filter answers 401.
/// The key is never logged; only its public id is, and only after it matched.
/// </summary>
public sealed class ApiKeyMiddleware
{
    private readonly RequestDelegate _next;

    public ApiKeyMiddleware(RequestDelegate next) => _next = next;

    public async Task InvokeAsync(HttpContext context, ServerState state)
    {
        if (context.Request.Path.StartsWithSegments("/api", StringComparison.Ordinal) && ReadKey(context.Request) is { } key)
        {
            var id = ApiKeys.IdOf(key);
            var record = id is null ? null : await state.KeyCache.FindAsync(id, context.RequestAborted);
            if (record is not null && record.RevokedAt is null && ApiKeys.Matches(key, record))
            {
                context.Features.Set(new Caller(record.Id, record.Customer, record.Scope));
            }
            else
            {
                ServerLog.KeyRejected(state.Log, record is null ? "unknown key" : record.RevokedAt is not null ? "revoked key" : "wrong secret");
            }
        }

        await _next(context);
    }

    private static string? ReadKey(HttpRequest request)
    {
        if (request.Headers.TryGetValue("X-Api-Key", out var header) && header.Count == 1 && !string.IsNullOrWhiteSpace(header[0]))
        {
            return header[0]!.Trim();
        }

        var authorization = request.Headers.Authorization;
        if (authorization.Count == 1 && authorization[0] is { } value && value.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            var token = value["Bearer ".Length..].Trim();
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
