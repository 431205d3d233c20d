using Intake.Core.Model;
using Intake.Engine.Configuration;
using Intake.Engine.Runtime;
using Intake.Engine.Steps;
using Intake.Sources;
using Microsoft.Extensions.Logging;

namespace Intake.Engine.Scheduling;

/// <summary>What a run of a pipeline found: new loads registered, files already known, requested keys not found.</summary>
public sealed record PipelineRunResult(string Pipeline, int New, int Seen, IReadOnlyList<long> NewLoadIds, IReadOnlyList<string> MissingKeys);

/// <summary>
/// A run of a pipeline: discovery of its source, registering each stable file as a load. Used by the
/// scheduler (cron), by the server's polling of unscheduled pipelines and by "run now" from the API, which
/// may name the source keys to take (an upload trigger: "this file is complete, load it").
/// Workers then carry the new loads through their steps.
/// </summary>
/// <remarks>Thread-safe: runs of one pipeline are serialised (its source remembers the previous listing for
/// the stable-file rule), runs of different pipelines proceed in parallel.</remarks>
public sealed class PipelineRuns
{
    private readonly IntakeRuntime _runtime;
    private readonly ILogger _log;
    private readonly Dictionary<string, (IFileSource Source, SemaphoreSlim Gate)> _sources = new(StringComparer.Ordinal);

    public PipelineRuns(IntakeRuntime runtime)
    {
        _runtime = runtime;
        _log = runtime.Logs.CreateLogger("Intake.Runs");
    }

    /// <summary>Raised after a run registered at least one new load (workers waiting for work wake up on it).</summary>
    public event Action? NewLoads;

    public async Task<PipelineRunResult> RunAsync(PipelineConfig pipeline, IReadOnlyCollection<string>? sourceKeys, string trigger, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(pipeline);
        if (pipeline.Source.Database is not null)
        {
            return await Exports.ExportRuns.RunAsync(_runtime, pipeline, trigger, () => NewLoads?.Invoke(), cancellationToken);
        }

        (IFileSource Source, SemaphoreSlim Gate) entry;
        lock (_sources)
        {
            if (!_sources.TryGetValue(pipeline.Name, out entry))
            {
                entry = (Runtime.Sources.For(pipeline, _runtime.Time), new SemaphoreSlim(1, 1));
                _sources[pipeline.Name] = entry;
            }
        }

        var wanted = sourceKeys is null ? null : new HashSet<string>(sourceKeys, StringComparer.Ordinal);
        var found = new HashSet<string>(StringComparer.Ordinal);
        var created = new List<long>();
        var seen = 0;
        await entry.Gate.WaitAsync(cancellationToken);
        try
        {
            await foreach (var file in entry.Source.ListAsync(cancellationToken))
            {
                if (wanted is not null && !wanted.Contains(file.Key))
                {
                    continue;
                }

                if (pipeline.Validate.Manifest is { } m && ManifestNames.IsManifest(file.Key, m))
                {
                    continue;
                }

                found.Add(file.Key);
                var result = await _runtime.Catalog.RegisterLoadAsync(new NewLoad(pipeline.Name, pipeline.Customer, file.Key, file.Fingerprint, file.Size), cancellationToken);
                if (result.Created)
                {
                    created.Add(result.Load.Id);
                }
                else
                {
                    seen++;
                }
            }
        }
        finally
        {
            entry.Gate.Release();
        }

        var missing = wanted is null ? [] : wanted.Where(k => !found.Contains(k)).Order(StringComparer.Ordinal).ToList();
        SchedulingLog.RunFinished(_log, pipeline.Name, trigger, created.Count, seen);
        if (created.Count > 0)
        {
            NewLoads?.Invoke();
        }

        return new PipelineRunResult(pipeline.Name, created.Count, seen, created, missing);
    }
}
