using System.Globalization;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Intake.TestApi;

/// <summary>
/// A small event API in the style of the one the z-ingest script read, for tests, the example and the bench. Records
/// are generated from (event, day, index), so any day has the same records every time without storing them; several
/// records share a timestamp; full pages hold exactly the page size. Three ways to page through a day:
/// <list type="bullet">
/// <item><c>GET /v1/events?type=&amp;day=&amp;limit=&amp;starting_after=</c> (and <c>POST /v1/events/search</c> with the same
/// fields in a JSON body): an exclusive cursor, <c>has_more</c>;</item>
/// <item><c>GET /v1/events/pages?type=&amp;day=&amp;limit=&amp;page=</c>: page numbers from 1;</item>
/// <item><c>GET /v1/events/links?type=&amp;day=&amp;limit=</c>: <c>links.next</c> names the next page's URL.</item>
/// </list>
/// </summary>
public sealed class TestApiServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly Random _random;
    private long _requests;
    private int _inFlight;
    private int _maxInFlight;

    private TestApiServer(WebApplication app, TestApiOptions options)
    {
        _app = app;
        Options = options;
        _random = new Random(options.Seed);
    }

    public TestApiOptions Options { get; }

    /// <summary>e.g. http://127.0.0.1:41234</summary>
    public string BaseUrl { get; private set; } = "";

    public long Requests => Interlocked.Read(ref _requests);

    /// <summary>The most requests that were being answered at the same time.</summary>
    public int MaxInFlight => Volatile.Read(ref _maxInFlight);

    /// <summary>Each answered request as "type day position" (position: the cursor, page or offset asked for).</summary>
    public System.Collections.Concurrent.ConcurrentQueue<string> Served { get; } = new();

    public static async Task<TestApiServer> StartAsync(TestApiOptions options, int port = 0, CancellationToken cancellationToken = default)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls($"http://127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}");
        var app = builder.Build();
        var server = new TestApiServer(app, options);
        app.Use(server.GateAsync);
        app.MapGet("/v1/events", ctx => server.CursorAsync(ctx, FromQuery(ctx.Request.Query)));
        app.MapPost("/v1/events/search", async ctx =>
        {
            using var doc = await JsonDocument.ParseAsync(ctx.Request.Body, default, ctx.RequestAborted);
            var fields = new Dictionary<string, string?>(StringComparer.Ordinal);
            foreach (var p in doc.RootElement.EnumerateObject())
            {
                fields[p.Name] = p.Value.ValueKind == JsonValueKind.String ? p.Value.GetString() : p.Value.GetRawText();
            }

            await server.CursorAsync(ctx, fields);
        });
        app.MapGet("/v1/events/pages", server.PagesAsync);
        app.MapGet("/v1/events/links", server.LinksAsync);
        await app.StartAsync(cancellationToken);
        server.BaseUrl = app.Urls.First().TrimEnd('/');
        return server;
    }

    private static Dictionary<string, string?> FromQuery(IQueryCollection query) =>
        query.ToDictionary(kv => kv.Key, kv => (string?)kv.Value.ToString(), StringComparer.Ordinal);

    /// <summary>Latency, authentication and injected failures, before any endpoint.</summary>
    private async Task GateAsync(HttpContext ctx, RequestDelegate next)
    {
        var now = Interlocked.Increment(ref _inFlight);
        for (var max = Volatile.Read(ref _maxInFlight); now > max && Interlocked.CompareExchange(ref _maxInFlight, now, max) != max; max = Volatile.Read(ref _maxInFlight))
        {
        }

        try
        {
            await AnswerAsync(ctx, next);
        }
        finally
        {
            Interlocked.Decrement(ref _inFlight);
        }
    }

    private async Task AnswerAsync(HttpContext ctx, RequestDelegate next)
    {
        var n = Interlocked.Increment(ref _requests);
        if (Options.Latency > TimeSpan.Zero)
        {
            await Task.Delay(Options.Latency, ctx.RequestAborted);
        }

        if (Options.ApiKey is { } key)
        {
            var given = ctx.Request.Headers["X-Api-Key"].ToString();
            var auth = ctx.Request.Headers.Authorization.ToString();
            if (given != key && auth != "Bearer " + key)
            {
                await ErrorAsync(ctx, 401, "authentication_error", "Invalid API key provided");
                return;
            }
        }

        bool fail;
        lock (_random)
        {
            fail = (Options.Fail502Every > 0 && n % Options.Fail502Every == 0)
                || (Options.Fail502Probability > 0 && _random.NextDouble() < Options.Fail502Probability);
        }

        if (fail || Options.TakeStorm())
        {
            ctx.Response.StatusCode = 502;
            await ctx.Response.WriteAsync("<html><body>502 Bad Gateway</body></html>", ctx.RequestAborted);
            return;
        }

        if (Options.Fail429Every > 0 && n % Options.Fail429Every == 0)
        {
            ctx.Response.Headers.RetryAfter = Options.RetryAfterSeconds.ToString(CultureInfo.InvariantCulture);
            await ErrorAsync(ctx, 429, "rate_limit_error", "Too many requests");
            return;
        }

        await next(ctx);
    }

    private void Serve(string entry)
    {
        Served.Enqueue(entry);
        Options.OnServed?.Invoke(Served.Count);
    }

    private static async Task ErrorAsync(HttpContext ctx, int status, string type, string message)
    {
        ctx.Response.StatusCode = status;
        ctx.Response.ContentType = "application/json";
        await ctx.Response.WriteAsync(JsonSerializer.Serialize(new { error = new { type, message } }), ctx.RequestAborted);
    }

    /// <summary>The (event, day, limit) every endpoint needs, or an answered 400.</summary>
    private async Task<(string Type, DateOnly Day, int Limit, int Count)?> CommonAsync(HttpContext ctx, IReadOnlyDictionary<string, string?> f)
    {
        var type = f.GetValueOrDefault("type");
        if (string.IsNullOrEmpty(type))
        {
            await ErrorAsync(ctx, 400, "invalid_request_error", "type is required");
            return null;
        }

        if (!DateOnly.TryParseExact(f.GetValueOrDefault("day"), "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var day))
        {
            await ErrorAsync(ctx, 400, "invalid_request_error", "day must be yyyy-MM-dd");
            return null;
        }

        if (!int.TryParse(f.GetValueOrDefault("limit"), NumberStyles.Integer, CultureInfo.InvariantCulture, out var limit) || limit < Options.MinPageSize || limit > Options.MaxPageSize)
        {
            await ErrorAsync(ctx, 400, "invalid_request_error", $"limit must be between {Options.MinPageSize} and {Options.MaxPageSize}");
            return null;
        }

        return (type, day, limit, Options.Count(type, day));
    }

    private async Task CursorAsync(HttpContext ctx, IReadOnlyDictionary<string, string?> f)
    {
        if (await CommonAsync(ctx, f) is not { } c)
        {
            return;
        }

        var start = 0;
        if (f.GetValueOrDefault("starting_after") is { Length: > 0 } after)
        {
            if (!Records.TryParseIndex(after, c.Type, c.Day, out var index))
            {
                await ErrorAsync(ctx, 400, "invalid_request_error", $"starting_after '{after}' is not a record of {c.Type} on {c.Day:yyyy-MM-dd}");
                return;
            }

            start = index + 1; // exclusive
        }

        Serve($"{c.Type} {c.Day:yyyy-MM-dd} after={f.GetValueOrDefault("starting_after")}");
        var end = Math.Min(c.Count, start + c.Limit);
        await WriteAsync(ctx, c.Type, c.Day, start, end, w => w.WriteBoolean("has_more", end < c.Count));
    }

    private async Task PagesAsync(HttpContext ctx)
    {
        var f = FromQuery(ctx.Request.Query);
        if (await CommonAsync(ctx, f) is not { } c)
        {
            return;
        }

        if (!int.TryParse(f.GetValueOrDefault("page") ?? "1", NumberStyles.Integer, CultureInfo.InvariantCulture, out var page) || page < 1)
        {
            await ErrorAsync(ctx, 400, "invalid_request_error", "page must be 1 or more");
            return;
        }

        Serve($"{c.Type} {c.Day:yyyy-MM-dd} page={page}");
        var start = (int)Math.Min(c.Count, (long)(page - 1) * c.Limit);
        var end = Math.Min(c.Count, start + c.Limit);
        await WriteAsync(ctx, c.Type, c.Day, start, end, w => w.WriteNumber("page", page));
    }

    private async Task LinksAsync(HttpContext ctx)
    {
        var f = FromQuery(ctx.Request.Query);
        if (await CommonAsync(ctx, f) is not { } c)
        {
            return;
        }

        var offset = int.TryParse(f.GetValueOrDefault("offset") ?? "0", NumberStyles.Integer, CultureInfo.InvariantCulture, out var o) ? Math.Clamp(o, 0, c.Count) : 0;
        Serve($"{c.Type} {c.Day:yyyy-MM-dd} offset={offset}");
        var end = Math.Min(c.Count, offset + c.Limit);
        await WriteAsync(ctx, c.Type, c.Day, offset, end, w =>
        {
            w.WriteStartObject("links");
            if (end < c.Count)
            {
                w.WriteString("next", $"/v1/events/links?type={Uri.EscapeDataString(c.Type)}&day={c.Day:yyyy-MM-dd}&limit={c.Limit}&offset={end}");
            }
            else
            {
                w.WriteNull("next");
            }

            w.WriteEndObject();
        });
    }

    private async Task WriteAsync(HttpContext ctx, string type, DateOnly day, int start, int end, Action<Utf8JsonWriter> extra)
    {
        ctx.Response.ContentType = "application/json";
        await using var w = new Utf8JsonWriter(ctx.Response.Body);
        w.WriteStartObject();
        w.WriteString("object", "list");
        w.WriteStartArray("data");
        var count = Options.Count(type, day);
        for (var i = start; i < end; i++)
        {
            Records.Write(w, type, day, i, count, Options.SameTimestamp);
        }

        w.WriteEndArray();
        extra(w);
        w.WriteEndObject();
        await w.FlushAsync(ctx.RequestAborted);
    }

    /// <summary>Completes when the host is asked to stop (SIGTERM, Ctrl+C).</summary>
    public Task WaitForShutdownAsync(CancellationToken cancellationToken = default) => _app.WaitForShutdownAsync(cancellationToken);

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}

/// <summary>The records of a day, generated from their index.</summary>
public static class Records
{
    private static readonly string[] Cities = ["Berlin", "Lisbon", "Oslo", "Lyon", "Porto", "Turin", "Ghent"];
    private static readonly string[] Currencies = ["eur", "usd", "gbp"];

    /// <summary>The id of record <paramref name="index"/>: ids sort in record order.</summary>
    public static string Id(string type, DateOnly day, int index) => $"{type}_{day:yyyyMMdd}_{index:D7}";

    public static bool TryParseIndex(string id, string type, DateOnly day, out int index)
    {
        var prefix = $"{type}_{day:yyyyMMdd}_";
        index = -1;
        return id.StartsWith(prefix, StringComparison.Ordinal) && int.TryParse(id.AsSpan(prefix.Length), NumberStyles.None, CultureInfo.InvariantCulture, out index);
    }

    public static void Write(Utf8JsonWriter w, string type, DateOnly day, int i, int count, int sameTimestamp)
    {
        var dayStart = new DateTimeOffset(day.ToDateTime(TimeOnly.MinValue), TimeSpan.Zero).ToUnixTimeSeconds();
        var groups = Math.Max(1, (count + sameTimestamp - 1) / sameTimestamp);
        var created = dayStart + ((long)(i / sameTimestamp) * 86_399 / groups);
        w.WriteStartObject();
        w.WriteString("id", Id(type, day, i));
        w.WriteString("type", type);
        w.WriteNumber("created", created);
        w.WriteNumber("amount", (i * 7919L) % 100_000);
        w.WriteString("currency", Currencies[i % Currencies.Length]);
        w.WriteBoolean("livemode", false);
        w.WriteStartObject("customer");
        w.WriteString("id", $"cus_{i % 997:D4}");
        w.WriteStartObject("address");
        w.WriteString("city", Cities[i % Cities.Length]);
        w.WriteString("country", "EU");
        w.WriteEndObject();
        w.WriteEndObject();
        w.WriteStartArray("tags");
        w.WriteStringValue("t" + (i % 3).ToString(CultureInfo.InvariantCulture));
        if (i % 2 == 0)
        {
            w.WriteStringValue("even");
        }

        w.WriteEndArray();
        w.WriteStartObject("metadata");
        w.WriteNumber("n", i);
        if (i % 10 == 0)
        {
            w.WriteNull("note");
        }

        w.WriteEndObject();
        w.WriteEndObject();
    }
}
