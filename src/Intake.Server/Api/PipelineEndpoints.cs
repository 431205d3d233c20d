using System.Text.Json;
using Intake.Core.Model;
using Intake.Engine.Configuration;
using Intake.Engine.Scheduling;
using Intake.Server.Auth;
using Intake.Server.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Intake.Server.Api;

/// <summary><c>/api/v1/pipelines</c>: list, show, pause, resume, run now.</summary>
internal static class PipelineEndpoints
{
    /// <summary>Parameters a run accepts; anything else is refused, so a typo is not silently ignored.</summary>
    private static readonly string[] KnownParameters = ["source_key", "source_keys"];

    public static void Map(RouteGroupBuilder api, RouteGroupBuilder write)
    {
        api.MapGet("/pipelines", ListAsync).WithName("ListPipelines").WithTags("Pipelines").WithSummary("Pipelines this key can see, with their schedule, pause state and load counts.");
        api.MapGet("/pipelines/{name}", ShowAsync).WithName("GetPipeline").WithTags("Pipelines").WithSummary("One pipeline.");
        write.MapPost("/pipelines/{name}/pause", PauseAsync).WithName("PausePipeline").WithTags("Pipelines").WithSummary("Stops scheduled runs and new claims of the pipeline's loads (loads in progress finish).");
        write.MapPost("/pipelines/{name}/resume", ResumeAsync).WithName("ResumePipeline").WithTags("Pipelines").WithSummary("Resumes a paused pipeline; a scheduled run missed while paused runs once.");
        write.MapPost("/pipelines/{name}/run", RunAsync).WithName("RunPipeline").WithTags("Pipelines")
            .WithSummary("Runs the pipeline now: discovers its source (optionally only the given source keys) and queues new loads for the workers.")
            .Accepts<RunRequest>(true, "application/json");
    }

    internal static PipelineConfig? Find(ServerState state, Caller caller, string name) =>
        state.Config.FindPipeline(name) is { } p && caller.CanSee(p.Customer) ? p : null;

    internal static IResult NoSuchPipeline(string name) =>
        Problems.NotFound($"no pipeline named '{name}' (GET /api/v1/pipelines lists the pipelines this key can see)");

    private static async Task<IResult> ListAsync(HttpContext http, ServerState state, CancellationToken ct)
    {
        var caller = http.Caller();
        var paused = await state.Schedules.GetPausedPipelinesAsync(ct);
        var counts = await state.Queries.CountByPipelineAndStatusAsync(ct);
        var items = new List<PipelineDto>();
        foreach (var p in state.Config.Pipelines.Where(p => caller.CanSee(p.Customer)))
        {
            var mine = counts.Where(c => c.Pipeline == p.Name).ToDictionary(c => c.Status.ToWord(), c => c.Count);
            items.Add(ToDto(state, p, paused.GetValueOrDefault(p.Name), null, mine));
        }

        return Results.Ok(new Page<PipelineDto>(items, null));
    }

    private static async Task<IResult> ShowAsync(string name, HttpContext http, ServerState state, CancellationToken ct)
    {
        if (Find(state, http.Caller(), name) is not { } p)
        {
            return NoSuchPipeline(name);
        }

        var paused = await state.Schedules.GetPausedPipelinesAsync(ct);
        var last = p.Schedule is null ? null : await state.Schedules.GetLastScheduledRunAsync(p.Name, ct);
        var counts = await state.Runtime.Catalog.CountByStatusAsync(p.Name, ct);
        return Results.Ok(ToDto(state, p, paused.GetValueOrDefault(p.Name), last?.ScheduledFor, counts.ToDictionary(kv => kv.Key.ToWord(), kv => kv.Value)));
    }

    private static async Task<IResult> PauseAsync(string name, HttpContext http, ServerState state, CancellationToken ct)
    {
        var caller = http.Caller();
        if (Find(state, caller, name) is not { } p)
        {
            return NoSuchPipeline(name);
        }

        await state.Schedules.PausePipelineAsync(p.Name, $"key {caller.KeyId}", ct);
        state.PausesChanged();
        ServerLog.PipelineAction(state.Log, p.Name, "paused", caller.KeyId);
        return await ShowAsync(name, http, state, ct);
    }

    private static async Task<IResult> ResumeAsync(string name, HttpContext http, ServerState state, CancellationToken ct)
    {
        var caller = http.Caller();
        if (Find(state, caller, name) is not { } p)
        {
            return NoSuchPipeline(name);
        }

        await state.Schedules.ResumePipelineAsync(p.Name, ct);
        state.PausesChanged();
        state.Work.Pulse();
        ServerLog.PipelineAction(state.Log, p.Name, "resumed", caller.KeyId);
        return await ShowAsync(name, http, state, ct);
    }

    private static async Task<IResult> RunAsync(string name, HttpContext http, ServerState state, CancellationToken ct)
    {
        var caller = http.Caller();
        if (Find(state, caller, name) is not { } p)
        {
            return NoSuchPipeline(name);
        }

        RunRequest? body = null;
        if (http.Request.ContentLength is > 0 || http.Request.Headers.TransferEncoding.Count > 0)
        {
            try
            {
                body = await JsonSerializer.DeserializeAsync<RunRequest>(http.Request.Body, Json.Options, ct);
            }
            catch (JsonException e)
            {
                return Problems.Invalid(new() { ["body"] = [$"not valid JSON for a run request ({e.Message}); expected {{\"parameters\": {{\"source_key\": \"...\"}}}} or no body"] });
            }
        }

        var errors = new Dictionary<string, string[]>();
        List<string>? keys = null;
        foreach (var (key, value) in body?.Parameters ?? new Dictionary<string, JsonElement>())
        {
            switch (key)
            {
                case "source_key" when value.ValueKind == JsonValueKind.String && !string.IsNullOrWhiteSpace(value.GetString()):
                    (keys ??= []).Add(value.GetString()!);
                    break;
                case "source_keys" when value.ValueKind == JsonValueKind.Array && value.GetArrayLength() > 0 && value.EnumerateArray().All(v => v.ValueKind == JsonValueKind.String && !string.IsNullOrWhiteSpace(v.GetString())):
                    (keys ??= []).AddRange(value.EnumerateArray().Select(v => v.GetString()!));
                    break;
                case "source_key":
                    errors[$"parameters.{key}"] = ["must be a non-empty string: the key of one file in the source, relative to its root (e.g. 2026/01/data.csv)"];
                    break;
                case "source_keys":
                    errors[$"parameters.{key}"] = ["must be a non-empty array of non-empty strings (source keys)"];
                    break;
                default:
                    errors[$"parameters.{key}"] = [$"unknown parameter; a run accepts: {string.Join(", ", KnownParameters)}"];
                    break;
            }
        }

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

    private static PipelineDto ToDto(ServerState state, PipelineConfig p, Core.Ports.PipelinePause? pause, DateTimeOffset? lastRun, IReadOnlyDictionary<string, long>? loads) => new(
        p.Name,
        p.Customer,
        p.Category,
        p.Type,
        p.Group,
        p.Source.Kind.Name,
        p.Steps,
        p.Load?.Table,
        p.Schedule?.Expression,
        p.Timeout is { } t ? JobTimeouts.Format(t) : null,
        pause is not null,
        pause?.PausedBy,
        pause?.PausedAt,
        pause is null ? Scheduler.NextRun(p, state.Time.GetUtcNow()) : null,
        lastRun,
        loads);
}
