using System.Globalization;
using Intake.Server.Api;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using BadHttpRequestException = Microsoft.AspNetCore.Http.BadHttpRequestException;

namespace Intake.Server.Hosting;

/// <summary>
/// The request limits, answered as problems. Kestrel checks the request line and the headers while it parses
/// them, before any middleware, and then answers with an empty body that no application code can change
/// (aspnet/KestrelHttpServer#2947). So the API's own limits are checked here, below Kestrel's, which stay as a
/// backstop at twice these (<see cref="ConfigureKestrel"/>): a client over the API's limit gets a problem
/// saying which limit; only one over twice the limit gets Kestrel's bare status. Body errors Kestrel raises
/// while an endpoint reads the body (too large, bad chunked framing, too slow) arrive here as
/// <see cref="BadHttpRequestException"/> and leave with Kestrel's status instead of 500.
/// </summary>
internal sealed class RequestGuardMiddleware
{
    /// <summary>Request target (path and query): Kestrel's own default, where it answers 414.</summary>
    public const int MaxRequestTarget = 8 * 1024;
    /// <summary>All header lines together: Kestrel's own default, where it answers 431.</summary>
    public const int MaxHeaderBytes = 32 * 1024;
    /// <summary>Header lines: Kestrel's own default, where it answers 431.</summary>
    public const int MaxHeaderCount = 100;

    /// <summary>Kestrel refuses a body slower than this once the grace period has passed (its default, written out).</summary>
    private static readonly MinDataRate MinBodyRate = new(bytesPerSecond: 240, gracePeriod: TimeSpan.FromSeconds(5));

    private readonly RequestDelegate _next;

    public RequestGuardMiddleware(RequestDelegate next) => _next = next;

    /// <summary>Kestrel's limits: the body's size and rate are enforced there; line and header limits are a backstop at twice the API's.</summary>
    public static void ConfigureKestrel(KestrelServerOptions kestrel)
    {
        kestrel.AddServerHeader = false;
        kestrel.Limits.MaxRequestBodySize = ApiInput.MaxBodyBytes;
        kestrel.Limits.MinRequestBodyDataRate = MinBodyRate;
        kestrel.Limits.MaxRequestLineSize = 2 * MaxRequestTarget;
        kestrel.Limits.MaxRequestHeadersTotalSize = 2 * MaxHeaderBytes;
        kestrel.Limits.MaxRequestHeaderCount = 2 * MaxHeaderCount;
    }

    public async Task InvokeAsync(HttpContext context, ServerState state)
    {
        if (OverALimit(context) is { } refusal)
        {
            await RefuseAsync(context, state, refusal.Status, refusal.Detail);
            return;
        }

        try
        {
            await _next(context);
        }
        catch (BadHttpRequestException e) when (!context.Response.HasStarted)
        {
            await RefuseAsync(context, state, e.StatusCode, BodyDetail(e));
        }
    }

    private static (int Status, string Detail)? OverALimit(HttpContext context)
    {
        var target = context.Features.Get<IHttpRequestFeature>()?.RawTarget ?? context.Request.Path.Value ?? "";
        if (target.Length > MaxRequestTarget)
        {
            return (StatusCodes.Status414RequestUriTooLong,
                $"the request target (path and query) is {Bytes(target.Length)} long; the API takes at most {Bytes(MaxRequestTarget)} (send long lists in a body)");
        }

        var count = 0;
        long size = 0;
        foreach (var (name, values) in context.Request.Headers)
        {
            foreach (var value in values)
            {
                count++;
                size += name.Length + (value?.Length ?? 0) + 4; // "name: value\r\n", as Kestrel counts
            }
        }

        if (count > MaxHeaderCount)
        {
            return (StatusCodes.Status431RequestHeaderFieldsTooLarge, $"the request has {count.ToString(CultureInfo.InvariantCulture)} header lines; the API takes at most {MaxHeaderCount.ToString(CultureInfo.InvariantCulture)}");
        }

        if (size > MaxHeaderBytes)
        {
            return (StatusCodes.Status431RequestHeaderFieldsTooLarge, $"the request's headers are {Bytes(size)} together; the API takes at most {Bytes(MaxHeaderBytes)}");
        }

        return null;
    }

    private static string BodyDetail(BadHttpRequestException e) => e.StatusCode switch
    {
        StatusCodes.Status413PayloadTooLarge =>
            $"the request body is larger than the API takes ({Bytes(ApiInput.MaxBodyBytes)}); name fewer record ids, or put them in an object and send its recordsKey",
        StatusCodes.Status408RequestTimeout =>
            $"the request body arrived too slowly (under {MinBodyRate.BytesPerSecond.ToString(CultureInfo.InvariantCulture)} bytes a second after {MinBodyRate.GracePeriod.TotalSeconds.ToString(CultureInfo.InvariantCulture)} s); send the whole body at once",
        // Kestrel's reason is plain text about the framing ("Bad chunk size data", "Unexpected end of request content").
        _ => $"the request body is not well-formed HTTP ({e.Message.TrimEnd('.')}); send it with a correct Content-Length or valid chunked encoding",
    };

    private static async Task RefuseAsync(HttpContext context, ServerState state, int status, string detail)
    {
        var path = context.Request.Path.Value ?? "";
        ServerLog.RequestRefused(state.Log, context.Request.Method, path.Length > 200 ? path[..200] + "…" : path, context.Connection.RemoteIpAddress?.ToString() ?? "unknown", status, detail);
        context.Response.Clear();
        // The rest of a refused body is not read: the connection is closed after this answer.
        context.Response.Headers.Connection = "close";
        await Problems.Of(status, detail).ExecuteAsync(context);
    }

    private static string Bytes(long n) => n >= 1024 * 1024 && n % (1024 * 1024) == 0
        ? $"{(n / (1024 * 1024)).ToString(CultureInfo.InvariantCulture)} MiB"
        : n >= 1024 && n % 1024 == 0 ? $"{(n / 1024).ToString(CultureInfo.InvariantCulture)} KiB" : $"{n.ToString(CultureInfo.InvariantCulture)} bytes";
}
