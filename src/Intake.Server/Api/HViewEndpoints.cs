using System.Globalization;
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

/// <summary>An HView job: a load in the words HView's clients read.</summary>
public sealed record HViewJobDto(long Id, string Module, string Pipeline, string Customer, string? Grid, string S3Path, string Status, string State, string? Error, DateTimeOffset Created, DateTimeOffset Updated);

/// <summary>The answer to an upload trigger: the jobs it started, or the one it had started before for the same file.</summary>
public sealed record HViewUpdateDto(string Module, string Pipeline, string Customer, string Grid, string S3Path, string Uid, string Status, IReadOnlyList<long> JobIds);

public sealed record HViewJobsDto(IReadOnlyList<HViewJobDto> Jobs);

/// <summary>
/// HView's REST API as its upload clients call it (<c>/api/1.0</c>), so they switch to Intake unchanged:
/// <c>POST /api/1.0/{module}/update</c> with <c>{"uid", "customer", "grid", "s3_path"}</c> loads one uploaded file
/// through the module's pipeline (the file pipeline whose <c>type</c> is the module), and <c>GET /api/1.0/jobs</c> lists
/// loads as HView jobs. Same keys, scopes and customer rules as <c>/api/v1</c>.
/// </summary>
internal static class HViewEndpoints
{
    private const string UpdateExample = "{\"uid\": \"u-1\", \"customer\": \"bobs_burgers\", \"grid\": \"icecream_machine\", \"s3_path\": \"bobs_burgers/icecream_machine/dump.tar.gz\"}";
    private static readonly string[] UpdateFields = ["uid", "customer", "grid", "s3_path"];

    public static void Map(RouteGroupBuilder api, RouteGroupBuilder write)
    {
        write.MapPost("/{module}/update", UpdateAsync).WithName("HViewUpdate").WithTags("HView")
            .WithSummary("HView's upload trigger: loads s3_path (a key in the module's bucket, without the bucket's name) through the module's pipeline, for the customer; the key must belong to that customer (or be admin), and the path must lie under '<customer>/'.")
            .Produces<HViewUpdateDto>(StatusCodes.Status202Accepted)
            .Produces<HViewUpdateDto>(StatusCodes.Status200OK)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict);
        api.MapGet("/jobs", JobsAsync).WithName("HViewJobs").WithTags("HView")
            .WithSummary("Jobs (loads) this key can see, newest first, in HView's words: status queued, running, completed, failed or held; module, customer, status and limit (100, at most 1000) filter them.")
            .Produces<HViewJobsDto>();
    }

    /// <summary>HView's word for a load's status.</summary>
    public static string JobStatus(LoadStatus status) => status switch
    {
        LoadStatus.Ready => "queued",
        LoadStatus.Ingesting or LoadStatus.ReadyForArchiving or LoadStatus.Archiving or LoadStatus.ReadyForErroring or LoadStatus.Erroring => "running",
        LoadStatus.Archived => "completed",
        LoadStatus.Errored => "failed",
        LoadStatus.Held => "held",
        _ => status.ToWord(),
    };

    private static readonly string[] JobStatuses = ["queued", "running", "completed", "failed", "held"];

    /// <summary>The file pipeline a module names (its <c>type</c>); or why there is none. Customers are checked by the callers.</summary>
    private static (PipelineConfig? Pipeline, IResult? Problem) FindModule(ServerState state, string module)
    {
        var candidates = state.Config.Pipelines
            .Where(p => p.Type == module && p.Source.Kind is Engine.SourceKinds.IFileSourceKind)
            .ToList();
        return candidates.Count switch
        {
            0 => (null, Problems.NotFound($"no module '{module}': no file pipeline has type: {module}")),
            1 => (candidates[0], null),
            _ when candidates.SingleOrDefault(p => p.Name == module) is { } named => (named, null),
            _ => (null, Problems.Conflict($"module '{module}' is the type of {candidates.Count.ToString(CultureInfo.InvariantCulture)} file pipelines ({string.Join(", ", candidates.Select(p => p.Name))}); name one of them '{module}'")),
        };
    }

    private static async Task<IResult> UpdateAsync(string module, HttpContext http, ServerState state, CancellationToken ct)
    {
        var caller = http.Caller();
        var errors = new Dictionary<string, string[]>(StringComparer.Ordinal);
        var body = await ApiInput.ReadJsonAsync(http.Request, errors, UpdateExample, ct);
        var fields = errors.Count > 0 ? null : ReadUpdate(body, errors);
        if (fields is null || errors.Count > 0)
        {
            return Problems.Invalid(errors);
        }

        var (uid, customer, grid, path) = fields.Value;
        if (!caller.CanSee(customer))
        {
            return Problems.Forbidden($"key {caller.KeyId} belongs to customer '{caller.Customer}'; it cannot start jobs for customer '{customer}'");
        }

        if (!path.StartsWith(customer + "/", StringComparison.Ordinal))
        {
            // The bucket is shared by every customer: a key may only load its own customer's folder.
            return Problems.Forbidden($"s3_path '{path}' is not under the customer's folder '{customer}/'; uploads of customer '{customer}' go to <bucket>/{customer}/<grid>/<file>");
        }

        var (pipeline, problem) = FindModule(state, module);
        if (pipeline is null)
        {
            return problem!;
        }

        var paused = await state.Schedules.GetPausedPipelinesAsync(ct);
        if (paused.ContainsKey(pipeline.Name))
        {
            return Problems.Conflict($"module '{module}' (pipeline '{pipeline.Name}') is paused; an operator resumes it with 'intake resume {pipeline.Name}'");
        }

        var key = SourceKeyOf(pipeline, path);
        if (key is null)
        {
            return Problems.NotFound($"s3_path '{path}' is outside the folder module '{module}' reads ({pipeline.Source.Path})");
        }

        ServerLog.PipelineAction(state.Log, pipeline.Name, $"upload trigger for {customer}", caller.KeyId);
        PipelineRunResult result = await state.Runs.RunAsync(pipeline, [key], "upload", customer, Engine.Mail.MailTemplate.Segment(grid), ct);
        if (result.MissingKeys.Count > 0)
        {
            var hint = path.Split('/')[0] == module ? $" (give the path inside the bucket, without the bucket's name: '{path[(module.Length + 1)..]}')" : "";
            return Problems.NotFound($"s3_path '{path}' is not in module '{module}''s bucket (missing, excluded by the pipeline's include/exclude, or still being written){hint}");
        }

        var dto = new HViewUpdateDto(module, pipeline.Name, customer, grid, path, uid, result.New > 0 ? "queued" : "received before", result.NewLoadIds);
        return result.New > 0
            ? Results.Accepted($"/api/1.0/jobs?module={Uri.EscapeDataString(module)}", dto)
            : Results.Ok(dto);
    }

    /// <summary>The source key of a bucket path: relative to the pipeline's S3 prefix when it has one; null outside it.</summary>
    private static string? SourceKeyOf(PipelineConfig pipeline, string path)
    {
        var prefix = pipeline.Source.Options is Sources.S3.S3SourceOptions s3 ? (s3.Prefix ?? "").Trim('/') : "";
        if (prefix.Length == 0)
        {
            return path;
        }

        return path.StartsWith(prefix + "/", StringComparison.Ordinal) ? path[(prefix.Length + 1)..] : null;
    }

    private static (string Uid, string Customer, string Grid, string Path)? ReadUpdate(JsonElement body, Dictionary<string, string[]> errors)
    {
        if (body.ValueKind != JsonValueKind.Object)
        {
            errors.Add("body", $"must be a JSON object; expected e.g. {UpdateExample}");
            return null;
        }

        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var field in body.EnumerateObject())
        {
            if (!UpdateFields.Contains(field.Name))
            {
                errors.Add(field.Name, $"unknown field; an update accepts: {string.Join(", ", UpdateFields)}");
            }
            else if (field.Value.ValueKind != JsonValueKind.String || field.Value.GetString() is not { Length: > 0 } text)
            {
                errors.Add(field.Name, "must be a non-empty string");
            }
            else if ((field.Name == "s3_path" ? ApiInput.KeyProblem(text) : ApiInput.TextProblem(text, ApiInput.MaxNameLength)) is { } problem)
            {
                errors.Add(field.Name, problem);
            }
            else
            {
                values[field.Name] = text;
            }
        }

        foreach (var name in UpdateFields.Where(f => !values.ContainsKey(f) && !errors.ContainsKey(f)))
        {
            errors.Add(name, $"is required; expected e.g. {UpdateExample}");
        }

        return errors.Count > 0 ? null : (values["uid"], values["customer"], values["grid"], values["s3_path"]);
    }

    private static async Task<IResult> JobsAsync(HttpContext http, ServerState state, string? module, string? customer, string? status, string? limit, CancellationToken ct)
    {
        var caller = http.Caller();
        var errors = new Dictionary<string, string[]>(StringComparer.Ordinal);
        var size = ApiInput.Limit(errors, limit, 100);
        if (status is not null && !JobStatuses.Contains(status))
        {
            errors.Add("status", $"{ApiInput.Quote(status)} is not a job status; use one of {string.Join(", ", JobStatuses)}");
        }

        if (errors.Count > 0)
        {
            return Problems.Invalid(errors);
        }

        PipelineConfig? pipeline = null;
        if (module is not null)
        {
            (pipeline, var problem) = FindModule(state, module);
            if (pipeline is null)
            {
                return problem!;
            }
        }

        if (customer is not null && !caller.CanSee(customer))
        {
            return Problems.NotFound($"no customer '{customer}' for this key");
        }

        var pipelines = state.Config.Pipelines.ToDictionary(p => p.Name, StringComparer.Ordinal);
        var jobs = new List<HViewJobDto>();
        long? before = null;
        // Filtered by HView's word after the catalog's query (one word covers several statuses): read in pages until
        // enough, looking at no more than the newest 20,000 jobs.
        for (var pages = 0; jobs.Count < size && pages < 40; pages++)
        {
            var page = await state.Runtime.Catalog.ListLoadsAsync(new LoadQuery
            {
                NewestFirst = true,
                Pipeline = pipeline?.Name,
                Customer = customer ?? caller.CustomerFilter,
                BeforeId = before,
                Limit = 500,
            }, ct);
            foreach (var load in page)
            {
                if ((status is null || JobStatus(load.Status) == status) && jobs.Count < size)
                {
                    jobs.Add(ToJob(load, pipelines.GetValueOrDefault(load.Pipeline), state.ClientText));
                }
            }

            if (page.Count < 500)
            {
                break;
            }

            before = page[^1].Id;
        }

        return Results.Ok(new HViewJobsDto(jobs));
    }

    private static HViewJobDto ToJob(Load load, PipelineConfig? pipeline, ClientText text)
    {
        var error = text.For(load.ErrorMessage);
        return new HViewJobDto(load.Id, pipeline?.Type ?? load.Pipeline, load.Pipeline, load.Customer, GridOf(load, pipeline?.Category, pipeline?.Type, pipeline?.Group),
            load.SourceKey, JobStatus(load.Status), load.Status.ToWord(), error, load.CreatedAt, load.UpdatedAt);
    }

    /// <summary>
    /// A job's grid (HView's group), from where the load's data lies: an upload's path in HView's full layout
    /// (<c>&lt;customer&gt;/&lt;category&gt;/&lt;type&gt;/&lt;group&gt;/&lt;datetime&gt;/&lt;file&gt;</c>, its category and type the
    /// pipeline's) or in the short one of the spec's example (<c>&lt;customer&gt;/&lt;grid&gt;/&lt;file&gt;</c>); else a
    /// routed mail's inbox folder (<c>&lt;customer&gt;/&lt;category&gt;/&lt;type&gt;/&lt;group&gt;/…</c>, its source key being a
    /// Message-ID); else the pipeline's group.
    /// </summary>
    internal static string? GridOf(Load load, string? category, string? type, string? group)
    {
        var parts = load.SourceKey.Split('/');
        if (parts.Length >= 6 && parts[0] == load.Customer && parts[1] == category && parts[2] == type)
        {
            return parts[3];
        }

        if (parts.Length >= 3 && parts[0] == load.Customer)
        {
            return parts[1];
        }

        // A mail no route takes (yet) lies under <operator's customer>/<category>/unrouted/<pipeline>/: it has no group.
        var inbox = load.InboxKey?.Split('/') ?? [];
        return inbox.Length >= 6 && inbox[0] == load.Customer && inbox[2] != Engine.Mail.MailLayout.Unrouted ? inbox[3] : group;
    }
}
