using Intake.Core.Model;
using Intake.Core.Ports;

namespace Intake.Engine.Steps;

/// <summary>
/// Upserts the load's staging rows into the application table through the pipeline's SQL transform, in one
/// transaction (the COLD importer's import into the application database). Safe to repeat.
/// </summary>
public sealed class MergeStep : IStep
{
    public string Name => StepDescriptor.Merge.Name;

    public async Task<StepResult> RunAsync(StepContext context, CancellationToken cancellationToken)
    {
        var merge = context.Pipeline.Merge!;
        var load = context.Pipeline.Load!.For(context.Load);
        var target = merge.TargetFor(context.Load);
        var warehouse = StepContext.Required(context.MergeWarehouse, "warehouse for the merge step");
        var result = await warehouse.MergeAsync(
            new WarehouseMergeRequest
            {
                StagingTable = load.Table,
                LoadId = context.Load.Id,
                TargetTable = target,
                KeyColumns = merge.Key,
                TransformSql = merge.TransformSql,
                SetupSql = merge.SetupSql,
                VersionColumn = merge.VersionColumn,
                Step = Name,
                Attempt = context.Attempt,
            },
            cancellationToken);
        return new StepResult
        {
            RowsIn = result.RowsInStaging,
            RowsOut = result.RowsMerged,
            RowsRejected = result.RowsKeptNewer,
            Message = result.RowsKeptNewer > 0 ? $"{result.RowsKeptNewer} rows not merged: {target} holds newer versions ({merge.VersionColumn})" : null,
            Outputs = [$"{warehouse.Name}:{target}"],
        };
    }
}
