using Intake.Engine.Configuration;
using Intake.Engine.Runtime;
using Intake.Engine.Scheduling;

namespace Intake.Engine.Exports;

/// <summary>A run of a database pipeline under the server: a scheduled run queues the pipeline's daily or hourly request; every run queues the re-drives that are due.</summary>
public static class ExportRuns
{
    public static async Task<PipelineRunResult> RunAsync(IntakeRuntime runtime, PipelineConfig pipeline, string trigger, Action newLoads, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(runtime);
        ArgumentNullException.ThrowIfNull(pipeline);
        ArgumentNullException.ThrowIfNull(newLoads);
        var queue = new ExportQueue(runtime);
        var created = new List<long>();
        var seen = 0;
        if (trigger == "schedule")
        {
            // Daily: the request ends at the start of the UTC day the schedule fired in; hourly: at the start of the hour.
            var queued = await queue.SubmitScheduledAsync(pipeline, cancellationToken);
            if (queued.Created && queued.Load is not null)
            {
                created.Add(queued.Load.Id);
            }
            else
            {
                seen++;
            }
        }

        var (due, known) = await queue.PromoteDueAsync(pipeline, cancellationToken);
        seen += known;
        if (created.Count + due > 0)
        {
            newLoads();
        }

        return new PipelineRunResult(pipeline.Name, created.Count + due, seen, created, []);
    }
}
