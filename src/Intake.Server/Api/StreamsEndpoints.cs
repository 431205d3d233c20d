using System.ComponentModel;
using System.Globalization;
using System.Text.Json;
using Intake.Core.Errors;
using Intake.Engine.Scheduling;
using Intake.Engine.Streams;
using Intake.Server.Auth;
using Intake.Server.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Routing;

namespace Intake.Server.Api;

/// <summary>A stream as the API shows it: its settings and what waits in its spool on this server.</summary>
public sealed record StreamDto(
    string Name,
    string Pipeline,
    string Customer,
    string Prefix,
    int MaxRecords,
    string MaxAge,
    long MaxRequestBytes,
    long PendingRecords,
    DateTimeOffset? OldestPendingAt,
    int SealedBatches,
    DateTimeOffset? OldestSealedAt,
    string? Problem);

/// <summary>The answer to records accepted: they are on the server's disk and will be in one batch file each.</summary>
public sealed record StreamAcceptedDto(string Stream, string Pipeline, long Accepted);

/// <summary>
/// <c>/api/v1/streams</c>: records pushed to a stream (NDJSON or a JSON array), answered only once they are on disk;
/// the streams a key can see, and a flush. A stream belongs to its pipeline's customer: another customer's key gets
/// 404, as for the pipeline itself.
/// </summary>
internal static class StreamsEndpoints
{
    public static void Map(RouteGroupBuilder api, RouteGroupBuilder write)
    {
        write.MapPost("/streams/{name}/records", AppendAsync).WithName("AppendStreamRecords").WithTags("Streams")
            .WithSummary("Accepts records for the stream: NDJSON (one JSON object per line) or a JSON array of objects. 200 only once they are on the server's disk (fsynced); a bad record refuses the whole body (400 naming it) and nothing of it is kept. Records are batched into one file per max_records or max_age, whichever comes first.")
            // Routing answers 415 for another media type; none at all is taken too (curl -T, a raw socket).
            .Accepts<JsonElement[]>(true, "application/x-ndjson", "application/json", "application/ndjson", "application/jsonl", "application/x-jsonlines", "text/plain")
            .Produces<StreamAcceptedDto>()
            .ProducesProblem(StatusCodes.Status404NotFound).ProducesProblem(StatusCodes.Status413PayloadTooLarge)
            .ProducesProblem(StatusCodes.Status415UnsupportedMediaType).ProducesProblem(StatusCodes.Status503ServiceUnavailable);
        api.MapGet("/streams", List).WithName("ListStreams").WithTags("Streams")
            .WithSummary("Streams this key can see, by name, with the records waiting in this server's spool; limit (1000) and cursor page them.")
            .Produces<Page<StreamDto>>();
        api.MapGet("/streams/{name}", Show).WithName("GetStream").WithTags("Streams").WithSummary("One stream and what waits in this server's spool.")
            .Produces<StreamDto>().ProducesProblem(StatusCodes.Status404NotFound).ProducesProblem(StatusCodes.Status503ServiceUnavailable);
        write.MapPost("/streams/{name}/flush", Flush).WithName("FlushStream").WithTags("Streams")
            .WithSummary("Seals the records waiting in the stream's open batch now (within about a second), however few; the batch is then written and loaded like any other.")
            .Produces<StreamDto>(StatusCodes.Status202Accepted).ProducesProblem(StatusCodes.Status404NotFound).ProducesProblem(StatusCodes.Status503ServiceUnavailable);
    }

    internal static StreamConfig? Find(ServerState state, Caller caller, string name) =>
        state.Config.Streams.FirstOrDefault(s => s.Name == name) is { } stream && state.Config.FindPipeline(stream.Pipeline) is { } p && caller.CanSee(p.Customer) ? stream : null;

    private static IResult NoSuchStream(string name) =>
        Problems.NotFound($"no stream named '{name}' (GET /api/v1/streams lists the streams this key can see)");

    private static IResult NotStarted(string name) =>
        Problems.Of(StatusCodes.Status503ServiceUnavailable, $"stream '{name}' is starting (its spool is being recovered); retry in a moment");

    private static async Task<IResult> AppendAsync(string name, HttpContext http, ServerState state, StreamsHostedService host)
    {
        if (Find(state, http.Caller(), name) is not { } stream)
        {
            return NoSuchStream(name);
        }

        var max = stream.MaxRequestBytes;
        if (http.Request.ContentLength > max)
        {
            return TooLarge(http, stream);
        }

        // This stream's own limit instead of the API's 1 MiB, counted below: Kestrel's would refuse a chunked body with
        // the message of the other endpoints, in the middle of a read.
        if (http.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
        {
            limit.MaxRequestBodySize = null;
        }

        using var body = new MemoryStream((int)Math.Min(http.Request.ContentLength ?? 64 * 1024, max));
        var chunk = new byte[64 * 1024];
        int read;
        while ((read = await http.Request.Body.ReadAsync(chunk, http.RequestAborted)) > 0)
        {
            if (body.Length + read > max)
            {
                return TooLarge(http, stream);
            }

            body.Write(chunk, 0, read);
        }

        var problems = new List<string>();
        var records = StreamRecords.Parse(new ReadOnlyMemory<byte>(body.GetBuffer(), 0, (int)body.Length), problems);
        if (records is null)
        {
            return Problems.Invalid(new Dictionary<string, string[]>(StringComparer.Ordinal) { ["body"] = [.. problems] });
        }

        if (host.Streams?.Find(stream.Name) is not { } batcher)
        {
            return NotStarted(stream.Name);
        }

        try
        {
            await batcher.AppendAsync(records);
        }
        catch (IntakeException e) when (e.IsTransient)
        {
            return Problems.Of(StatusCodes.Status503ServiceUnavailable, state.ClientText.For(e.Message)!);
        }

        return Results.Ok(new StreamAcceptedDto(stream.Name, stream.Pipeline, records.Count));
    }

    private static IResult TooLarge(HttpContext http, StreamConfig stream)
    {
        // The rest of the body is not read: the connection is closed after this answer.
        http.Response.Headers.Connection = "close";
        return Problems.Of(StatusCodes.Status413PayloadTooLarge,
            $"the request body is larger than stream '{stream.Name}' takes ({stream.MaxRequestBytes.ToString(CultureInfo.InvariantCulture)} bytes, its max_request_bytes); send the records in smaller requests");
    }

    private static IResult List(HttpContext http, ServerState state, StreamsHostedService host, [FromQuery, Description(ApiInput.LimitDescription)] string? limit, [FromQuery, Description(ApiInput.CursorDescription)] string? cursor)
    {
        var errors = new Dictionary<string, string[]>(StringComparer.Ordinal);
        var size = ApiInput.Limit(errors, limit, ApiInput.MaxLimit);
        var after = ApiInput.Cursor(errors, cursor, "streams", 1)?[0];
        if (errors.Count > 0)
        {
            return Problems.Invalid(errors);
        }

        var caller = http.Caller();
        var visible = state.Config.Streams
            .Where(s => Find(state, caller, s.Name) is not null && (after is null || string.CompareOrdinal(s.Name, after) > 0))
            .OrderBy(s => s.Name, StringComparer.Ordinal)
            .Take(size + 1)
            .ToList();
        var items = visible.Take(size).Select(s => ToDto(state, host, s)).ToList();
        return Results.Ok(new Page<StreamDto>(items, visible.Count > size ? ApiInput.NewCursor("streams", items[^1].Name) : null));
    }

    private static IResult Show(string name, HttpContext http, ServerState state, StreamsHostedService host) =>
        Find(state, http.Caller(), name) is { } stream ? Results.Ok(ToDto(state, host, stream)) : NoSuchStream(name);

    private static IResult Flush(string name, HttpContext http, ServerState state, StreamsHostedService host)
    {
        var caller = http.Caller();
        if (Find(state, caller, name) is not { } stream)
        {
            return NoSuchStream(name);
        }

        if (host.Streams?.Find(stream.Name) is not { } batcher)
        {
            return NotStarted(stream.Name);
        }

        batcher.Flush();
        ServerLog.StreamFlushed(state.Log, stream.Name, caller.KeyId);
        return Results.Accepted($"/api/v1/streams/{Uri.EscapeDataString(stream.Name)}", ToDto(state, host, stream));
    }

    internal static StreamDto ToDto(ServerState state, StreamsHostedService host, StreamConfig stream)
    {
        var status = host.Streams?.Find(stream.Name)?.Status();
        return new StreamDto(
            stream.Name,
            stream.Pipeline,
            state.Config.FindPipeline(stream.Pipeline)?.Customer ?? "",
            stream.Prefix,
            stream.MaxRecords,
            JobTimeouts.Format(stream.MaxAge),
            stream.MaxRequestBytes,
            status?.PendingRecords ?? 0,
            status?.OldestPendingAt,
            status?.SealedBatches ?? 0,
            status?.OldestSealedAt,
            status is null ? "not started on this server" : state.ClientText.For(status.Problem));
    }
}
