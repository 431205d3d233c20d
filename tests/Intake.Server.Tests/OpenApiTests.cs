using System.Text.Json;
using Intake.Engine.Configuration;
using Intake.Server.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace Intake.Server.Tests;

/// <summary>
/// The OpenAPI document against the routes the app really maps: every operation is described with its security,
/// its request body, a 2xx response schema and its problem responses. The server runs in this process on a SQLite
/// catalog, so the routes can be read from its <see cref="EndpointDataSource"/>.
/// </summary>
public sealed class OpenApiTests : IAsyncLifetime
{
    private string _root = null!;
    private RunningServer _server = null!;
    private JsonElement _document;

    public async Task InitializeAsync()
    {
        _root = Directory.CreateTempSubdirectory("intake-openapi-").FullName;
        Directory.CreateDirectory(Path.Combine(_root, "pipelines"));
        Directory.CreateDirectory(Path.Combine(_root, "incoming"));
        File.WriteAllText(Path.Combine(_root, "intake.yaml"), """
            catalog: { kind: sqlite, path: .intake/catalog.db }
            stores:
              local: { kind: local, root: .intake/store }
            warehouses:
              main: { kind: sqlite, path: .intake/warehouse.db }
            """);
        File.WriteAllText(Path.Combine(_root, "pipelines", "orders.yaml"), """
            name: orders
            customer: acme
            source: { kind: local, path: ../incoming }
            steps: [fetch, load]
            load: { table: orders }
            """);
        var config = ConfigLoader.Load(ConfigLoader.Locate(_root));
        _server = await IntakeServer.StartAsync(config, new ServerOptions { Urls = "http://127.0.0.1:0", Workers = 1, DiscoverEvery = TimeSpan.FromHours(1) });
        using var client = new HttpClient { BaseAddress = new Uri(_server.Addresses[0]) };
        _document = JsonDocument.Parse(await client.GetStringAsync("/api/v1/openapi.json")).RootElement.Clone();
    }

    public async Task DisposeAsync()
    {
        await _server.DisposeAsync();
        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
            // SQLite may still hold a file for a moment; the temp folder is cleaned by the OS
        }
    }

    /// <summary>
    /// Every route the app maps, as (method, OpenAPI path), without the document's own route and the routes left out of
    /// the description on purpose (the web UI's pages, which are not an API).
    /// </summary>
    private List<(string Method, string Path)> MappedOperations() =>
        _server.Services.GetServices<EndpointDataSource>()
            .SelectMany(s => s.Endpoints)
            .OfType<RouteEndpoint>()
            .Where(e => !e.RoutePattern.RawText!.Contains("openapi", StringComparison.Ordinal))
            .Where(e => e.Metadata.GetMetadata<Microsoft.AspNetCore.Routing.IExcludeFromDescriptionMetadata>() is not { ExcludeFromDescription: true })
            .SelectMany(e => (e.Metadata.GetMetadata<HttpMethodMetadata>()?.HttpMethods ?? ["GET"]).Select(m => (m.ToLowerInvariant(), OpenApiPath(e.RoutePattern.RawText!))))
            .ToList();

    /// <summary><c>/api/v1/loads/{id:long}</c> → <c>/api/v1/loads/{id}</c>, as the document writes it.</summary>
    private static string OpenApiPath(string raw) =>
        "/" + System.Text.RegularExpressions.Regex.Replace(raw.TrimStart('/'), @"\{([^}:?]+)(:[^}]+)?\??\}", "{$1}");

    [Fact]
    public void EveryMappedRoute_IsInTheDocument_WithA2xxResponseSchema()
    {
        var operations = MappedOperations();
        operations.Count.ShouldBeGreaterThan(20);
        var paths = _document.GetProperty("paths");
        foreach (var (method, path) in operations)
        {
            paths.TryGetProperty(path, out var item).ShouldBeTrue($"{path} is not in the document");
            item.TryGetProperty(method, out var operation).ShouldBeTrue($"{method.ToUpperInvariant()} {path} is not in the document");
            var success = operation.GetProperty("responses").EnumerateObject().Where(r => r.Name.StartsWith('2')).ToList();
            success.ShouldNotBeEmpty($"{method.ToUpperInvariant()} {path} has no 2xx response");
            foreach (var response in success.Where(r => r.Name != "204"))
            {
                response.Value.TryGetProperty("content", out var content).ShouldBeTrue($"{method.ToUpperInvariant()} {path} {response.Name} has no content");
                foreach (var media in content.EnumerateObject())
                {
                    media.Value.TryGetProperty("schema", out _).ShouldBeTrue($"{method.ToUpperInvariant()} {path} {response.Name} {media.Name} has no schema");
                }
            }
        }
    }

    [Fact]
    public void ApiOperations_DeclareTheKeyAndTheirProblemResponses()
    {
        var schemes = _document.GetProperty("components").GetProperty("securitySchemes");
        var apiKey = schemes.EnumerateObject().Single(s => s.Value.GetProperty("type").GetString() == "apiKey").Value;
        apiKey.GetProperty("in").GetString().ShouldBe("header");
        apiKey.GetProperty("name").GetString().ShouldBe("X-Api-Key");
        schemes.EnumerateObject().ShouldContain(s => s.Value.GetProperty("type").GetString() == "http" && s.Value.GetProperty("scheme").GetString() == "bearer");

        foreach (var (method, path) in MappedOperations().Where(o => o.Path.StartsWith("/api/v1/", StringComparison.Ordinal)))
        {
            var operation = _document.GetProperty("paths").GetProperty(path).GetProperty(method);
            var name = $"{method.ToUpperInvariant()} {path}";
            operation.TryGetProperty("security", out var security).ShouldBeTrue($"{name} declares no security");
            security.GetArrayLength().ShouldBeGreaterThan(0, name);
            var responses = operation.GetProperty("responses");
            foreach (var status in new[] { "400", "401", "429" })
            {
                responses.TryGetProperty(status, out var problem).ShouldBeTrue($"{name} has no {status} response");
                problem.GetProperty("content").TryGetProperty("application/problem+json", out _).ShouldBeTrue($"{name} {status} is not a problem");
            }

            if (method != "get")
            {
                responses.TryGetProperty("403", out _).ShouldBeTrue($"{name} has no 403 response");
            }
        }
    }

    [Fact]
    public void RequestBodies_AreDescribed_IncludingTheExportRequest()
    {
        var paths = _document.GetProperty("paths");
        foreach (var path in new[] { "/api/v1/pipelines/{name}/exports", "/api/v1/pipelines/{name}/run" })
        {
            var body = paths.GetProperty(path).GetProperty("post").GetProperty("requestBody");
            body.GetProperty("content").GetProperty("application/json").TryGetProperty("schema", out _).ShouldBeTrue(path);
        }

        var export = Resolve(paths.GetProperty("/api/v1/pipelines/{name}/exports").GetProperty("post").GetProperty("requestBody").GetProperty("content").GetProperty("application/json").GetProperty("schema"));
        var properties = export.GetProperty("properties").EnumerateObject().Select(p => p.Name).ToList();
        properties.ShouldContain("exportType");
        properties.ShouldContain("endDateTime");
        properties.ShouldContain("recordsKey");
        properties.ShouldContain("tag");
        export.GetProperty("properties").GetProperty("tag").GetProperty("maxLength").GetInt32().ShouldBe(256);
    }

    private JsonElement Resolve(JsonElement schema) =>
        schema.TryGetProperty("$ref", out var reference)
            ? _document.GetProperty("components").GetProperty("schemas").GetProperty(reference.GetString()!.Split('/')[^1])
            : schema;
}
