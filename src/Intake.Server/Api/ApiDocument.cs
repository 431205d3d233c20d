using Microsoft.AspNetCore.OpenApi;
using Microsoft.OpenApi;

namespace Intake.Server.Api;

/// <summary>
/// The OpenAPI document (<c>/api/v1/openapi.json</c>): its description, the two ways to send a key as security
/// schemes, and the key requirement on every operation that needs one. Request bodies, 2xx schemas and problem
/// responses come from each endpoint's <c>Accepts</c>/<c>Produces</c> metadata; a test checks every mapped route
/// against the document.
/// </summary>
internal static class ApiDocument
{
    private const string ApiKeyScheme = "apiKey";
    private const string BearerScheme = "bearer";

    /// <summary>Endpoint metadata: this operation needs an API key (the API group, a protected /metrics).</summary>
    public sealed class RequiresKey
    {
        public static readonly RequiresKey Instance = new();

        private RequiresKey()
        {
        }
    }

    public static void Configure(OpenApiOptions options)
    {
        options.AddDocumentTransformer((document, _, _) =>
        {
            document.Info.Title = "Intake API";
            document.Info.Version = "v1";
            document.Info.Description = "Pipelines, loads (also as jobs), tables, watermarks and export requests. Send an API key as X-Api-Key or 'Authorization: Bearer'. " +
                "A key sees only its customer's resources (admin keys: all); others answer 404. Every error is application/problem+json with a type. " +
                "Lists take limit (1 to 1000) and cursor (next_cursor of the previous page).";
            document.Components ??= new OpenApiComponents();
            document.Components.SecuritySchemes ??= new Dictionary<string, IOpenApiSecurityScheme>(StringComparer.Ordinal);
            document.Components.SecuritySchemes[ApiKeyScheme] = new OpenApiSecurityScheme
            {
                Type = SecuritySchemeType.ApiKey,
                In = ParameterLocation.Header,
                Name = "X-Api-Key",
                Description = "The key 'intake keys create' printed (ik_<id>_<secret>), exactly as printed.",
            };
            document.Components.SecuritySchemes[BearerScheme] = new OpenApiSecurityScheme
            {
                Type = SecuritySchemeType.Http,
                Scheme = "bearer",
                Description = "The same key as 'Authorization: Bearer <key>'.",
            };
            return Task.CompletedTask;
        });
        options.AddOperationTransformer((operation, context, _) =>
        {
            if (context.Description.ActionDescriptor.EndpointMetadata.OfType<RequiresKey>().Any())
            {
                // Alternatives: either scheme satisfies the requirement.
                operation.Security ??= [];
                operation.Security.Add(new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference(ApiKeyScheme, context.Document)] = [] });
                operation.Security.Add(new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference(BearerScheme, context.Document)] = [] });
            }

            return Task.CompletedTask;
        });
    }
}
