using System.ComponentModel;
using System.Globalization;
using System.Text.Json;
using Intake.Core.Ports;
using Intake.Engine.Exports;
using Intake.Server.Auth;
using Intake.Server.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Routing;

namespace Intake.Server.Api;

/// <summary>An export request as the API shows it.</summary>
public sealed record ExportRequestDto(
    string RequestKey, string Pipeline, string Customer, string ExportType, DateTimeOffset? Start, DateTimeOffset End, bool IgnoreLastExportTime,
    IReadOnlyList<string>? Partitions, IReadOnlyList<string>? RecordIds, string? RecordsKey, string? Tag, int RedriveCount, string? RedriveOf,
    DateTimeOffset NotBefore, DateTimeOffset RequestedAt, long? LoadId, bool? Created)
{
    public static ExportRequestDto From(ExportRequestRecord r, bool? created = null) => new(
        r.RequestKey, r.Pipeline, r.Customer, r.ExportType, r.Start, r.End, r.IgnoreLastExportTime, r.Partitions, r.RecordIds, r.RecordsKey, r.Tag,
        r.RedriveCount, r.RedriveOf, r.NotBefore, r.RequestedAt, r.LoadId, created);
}

/// <summary>
/// <c>POST /pipelines/{name}/exports</c> queues an export request of a database pipeline (the Bridge exporter's SQS
/// message: <c>exportType</c>, <c>endDateTime</c>, <c>startDateTime</c>, <c>ignoreLastExportTime</c>, a partition
/// whitelist, a record override, <c>tag</c>); <c>GET /exports</c> lists requests; <c>DELETE /watermarks/{pipeline}/{partition}</c>
/// forgets a deleted partition's watermark. Customer-scoped like every endpoint.
/// </summary>
internal static class ExportEndpoints
{
    /// <summary>Body fields, in the spec's camelCase (the Bridge message) and in this API's snake_case.</summary>
    private static readonly Dictionary<string, string> Fields = new(StringComparer.Ordinal)
    {
        ["exportType"] = "type", ["export_type"] = "type",
        ["endDateTime"] = "end", ["end_date_time"] = "end",
        ["startDateTime"] = "start", ["start_date_time"] = "start",
        ["ignoreLastExportTime"] = "ignore", ["ignore_last_export_time"] = "ignore",
        ["partitions"] = "partition", ["studyWhitelist"] = "partition",
        ["recordIds"] = "records", ["record_ids"] = "records",
        ["recordsKey"] = "records_key", ["records_key"] = "records_key",
        ["tag"] = "tag",
    };

    public static void Map(RouteGroupBuilder api, RouteGroupBuilder write)
    {
        write.MapPost("/pipelines/{name}/exports", SubmitAsync).WithName("SubmitExport").WithTags("Exports")
            .WithSummary("Queues an export request of a database pipeline; the same request twice is queued once (200 with the existing one).")
            .Accepts<ExportRequestBody>(true, "application/json")
            .Produces<ExportRequestDto>(StatusCodes.Status202Accepted).Produces<ExportRequestDto>()
            .ProducesProblem(StatusCodes.Status404NotFound).ProducesProblem(StatusCodes.Status413PayloadTooLarge);
        api.MapGet("/exports", ListAsync).WithName("ListExports").WithTags("Exports")
            .WithSummary("Export requests this key can see, newest first; limit (100, at most 1000) and cursor page them.")
            .Produces<Page<ExportRequestDto>>().ProducesProblem(StatusCodes.Status404NotFound);
        write.MapDelete("/watermarks/{pipeline}/{partition}", DeleteWatermarkAsync).WithName("DeleteWatermark").WithTags("Watermarks")
            .WithSummary("Forgets a partition's watermark (the partition was deleted).")
            .Produces(StatusCodes.Status204NoContent).ProducesProblem(StatusCodes.Status404NotFound);
    }

    private static IExportStore Store(ServerState state) => state.Runtime.Ports.Exports;

    private static async Task<IResult> SubmitAsync(string name, HttpContext http, ServerState state, CancellationToken ct)
    {
        if (PipelineEndpoints.Find(state, http.Caller(), name) is not { } pipeline)
        {
            return PipelineEndpoints.NoSuchPipeline(name);
        }

        var errors = new Dictionary<string, string[]>(StringComparer.Ordinal);
        var body = await ApiInput.ReadJsonAsync(http.Request, errors, Example, ct);
        if (errors.Count > 0)
        {
            return Problems.Invalid(errors);
        }

        var submission = Parse(body, errors);
        if (errors.Count > 0)
        {
            return Problems.Invalid(errors);
        }

        ExportQueued queued;
        try
        {
            queued = await new ExportQueue(state.Runtime).SubmitAsync(pipeline, submission, ct);
        }
        catch (ExportValidationException e)
        {
            return Problems.Invalid(e.Errors.GroupBy(x => x.Field).ToDictionary(g => g.Key, g => g.Select(x => x.Message).ToArray(), StringComparer.Ordinal));
        }

        if (queued.Created)
        {
            state.Work.Pulse();
        }

        var dto = ExportRequestDto.From(queued.Request, queued.Created);
        return queued.Created ? Results.Accepted($"/api/v1/exports?pipeline={Uri.EscapeDataString(pipeline.Name)}", dto) : Results.Ok(dto);
    }

    private const string Example = "{\"exportType\": \"daily\", \"endDateTime\": \"2026-03-10T00:00:00Z\"}";

    private static ExportSubmission Parse(JsonElement body, Dictionary<string, string[]> errors)
    {
        var s = new ExportSubmission();
        if (body.ValueKind == JsonValueKind.Undefined)
        {
            return s;
        }

        if (body.ValueKind != JsonValueKind.Object)
        {
            errors["body"] = ["must be a JSON object"];
            return s;
        }

        foreach (var p in body.EnumerateObject())
        {
            if (!Fields.TryGetValue(p.Name, out var field))
            {
                errors[p.Name] = [$"unknown field; an export request accepts: {string.Join(", ", Fields.Keys.Where(k => !k.Contains('_', StringComparison.Ordinal)))}"];
                continue;
            }

            var v = p.Value;
            if (StringProblem(field, v) is { } problem)
            {
                errors.Add(p.Name, problem);
                continue;
            }

            switch (field)
            {
                case "type" when v.ValueKind == JsonValueKind.String:
                    s = s with { Type = v.GetString()!.ToLowerInvariant() };
                    break;
                case "end" or "start" when v.ValueKind == JsonValueKind.String:
                    if (DateTimeOffset.TryParse(v.GetString(), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var t))
                    {
                        s = field == "end" ? s with { End = t } : s with { Start = t };
                    }
                    else
                    {
                        errors.Add(p.Name, $"{ApiInput.Quote(v.GetString()!)} is not an ISO 8601 time (e.g. 2026-03-10T00:00:00Z)");
                    }

                    break;
                // The Bridge message sends the flag as a string ("true").
                case "ignore" when v.ValueKind is JsonValueKind.True or JsonValueKind.False:
                    s = s with { IgnoreLastExportTime = v.GetBoolean() };
                    break;
                case "ignore" when v.ValueKind == JsonValueKind.String && bool.TryParse(v.GetString(), out var flag):
                    s = s with { IgnoreLastExportTime = flag };
                    break;
                case "partition" or "records" when v.ValueKind == JsonValueKind.Array && v.EnumerateArray().All(x => x.ValueKind is JsonValueKind.String or JsonValueKind.Number):
                    var items = v.EnumerateArray().Select(x => x.ValueKind == JsonValueKind.String ? x.GetString()! : x.GetRawText()).ToArray();
                    s = field == "partition" ? s with { Partitions = items } : s with { RecordIds = items };
                    break;
                case "records_key" when v.ValueKind == JsonValueKind.String:
                    s = s with { RecordsKey = v.GetString() };
                    break;
                case "tag" when v.ValueKind is JsonValueKind.String or JsonValueKind.Null:
                    s = s with { Tag = v.GetString() };
                    break;
                default:
                    errors.Add(p.Name, field switch
                    {
                        "ignore" => "must be true or false",
                        "partition" or "records" => "must be an array of strings",
                        _ => "must be a string",
                    });
                    break;
            }
        }

        return s;
    }

    /// <summary>The limits of each field's strings: names, times, a tag, an object key inside the export area.</summary>
    private static string? StringProblem(string field, JsonElement value)
    {
        if (value.ValueKind == JsonValueKind.String)
        {
            var text = value.GetString()!;
            return field switch
            {
                "records_key" => ApiInput.KeyProblem(text),
                "tag" => ApiInput.TextProblem(text, ApiInput.MaxTagLength),
                "end" or "start" => ApiInput.TextProblem(text, ApiInput.MaxTimeLength),
                _ => ApiInput.TextProblem(text, ApiInput.MaxNameLength),
            };
        }

        if (value.ValueKind != JsonValueKind.Array)
        {
            return null;
        }

        if (value.GetArrayLength() > ApiInput.MaxItems)
        {
            return $"has {value.GetArrayLength().ToString(CultureInfo.InvariantCulture)} items; at most {ApiInput.MaxItems.ToString(CultureInfo.InvariantCulture)} are accepted (put more record ids in an object and send its recordsKey)";
        }

        var index = 0;
        foreach (var item in value.EnumerateArray())
        {
            index++;
            if (item.ValueKind == JsonValueKind.String && ApiInput.TextProblem(item.GetString()!, ApiInput.MaxNameLength) is { } problem)
            {
                return $"item {index.ToString(CultureInfo.InvariantCulture)} {problem}";
            }
        }

        return null;
    }

    private static async Task<IResult> ListAsync(HttpContext http, ServerState state, [FromQuery] string? pipeline, [FromQuery, Description(ApiInput.LimitDescription)] string? limit, [FromQuery, Description(ApiInput.CursorDescription)] string? cursor, CancellationToken ct)
    {
        var errors = new Dictionary<string, string[]>(StringComparer.Ordinal);
        pipeline = ApiInput.Text(errors, "pipeline", pipeline);
        var size = ApiInput.Limit(errors, limit, 100);
        var before = ApiInput.Cursor(errors, cursor, "exports", 1, p => ApiInput.IsLong(p[0], 1, long.MaxValue)) is { } parts ? long.Parse(parts[0], CultureInfo.InvariantCulture) : (long?)null;
        if (errors.Count > 0)
        {
            return Problems.Invalid(errors);
        }

        var caller = http.Caller();
        if (pipeline is not null && PipelineEndpoints.Find(state, caller, pipeline) is null)
        {
            return PipelineEndpoints.NoSuchPipeline(pipeline);
        }

        var requests = await Store(state).ListExportRequestsAsync(pipeline, caller.CustomerFilter, before, size + 1, ct);
        var page = requests.Take(size).ToList();
        var next = requests.Count > size ? ApiInput.NewCursor("exports", page[^1].Id.ToString(CultureInfo.InvariantCulture)) : null;
        return Results.Ok(new Page<ExportRequestDto>(page.Select(r => ExportRequestDto.From(r)).ToList(), next));
    }

    private static async Task<IResult> DeleteWatermarkAsync(string pipeline, string partition, HttpContext http, ServerState state, CancellationToken ct)
    {
        var caller = http.Caller();
        if (PipelineEndpoints.Find(state, caller, pipeline) is null)
        {
            return PipelineEndpoints.NoSuchPipeline(pipeline);
        }

        return await Store(state).DeleteWatermarkAsync(pipeline, partition, ct)
            ? Results.NoContent()
            : Problems.NotFound($"pipeline '{pipeline}' has no watermark for partition '{partition}' (GET /api/v1/watermarks?pipeline={pipeline} lists them)");
    }
}
