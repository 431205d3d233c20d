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
/// A triggered run of a pipeline: a schedule tick, the server's polling of unscheduled pipelines, or "run now"
/// from the API, which may name the source keys to take (an upload trigger). File and HTTP pipelines go through
/// the one <see cref="Discovery"/> that every host uses; a database pipeline's run queues its scheduled export.
/// Workers then carry the new loads through their steps.
/// </summary>
public sealed class PipelineRuns
{
    private readonly IntakeRuntime _runtime;
    private readonly Discovery _discovery;
    private readonly ILogger _log;

    public PipelineRuns(IntakeRuntime runtime)
    {
        _runtime = runtime;
        _discovery = new Discovery(runtime);
        _log = runtime.Logs.CreateLogger("Intake.Runs");
    }

    /// <summary>Raised after a run registered at least one new load (workers waiting for work wake up on it).</summary>
    public event Action? NewLoads;

    public Task<PipelineRunResult> RunAsync(PipelineConfig pipeline, IReadOnlyCollection<string>? sourceKeys, string trigger, CancellationToken cancellationToken) =>
        RunAsync(pipeline, sourceKeys, trigger, null, cancellationToken);

    /// <param name="pipeline">The pipeline to run.</param>
    /// <param name="sourceKeys">Only these source keys; null for the whole source.</param>
    /// <param name="trigger">Who asked, for the log: <c>api</c>, <c>poll</c>, <c>schedule</c>, <c>upload</c>.</param>
    /// <param name="customer">The customer the new loads belong to (an upload trigger's); null for the pipeline's.</param>
    /// <param name="cancellationToken">Stops the run.</param>
    public Task<PipelineRunResult> RunAsync(PipelineConfig pipeline, IReadOnlyCollection<string>? sourceKeys, string trigger, string? customer, CancellationToken cancellationToken) =>
        RunAsync(pipeline, sourceKeys, trigger, customer, null, cancellationToken);

    /// <param name="pipeline">The pipeline to run.</param>
    /// <param name="sourceKeys">Only these source keys; null for the whole source.</param>
    /// <param name="trigger">Who asked, for the log.</param>
    /// <param name="customer">The customer the new loads belong to; null for the pipeline's.</param>
    /// <param name="group">The group the new loads are filed under (an upload trigger's grid); null for the pipeline's.</param>
    /// <param name="cancellationToken">Stops the run.</param>
    public async Task<PipelineRunResult> RunAsync(PipelineConfig pipeline, IReadOnlyCollection<string>? sourceKeys, string trigger, string? customer, string? group, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(pipeline);
        if (pipeline.Source.Database is not null)
        {
            return await Exports.ExportRuns.RunAsync(_runtime, pipeline, trigger, () => NewLoads?.Invoke(), cancellationToken);
        }

        var found = await _discovery.DiscoverAsync(pipeline, sourceKeys, customer, group, cancellationToken);
        SchedulingLog.RunFinished(_log, pipeline.Name, trigger, found.New, found.Seen);
        if (found.New > 0)
        {
            NewLoads?.Invoke();
        }

        return new PipelineRunResult(pipeline.Name, found.New, found.Seen, found.NewLoadIds, found.MissingKeys);
    }
}
