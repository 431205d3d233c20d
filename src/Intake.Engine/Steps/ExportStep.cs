using Intake.Core.Errors;
using Intake.Core.Model;
using Intake.Core.Ports;
using Intake.Engine.Exports;

namespace Intake.Engine.Steps;

/// <summary>
/// Runs the export request a load stands for (database pipelines). Safe to run again: partitions that already
/// succeeded for the request are skipped. When partitions fail, transient failures are retried like any step;
/// once the step gives up, failed partitions are re-queued with their original window (up to <c>redrive.max</c>)
/// and the load fails with the reason.
/// </summary>
public sealed class ExportStep : IStep
{
    public string Name => StepDescriptor.Export.Name;

    public async Task<StepResult> RunAsync(StepContext context, CancellationToken cancellationToken)
    {
        var exports = context.Exports;
        var request = await exports.GetExportRequestAsync(context.Load.Pipeline, context.Load.SourceKey, cancellationToken)
            ?? throw IntakeException.Integrity($"load {context.Load.Id} has no export request '{context.Load.SourceKey}' in the catalog");
        var exporter = new Exporter(context.Pipeline, StepContext.Required(context.ExportStore, "store for the export files"), new ExportQueue(context.Catalog, context.Exports, context.Time), context.Exports, context.Locks, context.Time);
        var outcome = await exporter.RunAsync(request, context.Load, n => context.Progress(n, null), cancellationToken);
        var recordNote = outcome.RowsFailed > 0
            ? $"{outcome.RowsFailed} record(s) could not be exported" + (outcome.Redrives.Count > 0 ? $"; re-drive queued: {string.Join(", ", outcome.Redrives)}" : "; re-drive cap reached")
            : null;
        if (outcome.Failed.Count == 0)
        {
            return new StepResult { RowsOut = outcome.Rows, RowsRejected = outcome.RowsFailed, BytesOut = outcome.Bytes, Outputs = outcome.Outputs, Message = recordNote };
        }

        var first = outcome.Failed[0].Error;
        var summary = string.Join("; ", outcome.Failed.Select(f => $"partition '{f.Partition}': {f.Error.Message}"));
        var lastAttempt = context.Attempt >= context.Pipeline.Retry.MaxAttempts;
        if (!lastAttempt && outcome.Failed.All(f => f.Error.IsTransient))
        {
            // Retried by the worker; the partitions that succeeded are not exported again.
            throw IntakeException.Transient($"{outcome.Failed.Count} partition(s) failed: {summary}", first);
        }

        var redrives = await exporter.QueuePartitionRedrivesAsync(request, outcome.Failed, cancellationToken);
        var next = redrives.Count > 0
            ? $"re-drive queued: {string.Join(", ", redrives)}"
            : $"no re-drive (re-drive {request.RedriveCount} of at most {context.Pipeline.Export!.RedriveMax})";
        // Not transient any more: the re-drive (or the next export, which starts at the unchanged watermark) takes over.
        var kind = first.Kind == ErrorKind.Transient ? ErrorKind.Integrity : first.Kind;
        throw new IntakeException(kind, $"{outcome.Failed.Count} partition(s) failed, no watermark written for them ({next}): {summary}" + (recordNote is null ? "" : $"; {recordNote}"), first);
    }
}
