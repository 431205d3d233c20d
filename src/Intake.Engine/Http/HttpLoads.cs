using System.Globalization;
using Intake.Core.Errors;
using Intake.Core.Model;
using Intake.Engine.Configuration;
using Intake.Engine.Runtime;
using Intake.Sources.Http;

namespace Intake.Engine.Http;

/// <summary>
/// The loads of an HTTP pipeline: one per (event type, day), source key <c>{event}/{yyyy-MM-dd}</c>. The catalog's
/// identity (pipeline, source key, fingerprint) makes a second registration of the same day only "seen", so a
/// schedule or a backfill can register freely. A deliberate re-run registers the day under a new fingerprint.
/// </summary>
public static class HttpLoads
{
    /// <summary>The fingerprint of a day's first registration.</summary>
    public const string DayFingerprint = "day";

    public static string SourceKey(string eventType, DateOnly day) => $"{eventType}/{day.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture)}";

    public static (string Event, DateOnly Day) Parse(string sourceKey)
    {
        var slash = sourceKey.LastIndexOf('/');
        if (slash <= 0 || !DateOnly.TryParseExact(sourceKey[(slash + 1)..], "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var day))
        {
            throw IntakeException.Config($"'{sourceKey}' is not an HTTP load's source key (event/yyyy-MM-dd)");
        }

        return (sourceKey[..slash], day);
    }

    /// <summary>The day a scheduled (or <c>run --once</c>) discovery pulls: yesterday, the last complete day, unless <c>day: today</c>.</summary>
    public static DateOnly ScheduledDay(HttpSourceOptions config, TimeProvider time)
    {
        var today = DateOnly.FromDateTime(time.GetUtcNow().UtcDateTime);
        return config.Day == "today" ? today : today.AddDays(-1);
    }

    /// <summary>Registers every event type of the scheduled day; what is registered already is only counted as seen.</summary>
    public static async Task<DiscoveryResult> DiscoverAsync(IntakeRuntime runtime, PipelineConfig pipeline, CancellationToken cancellationToken)
    {
        var config = pipeline.Source.Http!;
        var day = ScheduledDay(config, runtime.Time);
        var created = new List<long>();
        var seen = 0;
        foreach (var e in config.Events)
        {
            var load = new NewLoad(pipeline.Name, pipeline.Customer, SourceKey(e, day), DayFingerprint);
            var result = await runtime.Outage.RunAsync(t => runtime.Catalog.RegisterLoadAsync(load, t), cancellationToken);
            if (result.Created)
            {
                created.Add(result.Load.Id);
            }
            else
            {
                seen++;
            }
        }

        return new DiscoveryResult(pipeline.Name, created.Count, seen) { NewLoadIds = created };
    }
}
