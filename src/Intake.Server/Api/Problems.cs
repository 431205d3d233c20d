using System.Globalization;
using Intake.Server.Auth;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.WebUtilities;

namespace Intake.Server.Api;

/// <summary>
/// Every error leaves as <c>application/problem+json</c> with a <c>type</c> (the RFC section of its status) and a
/// detail that says what to do. Built here only, so no answer misses a field.
/// </summary>
internal static class Problems
{
    /// <summary>The RFC section defining each status the API answers; <c>about:blank</c> (RFC 9457: "the status code says it all") for the rest.</summary>
    public static string TypeFor(int status) => status switch
    {
        >= 400 and <= 417 => $"https://tools.ietf.org/html/rfc9110#section-15.5.{(status - 399).ToString(CultureInfo.InvariantCulture)}",
        421 => "https://tools.ietf.org/html/rfc9110#section-15.5.20",
        422 => "https://tools.ietf.org/html/rfc9110#section-15.5.21",
        426 => "https://tools.ietf.org/html/rfc9110#section-15.5.22",
        429 => "https://tools.ietf.org/html/rfc6585#section-4",
        431 => "https://tools.ietf.org/html/rfc6585#section-5",
        >= 500 and <= 505 => $"https://tools.ietf.org/html/rfc9110#section-15.6.{(status - 499).ToString(CultureInfo.InvariantCulture)}",
        _ => "about:blank",
    };

    /// <summary>A problem of any status, with its type and the status's reason phrase as title unless one is given.</summary>
    public static IResult Of(int status, string detail, string? title = null) =>
        Results.Problem(detail: detail, statusCode: status, title: title ?? ReasonPhrases.GetReasonPhrase(status), type: TypeFor(status));

    public static IResult NotFound(string detail) => Of(StatusCodes.Status404NotFound, detail, "Not found");

    public static IResult Conflict(string detail) => Of(StatusCodes.Status409Conflict, detail, "Conflict");

    public static IResult Forbidden(string detail) => Of(StatusCodes.Status403Forbidden, detail, "Forbidden");

    /// <summary>401 with the <c>WWW-Authenticate</c> challenge (RFC 9110 §11.6.1 requires one); <c>error="invalid_token"</c> when a key was sent but refused.</summary>
    public static IResult Unauthorized() => new Challenge();

    /// <summary>400 with one message per offending input, keyed by its name.</summary>
    public static IResult Invalid(Dictionary<string, string[]> errors) =>
        Results.ValidationProblem(errors, detail: string.Join("; ", errors.SelectMany(e => e.Value.Select(m => $"{e.Key}: {m}"))), title: "The request is not valid",
            type: TypeFor(StatusCodes.Status400BadRequest));

    private sealed class Challenge : IResult
    {
        public Task ExecuteAsync(HttpContext httpContext)
        {
            var refused = httpContext.Features.Get<RejectedKey>() is not null;
            httpContext.Response.Headers.WWWAuthenticate = refused ? "Bearer realm=\"intake\", error=\"invalid_token\"" : "Bearer realm=\"intake\"";
            var detail = refused
                ? "the API key sent is not valid (unknown, revoked or mistyped); send a valid key in the X-Api-Key header or as 'Authorization: Bearer <key>', exactly as 'intake keys create' printed it"
                : "send a valid API key in the X-Api-Key header or as 'Authorization: Bearer <key>' (create one with 'intake keys create')";
            return Of(StatusCodes.Status401Unauthorized, detail, "Unauthorized").ExecuteAsync(httpContext);
        }
    }
}
