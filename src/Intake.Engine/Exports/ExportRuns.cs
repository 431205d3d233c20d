using Intake.Engine.Configuration;
using Intake.Engine.Runtime;
using Intake.Engine.Scheduling;

namespace Intake.Engine.Exports;

/// <summary>
/// A run of a database pipeline under the server: a scheduled run and "run now" from the API queue the pipeline's
/// <c>export.type</c> request (the same request, so run now and the day's tick export once); every run, the server's
/// polling of an unscheduled pipeline included, queues the re-drives that are due.
/// </summary>
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
        // Run now does what the tick would; the polling does not, or an unscheduled pipeline would export daily unasked.
        if (trigger is "schedule" or "api")
        {
            // Daily: the request ends at the start of the UTC day the run is in; hourly: at the start of the hour.
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
