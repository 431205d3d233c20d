using Microsoft.AspNetCore.Http;

namespace Intake.Server.Api;

/// <summary>Every error leaves as <c>application/problem+json</c> with a detail that says what to do.</summary>
internal static class Problems
{
    public static IResult NotFound(string detail) => Results.Problem(detail: detail, statusCode: StatusCodes.Status404NotFound, title: "Not found");

    public static IResult Conflict(string detail) => Results.Problem(detail: detail, statusCode: StatusCodes.Status409Conflict, title: "Conflict");

    public static IResult Unauthorized() => Results.Problem(
        detail: "send a valid API key in the X-Api-Key header or as 'Authorization: Bearer <key>' (create one with 'intake keys create')",
        statusCode: StatusCodes.Status401Unauthorized, title: "Unauthorized");

    public static IResult Forbidden(string detail) => Results.Problem(detail: detail, statusCode: StatusCodes.Status403Forbidden, title: "Forbidden");

    /// <summary>400 with one message per offending input, keyed by its name.</summary>
    public static IResult Invalid(Dictionary<string, string[]> errors) =>
        Results.ValidationProblem(errors, detail: string.Join("; ", errors.SelectMany(e => e.Value.Select(m => $"{e.Key}: {m}"))), title: "The request is not valid");
}
