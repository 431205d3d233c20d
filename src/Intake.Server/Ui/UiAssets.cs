using System.Collections.Frozen;
using System.Security.Cryptography;
using Microsoft.AspNetCore.Http;
using Microsoft.Net.Http.Headers;

namespace Intake.Server.Ui;

/// <summary>
/// The UI's stylesheet and script, embedded in the assembly (Ui/Assets) and served from <c>/ui/assets/NAME</c>. Pages
/// link them with their content hash in the query (<see cref="Url"/>), so a browser may keep them a year: a new build
/// changes the link, not the cached file.
/// </summary>
internal static class UiAssets
{
    private const string Prefix = "Intake.Server.Ui.Assets.";

    private sealed record Asset(byte[] Content, string ContentType, string Hash);

    private static readonly FrozenDictionary<string, Asset> All = Load();

    private static FrozenDictionary<string, Asset> Load()
    {
        var assembly = typeof(UiAssets).Assembly;
        var result = new Dictionary<string, Asset>(StringComparer.Ordinal);
        foreach (var resource in assembly.GetManifestResourceNames().Where(n => n.StartsWith(Prefix, StringComparison.Ordinal)))
        {
            using var stream = assembly.GetManifestResourceStream(resource)!;
            using var buffer = new MemoryStream();
            stream.CopyTo(buffer);
            var bytes = buffer.ToArray();
            var name = resource[Prefix.Length..];
            var type = Path.GetExtension(name) switch
            {
                ".css" => "text/css; charset=utf-8",
                ".js" => "text/javascript; charset=utf-8",
                ".svg" => "image/svg+xml",
                _ => "application/octet-stream",
            };
            result[name] = new Asset(bytes, type, Convert.ToHexStringLower(SHA256.HashData(bytes))[..12]);
        }

        return result.ToFrozenDictionary(StringComparer.Ordinal);
    }

    /// <summary>The link to an asset, versioned by its content.</summary>
    public static string Url(string name) =>
        All.TryGetValue(name, out var asset) ? $"{UiSession.Root}/assets/{name}?v={asset.Hash}" : throw new ArgumentException($"no UI asset '{name}'", nameof(name));

    public static IResult Serve(string name, HttpContext http)
    {
        if (!All.TryGetValue(name, out var asset))
        {
            return Results.NotFound();
        }

        var etag = new EntityTagHeaderValue($"\"{asset.Hash}\"");
        // Versioned links change with the content, so the file itself never does: cache it for a year.
        http.Response.Headers.CacheControl = "public, max-age=31536000, immutable";
        http.Response.Headers.XContentTypeOptions = "nosniff";
        return Results.Bytes(asset.Content, asset.ContentType, entityTag: etag);
    }
}
