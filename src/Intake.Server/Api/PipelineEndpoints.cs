using System.ComponentModel;
using System.Text.Json;
using Intake.Core.Model;
using Intake.Engine.Configuration;
using Intake.Engine.Scheduling;
using Intake.Server.Auth;
using Intake.Server.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Routing;

namespace Intake.Server.Api;

/// <summary><c>/api/v1/pipelines</c>: list, show, pause, resume, run now.</summary>
internal static class PipelineEndpoints
{
    /// <summary>Parameters a run accepts; anything else is refused, so a typo is not silently ignored.</summary>
    private static readonly string[] KnownParameters = ["source_key", "source_keys"];

    public static void Map(RouteGroupBuilder api, RouteGroupBuilder write)
    {
        api.MapGet("/pipelines", ListAsync).WithName("ListPipelines").WithTags("Pipelines")
            .WithSummary("Pipelines this key can see, by name, with their schedule, pause state and load counts; limit (1000) and cursor page them.")
            .Produces<Page<PipelineDto>>();
        api.MapGet("/pipelines/{name}", ShowAsync).WithName("GetPipeline").WithTags("Pipelines").WithSummary("One pipeline.")
            .Produces<PipelineDto>().ProducesProblem(StatusCodes.Status404NotFound);
        write.MapPost("/pipelines/{name}/pause", PauseAsync).WithName("PausePipeline").WithTags("Pipelines").WithSummary("Stops scheduled runs and new claims of the pipeline's loads (loads in progress finish).")
            .Produces<PipelineDto>().ProducesProblem(StatusCodes.Status404NotFound);
        write.MapPost("/pipelines/{name}/resume", ResumeAsync).WithName("ResumePipeline").WithTags("Pipelines").WithSummary("Resumes a paused pipeline; a scheduled run missed while paused runs once.")
            .Produces<PipelineDto>().ProducesProblem(StatusCodes.Status404NotFound);
        write.MapPost("/pipelines/{name}/run", RunAsync).WithName("RunPipeline").WithTags("Pipelines")
            .WithSummary("Runs the pipeline now: discovers its source (optionally only the given source keys) and queues new loads for the workers.")
            .Accepts<RunRequest>(true, "application/json")
            .Produces<RunResultDto>(StatusCodes.Status202Accepted)
            .ProducesProblem(StatusCodes.Status404NotFound).ProducesProblem(StatusCodes.Status409Conflict).ProducesProblem(StatusCodes.Status413PayloadTooLarge);
    }

    internal static PipelineConfig? Find(ServerState state, Caller caller, string name) =>
        state.Config.FindPipeline(name) is { } p && caller.CanSee(p.Customer) ? p : null;

    internal static IResult NoSuchPipeline(string name) =>
        Problems.NotFound($"no pipeline named '{name}' (GET /api/v1/pipelines lists the pipelines this key can see)");

    private static async Task<IResult> ListAsync(HttpContext http, ServerState state, [FromQuery, Description(ApiInput.LimitDescription)] string? limit, [FromQuery, Description(ApiInput.CursorDescription)] string? cursor, CancellationToken ct)
    {
        var errors = new Dictionary<string, string[]>(StringComparer.Ordinal);
        var size = ApiInput.Limit(errors, limit, ApiInput.MaxLimit);
        var after = ApiInput.Cursor(errors, cursor, "pipelines", 1)?[0];
        if (errors.Count > 0)
        {
            return Problems.Invalid(errors);
        }

        var caller = http.Caller();
        var visible = state.Config.Pipelines
            .Where(p => caller.CanSee(p.Customer) && (after is null || string.CompareOrdinal(p.Name, after) > 0))
            .OrderBy(p => p.Name, StringComparer.Ordinal)
            .Take(size + 1)
            .ToList();
        var paused = await state.Schedules.GetPausedPipelinesAsync(ct);
        var counts = await state.Queries.CountByPipelineAndStatusAsync(ct);
        var items = new List<PipelineDto>();
        foreach (var p in visible.Take(size))
        {
            var mine = counts.Where(c => c.Pipeline == p.Name).ToDictionary(c => c.Status.ToWord(), c => c.Count);
            items.Add(ToDto(state, p, paused.GetValueOrDefault(p.Name), null, mine));
        }

        return Results.Ok(new Page<PipelineDto>(items, visible.Count > size ? ApiInput.NewCursor("pipelines", items[^1].Name) : null));
    }

    private static async Task<IResult> ShowAsync(string name, HttpContext http, ServerState state, CancellationToken ct)
    {
        if (Find(state, http.Caller(), name) is not { } p)
        {
            return NoSuchPipeline(name);
        }

        return Results.Ok(await DescribeAsync(state, p, ct));
    }

    /// <summary>What <c>GET /pipelines/{name}</c> answers (the web UI's pipeline page shows the same).</summary>
    internal static async Task<PipelineDto> DescribeAsync(ServerState state, PipelineConfig p, CancellationToken ct)
    {
        var paused = await state.Schedules.GetPausedPipelinesAsync(ct);
        var last = p.Schedule is null ? null : await state.Schedules.GetLastScheduledRunAsync(p.Name, ct);
        var counts = await state.Runtime.Catalog.CountByStatusAsync(p.Name, ct);
        return ToDto(state, p, paused.GetValueOrDefault(p.Name), last?.ScheduledFor, counts.ToDictionary(kv => kv.Key.ToWord(), kv => kv.Value));
    }

    /// <summary>Pauses the pipeline for <paramref name="caller"/> (the API's and the web UI's pause).</summary>
    internal static async Task PauseForAsync(ServerState state, Caller caller, PipelineConfig p, CancellationToken ct)
    {
        await state.Schedules.PausePipelineAsync(p.Name, $"key {caller.KeyId}", ct);
        state.PausesChanged();
        ServerLog.PipelineAction(state.Log, p.Name, "paused", caller.KeyId);
    }

    /// <summary>Resumes the pipeline for <paramref name="caller"/> (the API's and the web UI's resume).</summary>
    internal static async Task ResumeForAsync(ServerState state, Caller caller, PipelineConfig p, CancellationToken ct)
    {
        await state.Schedules.ResumePipelineAsync(p.Name, ct);
        state.PausesChanged();
        state.Work.Pulse();
        ServerLog.PipelineAction(state.Log, p.Name, "resumed", caller.KeyId);
    }

    private static async Task<IResult> PauseAsync(string name, HttpContext http, ServerState state, CancellationToken ct)
    {
        var caller = http.Caller();
        if (Find(state, caller, name) is not { } p)
        {
            return NoSuchPipeline(name);
        }

        await PauseForAsync(state, caller, p, ct);
        return await ShowAsync(name, http, state, ct);
    }

    private static async Task<IResult> ResumeAsync(string name, HttpContext http, ServerState state, CancellationToken ct)
    {
        var caller = http.Caller();
        if (Find(state, caller, name) is not { } p)
        {
            return NoSuchPipeline(name);
        }

        await ResumeForAsync(state, caller, p, ct);
        return await ShowAsync(name, http, state, ct);
    }

    private static async Task<IResult> RunAsync(string name, HttpContext http, ServerState state, CancellationToken ct)
    {
        var caller = http.Caller();
        if (Find(state, caller, name) is not { } p)
        {
            return NoSuchPipeline(name);
        }

        var errors = new Dictionary<string, string[]>(StringComparer.Ordinal);
        var body = await ApiInput.ReadJsonAsync(http.Request, errors, RunExample, ct);
        var keys = errors.Count > 0 ? null : ParseRun(body, errors);
        if (errors.Count > 0)
        {
            return Problems.Invalid(errors);
        }

        var paused = await state.Schedules.GetPausedPipelinesAsync(ct);
        if (paused.ContainsKey(p.Name))
        {
            return Problems.Conflict($"pipeline '{p.Name}' is paused; resume it first (POST /api/v1/pipelines/{p.Name}/resume)");
        }

        ServerLog.PipelineAction(state.Log, p.Name, "run", caller.KeyId);
        PipelineRunResult result = await state.Runs.RunAsync(p, keys, "api", ct);
        if (keys is not null && result.MissingKeys.Count == keys.Distinct(StringComparer.Ordinal).Count())
        {
            return Problems.NotFound($"none of the source keys is in the source of '{p.Name}' (missing, excluded by the pipeline's include/exclude, or still being written): {string.Join(", ", result.MissingKeys)}");
        }

        var dto = new RunResultDto(p.Name, "api", result.New, result.Seen, result.NewLoadIds, result.MissingKeys);
        return Results.Accepted($"/api/v1/loads?pipeline={Uri.EscapeDataString(p.Name)}", dto);
    }

    private const string RunExample = "{\"parameters\": {\"source_key\": \"2026/01/data.csv\"}} or no body";

    /// <summary>The source keys a run is limited to (null: the whole source); every problem of the body in <paramref name="errors"/>.</summary>
    private static List<string>? ParseRun(JsonElement body, Dictionary<string, string[]> errors)
    {
        if (body.ValueKind == JsonValueKind.Undefined)
        {
            return null;
        }

        if (body.ValueKind != JsonValueKind.Object)
        {
            errors.Add("body", $"must be a JSON object; expected e.g. {RunExample}");
            return null;
        }

        List<string>? keys = null;
        foreach (var field in body.EnumerateObject())
        {
            if (field.Name != "parameters")
            {
                errors.Add(field.Name, "unknown field; a run request accepts: parameters");
                continue;
            }

            if (field.Value.ValueKind == JsonValueKind.Null)
            {
                continue;
            }

            if (field.Value.ValueKind != JsonValueKind.Object)
            {
                errors.Add("parameters", "must be an object of parameters, e.g. {\"source_key\": \"2026/01/data.csv\"}");
                continue;
            }

            foreach (var parameter in field.Value.EnumerateObject())
            {
                var name = $"parameters.{parameter.Name}";
                var value = parameter.Value;
                switch (parameter.Name)
                {
                    case "source_key" when value.ValueKind == JsonValueKind.String:
                        if (ApiInput.KeyProblem(value.GetString()!) is { } problem)
                        {
                            errors.Add(name, $"{problem}; give the key of one file in the source, relative to its root (e.g. 2026/01/data.csv)");
                        }
                        else
                        {
                            (keys ??= []).Add(value.GetString()!);
                        }

                        break;
                    case "source_keys" when value.ValueKind == JsonValueKind.Array && value.GetArrayLength() is > 0 and <= 1000 && value.EnumerateArray().All(v => v.ValueKind == JsonValueKind.String):
                        var index = 0;
                        foreach (var item in value.EnumerateArray())
                        {
                            index++;
                            if (ApiInput.KeyProblem(item.GetString()!) is { } itemProblem)
                            {
                                errors.Add(name, $"item {index.ToString(System.Globalization.CultureInfo.InvariantCulture)}: {itemProblem}");
                            }
                            else
                            {
                                (keys ??= []).Add(item.GetString()!);
                            }
                        }

                        break;
                    case "source_key":
                        errors.Add(name, "must be a non-empty string: the key of one file in the source, relative to its root (e.g. 2026/01/data.csv)");
                        break;
                    case "source_keys":
                        errors.Add(name, "must be a non-empty array of non-empty strings (source keys), at most 1000");
                        break;
                    default:
                        errors.Add(name, $"unknown parameter; a run accepts: {string.Join(", ", KnownParameters)}");
                        break;
                }
            }
        }

        return keys;
    }

    internal static PipelineDto ToDto(ServerState state, PipelineConfig p, Core.Ports.PipelinePause? pause, DateTimeOffset? lastRun, IReadOnlyDictionary<string, long>? loads) => new(
        p.Name,
        p.Customer,
        p.Category,
        p.Type,
        p.Group,
        p.Source.Kind.Name,
        p.Steps,
        p.Load?.Table,
        p.TriggeredOnly ? PipelineConfig.TriggeredSchedule : p.Schedule?.Expression,
        p.Timeout is { } t ? JobTimeouts.Format(t) : null,
        pause is not null,
        pause?.PausedBy,
        pause?.PausedAt,
        pause is null ? Scheduler.NextRun(p, state.Time.GetUtcNow()) : null,
        lastRun,
        loads);
}
