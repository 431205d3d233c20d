using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Intake.Core.Errors;
using Intake.Core.Model;
using Intake.Core.Ports;
using Intake.Engine.Configuration;
using Intake.Engine.Runtime;

namespace Intake.Engine.Exports;

/// <summary>What a caller (CLI, REST API, scheduler) asks of a database pipeline. Times are UTC.</summary>
public sealed record ExportSubmission
{
    /// <summary>instant, daily or hourly.</summary>
    public string Type { get; init; } = "instant";
    /// <summary>Null: instant, a minute ago (clock skew); daily, the start of today; hourly, the start of this hour.</summary>
    public DateTimeOffset? End { get; init; }
    /// <summary>Only with <see cref="IgnoreLastExportTime"/>. Null then: daily, end minus a day; hourly, end minus an hour.</summary>
    public DateTimeOffset? Start { get; init; }
    public bool IgnoreLastExportTime { get; init; }
    public IReadOnlyList<string>? Partitions { get; init; }
    public IReadOnlyList<string>? RecordIds { get; init; }
    public string? RecordsKey { get; init; }
    public string? Tag { get; init; }
}

/// <summary>A request as queued: the load that runs it and whether this call created it (false: the same request was already queued).</summary>
public sealed record ExportQueued(ExportRequestRecord Request, Load? Load, bool Created);

/// <summary>A request that cannot be queued: one message per offending field (CLI option or JSON property).</summary>
public sealed class ExportValidationException(IReadOnlyList<(string Field, string Message)> errors)
    : IntakeException(ErrorKind.Config, string.Join("; ", errors.Select(e => $"{e.Field}: {e.Message}")))
{
    public IReadOnlyList<(string Field, string Message)> Errors { get; } = errors;
}

/// <summary>
/// Queues export requests of database pipelines. Each request becomes a load whose source key is the request's key,
/// derived from the request's content: two identical requests, even from two processes at the same moment, are one
/// load (the catalog's load identity is unique), so they export once. Re-drives wait in the request table until their
/// delay has passed; <see cref="PromoteDueAsync"/> (run by discovery) then turns them into loads.
/// </summary>
public sealed class ExportQueue
{
    private readonly ICatalog _loads;
    private readonly IExportStore _exports;
    private readonly TimeProvider _time;

    public ExportQueue(IntakeRuntime runtime)
        : this(runtime.Catalog, runtime.Ports.Exports, runtime.Time)
    {
    }

    /// <summary>A queue over the catalog's ports: its loads and its export requests.</summary>
    public ExportQueue(ICatalog loads, IExportStore exports, TimeProvider time)
    {
        _loads = loads;
        _exports = exports;
        _time = time;
    }

    public static readonly IReadOnlyList<string> Types = ["instant", "daily", "hourly"];

    private IExportStore Store => _exports;

    /// <summary>Validates, fills in the defaults, queues the request and its load.</summary>
    /// <exception cref="ExportValidationException">The request is invalid; nothing was queued.</exception>
    public async Task<ExportQueued> SubmitAsync(PipelineConfig pipeline, ExportSubmission submission, CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow();
        var request = Build(pipeline, submission, now);
        return await QueueAsync(pipeline, request, cancellationToken);
    }

    /// <summary>A scheduled run: the pipeline's <c>export.type</c> request ending at the start of the day (daily) or hour (hourly) it fired in.</summary>
    public Task<ExportQueued> SubmitScheduledAsync(PipelineConfig pipeline, CancellationToken cancellationToken) =>
        SubmitAsync(pipeline, new ExportSubmission { Type = pipeline.Export?.Type ?? "daily", Tag = "schedule" }, cancellationToken);

    /// <summary>Turns re-drives whose delay has passed into loads. Returns how many loads were registered.</summary>
    public async Task<(int New, int Seen)> PromoteDueAsync(PipelineConfig pipeline, CancellationToken cancellationToken)
    {
        int created = 0, seen = 0;
        foreach (var request in await Store.ListDueExportRequestsAsync(pipeline.Name, _time.GetUtcNow(), 1000, cancellationToken))
        {
            var (_, isNew) = await RegisterAsync(pipeline, request, cancellationToken);
            if (isNew)
            {
                created++;
            }
            else
            {
                seen++;
            }
        }

        return (created, seen);
    }

    internal async Task<ExportQueued> QueueAsync(PipelineConfig pipeline, ExportRequestRecord request, CancellationToken cancellationToken)
    {
        // The request row comes first: a worker that claims the load always finds its request.
        var (stored, added) = await Store.AddExportRequestAsync(request, cancellationToken);
        if (stored.NotBefore > _time.GetUtcNow())
        {
            return new ExportQueued(stored, null, added);
        }

        var (load, created) = await RegisterAsync(pipeline, stored, cancellationToken);
        return new ExportQueued(stored with { LoadId = load.Id }, load, created);
    }

    private async Task<(Load Load, bool Created)> RegisterAsync(PipelineConfig pipeline, ExportRequestRecord request, CancellationToken cancellationToken)
    {
        var result = await _loads.RegisterLoadAsync(new NewLoad(pipeline.Name, request.Customer, request.RequestKey, request.RequestKey), cancellationToken);
        if (request.LoadId is null)
        {
            await Store.SetExportRequestLoadAsync(pipeline.Name, request.RequestKey, result.Load.Id, cancellationToken);
        }

        return (result.Load, result.Created);
    }

    /// <summary>The request as it will be stored, with defaults applied; every problem reported at once.</summary>
    public static ExportRequestRecord Build(PipelineConfig pipeline, ExportSubmission s, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(pipeline);
        ArgumentNullException.ThrowIfNull(s);
        var errors = new List<(string, string)>();
        if (pipeline.Source.Database is null)
        {
            errors.Add(("pipeline", $"'{pipeline.Name}' is not a database pipeline (source.kind: database); only those export"));
            throw new ExportValidationException(errors);
        }

        var type = s.Type.ToLowerInvariant();
        if (!Types.Contains(type))
        {
            errors.Add(("type", $"'{s.Type}' is not an export type (instant, daily, hourly)"));
        }

        var end = (s.End ?? DefaultEnd(type, now)).ToUniversalTime();
        if (end > now)
        {
            errors.Add(("end", $"{Format(end)} is in the future: the watermark would pass records not written yet"));
        }

        var overrideRecords = s.RecordIds is { Count: > 0 } || s.RecordsKey is not null;
        if (s.RecordIds is { Count: > 0 } && s.RecordsKey is not null)
        {
            errors.Add(("records", "give record ids or an object key that holds them, not both"));
        }

        if (overrideRecords && pipeline.Source.Database.IdColumn is null)
        {
            errors.Add(("records", $"pipeline '{pipeline.Name}' has no source.id_column, so records cannot be named"));
        }

        if (s.RecordIds?.Any(string.IsNullOrWhiteSpace) == true)
        {
            errors.Add(("records", "a record id is empty"));
        }

        if (s.Partitions?.Any(string.IsNullOrWhiteSpace) == true)
        {
            errors.Add(("partition", "a partition is empty"));
        }

        DateTimeOffset? start = null;
        if (s.Start is not null && !s.IgnoreLastExportTime)
        {
            errors.Add(("start", "is only used with ignore-last-export-time; without it the window starts at the partition's watermark"));
        }

        if (overrideRecords && (s.Start is not null || s.IgnoreLastExportTime))
        {
            errors.Add(("records", "a record override has no time window: drop start and ignore-last-export-time"));
        }
        else if (s.IgnoreLastExportTime)
        {
            start = s.Start?.ToUniversalTime() ?? type switch
            {
                "daily" => end.AddDays(-1),
                "hourly" => end.AddHours(-1),
                _ => null,
            };
            if (start is null)
            {
                errors.Add(("start", "is required for an instant export that ignores the last export time"));
            }
            else if (start >= end)
            {
                errors.Add(("start", $"{Format(start.Value)} is not before the end {Format(end)}"));
            }
        }

        if (errors.Count > 0)
        {
            throw new ExportValidationException(errors);
        }

        return WithKey(new ExportRequestRecord
        {
            Pipeline = pipeline.Name,
            Customer = pipeline.Customer,
            RequestKey = "",
            ExportType = type,
            Start = start,
            End = end,
            IgnoreLastExportTime = s.IgnoreLastExportTime,
            Partitions = s.Partitions is null ? null : s.Partitions.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToArray(),
            RecordIds = s.RecordIds is { Count: > 0 } ids ? ids.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToArray() : null,
            RecordsKey = s.RecordsKey,
            Tag = s.Tag,
            NotBefore = now,
        });
    }

    /// <summary>
    /// The request's key: readable (type and end) plus a hash of its canonical content, so identical requests
    /// get the same key in every process, and any difference (a partition, a tag, a re-drive count) a new one.
    /// </summary>
    public static ExportRequestRecord WithKey(ExportRequestRecord r)
    {
        var canonical = JsonSerializer.Serialize(new object?[]
        {
            r.ExportType, r.Start is { } s ? Format(s) : null, Format(r.End), r.IgnoreLastExportTime, r.Partitions, r.RecordIds, r.RecordsKey,
            r.Tag, r.RedriveCount, r.RedriveOf,
        });
        var hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(canonical)))[..12];
        return r with { RequestKey = $"export-{r.ExportType}-{r.End.UtcDateTime.ToString("yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture)}-{hash}" };
    }

    /// <summary>The end of a request that gives none.</summary>
    public static DateTimeOffset DefaultEnd(string type, DateTimeOffset now)
    {
        var utc = now.ToUniversalTime();
        return type switch
        {
            "daily" => new DateTimeOffset(utc.UtcDateTime.Date, TimeSpan.Zero),
            "hourly" => new DateTimeOffset(utc.Year, utc.Month, utc.Day, utc.Hour, 0, 0, TimeSpan.Zero),
            // A minute back for clock skew between the writers of the table and this machine; whole minutes,
            // so the same instant request sent twice within a minute is one request.
            _ => Floor(utc.AddMinutes(-1), TimeSpan.FromMinutes(1)),
        };
    }

    private static DateTimeOffset Floor(DateTimeOffset t, TimeSpan unit) => new(t.UtcTicks - (t.UtcTicks % unit.Ticks), TimeSpan.Zero);

    public static string Format(DateTimeOffset t) => t.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);
}
