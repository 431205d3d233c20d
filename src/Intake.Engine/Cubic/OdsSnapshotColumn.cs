using Intake.Core.Ports;
using Intake.Engine.Steps;

namespace Intake.Engine.Cubic;

/// <summary>
/// Gives every row of an ODS load the snapshot it belongs to (a <c>snapshot</c> column, timestamptz), as the design's
/// Glue tables partition them: the snapshot <see cref="CubicSnapshotStep"/> recorded for the load. It is the load's lake
/// partition too (<c>snapshot=2022-03-04T13%3A45%3A56Z/</c>, the colons escaped as Hive escapes them).
/// </summary>
public sealed class OdsSnapshotColumn : IConstantColumns
{
    public async Task<IReadOnlyList<LoadConstant>> ForAsync(StepContext context, CancellationToken cancellationToken)
    {
        if (OdsSnapshots.RoleOf(context.Pipeline, context.Load) is null || context.Cubic is null)
        {
            return [];
        }

        return await context.Cubic.GetLoadSnapshotAsync(context.Load.Id, cancellationToken) is { } snapshot
            ? [new LoadConstant(new ConstantColumn(OdsFiles.SnapshotColumn, ColumnType.TimestampTz, snapshot)) { LakePartition = true }]
            : [];
    }
}
