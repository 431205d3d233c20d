using System.Text;
using System.Text.Json;
using Intake.Tests.Shared;

namespace Intake.Server.Tests;

/// <summary>How a key is read and checked: exactly, the same for every spelling of a route, with a challenge on 401 and the client's address in the log.</summary>
public sealed class KeyTests : IClassFixture<ApiFixture>
{
    private readonly ApiFixture _f;

    public KeyTests(ApiFixture fixture) => _f = fixture;

    private Task<RawHttp.Response> GetWithHeaderAsync(string path, byte[] header) =>
        RawHttp.SendAsync(_f.Serve.BaseAddress, "", rawHead: Encoding.ASCII.GetBytes($"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n").Concat(header).ToArray());

    [PostgresFact]
    public async Task Key_WithAnythingAroundIt_Returns401_TheExactKey200()
    {
        var key = Encoding.ASCII.GetBytes(_f.AcmeRead);
        byte[] nbsp = [0xC2, 0xA0];
        byte[] formFeed = [0x0C];
        var variants = new (string Name, byte[] Header)[]
        {
            ("trailing NBSP", [.. "X-Api-Key: "u8, .. key, .. nbsp]),
            ("leading NBSP", [.. "X-Api-Key: "u8, .. nbsp, .. key]),
            ("trailing form feed", [.. "X-Api-Key: "u8, .. key, .. formFeed]),
            ("leading form feed", [.. "X-Api-Key: "u8, .. formFeed, .. key]),
            ("bearer, trailing NBSP", [.. "Authorization: Bearer "u8, .. key, .. nbsp]),
            ("bearer, trailing form feed", [.. "Authorization: Bearer "u8, .. key, .. formFeed]),
        };
        foreach (var (name, header) in variants)
        {
            var r = await GetWithHeaderAsync("/api/v1/pipelines", header);
            r.Status.ShouldBe(401, name);
        }

        (await GetWithHeaderAsync("/api/v1/pipelines", [.. "X-Api-Key: "u8, .. key])).Status.ShouldBe(200);
        (await GetWithHeaderAsync("/api/v1/pipelines", [.. "Authorization: Bearer "u8, .. key])).Status.ShouldBe(200);
    }

    [PostgresFact]
    public async Task Unauthorized_CarriesAWwwAuthenticateChallenge()
    {
        using var none = _f.Serve.Client(null);
        using var wrong = _f.Serve.Client("ik_000000000000_" + new string('A', 43));
        foreach (var client in new[] { none, wrong })
        {
            var (status, _, response) = await client.GetJsonAsync("/api/v1/loads");
            status.ShouldBe(401);
            response.Headers.WwwAuthenticate.ShouldNotBeEmpty();
            response.Headers.WwwAuthenticate.ShouldContain(h => h.Scheme == "Bearer");
        }
    }

    [PostgresFact]
    public async Task Routes_MatchInAnyCase_WithTheSameKeyCheck()
    {
        using var keyed = _f.Serve.Client(_f.AcmeRead);
        using var anonymous = _f.Serve.Client(null);
        foreach (var path in new[] { "/api/v1/loads", "/API/V1/LOADS", "/api/V1/loads", "/Api/v1/Pipelines/orders" })
        {
            (await keyed.GetJsonAsync(path)).Status.ShouldBe(200, path);
            (await anonymous.GetJsonAsync(path)).Status.ShouldBe(401, path);
        }
    }

    [PostgresFact]
    public async Task RejectedKey_LogLine_CarriesTheClientAddress()
    {
        var marker = "ik_" + Guid.NewGuid().ToString("N")[..12] + "_" + new string('B', 43);
        using var wrong = _f.Serve.Client(marker);
        (await wrong.GetJsonAsync("/api/v1/pipelines")).Status.ShouldBe(401);

        JsonElement? line = null;
        for (var i = 0; i < 50 && line is null; i++)
        {
            await Task.Delay(100);
            line = _f.Serve.Output.Split('\n').Where(l => l.StartsWith('{')).Select(l => JsonDocument.Parse(l).RootElement.Clone())
                .Where(l => l.GetProperty("EventId").GetInt32() == 201)
                .Cast<JsonElement?>()
                .LastOrDefault(l => l!.Value.GetProperty("State").TryGetProperty("KeyId", out var id) && id.GetString() == marker[3..15]);
        }

        line.ShouldNotBeNull("no rejected-key line naming the key id");
        line.Value.GetProperty("State").GetProperty("Client").GetString().ShouldBe("127.0.0.1");
        line.Value.GetProperty("Message").GetString()!.ShouldContain("127.0.0.1");
    }
}
