using Intake.Core.Errors;
using Intake.Core.Ports;
using Intake.Engine.Steps;

namespace Intake.Engine.Cubic;

/// <summary>
/// Gives every row of a DMAP load the day its file covers (<c>cubic.dmap.day_column</c>, type date), taken from the
/// file's name (<see cref="DmapFiles"/>). The day replaces: a day delivered again (a new load of the same key)
/// replaces that day's rows in its load's transaction, and the newest delivery wins. It is the load's lake partition
/// too (<c>day=2022-03-04/</c>).
/// </summary>
public sealed class DmapDayColumn : IConstantColumns
{
    public Task<IReadOnlyList<LoadConstant>> ForAsync(StepContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (context.Pipeline.Cubic?.Dmap is not { } dmap || context.Load.Table is not { } table || !dmap.Covers(table))
        {
            return Task.FromResult<IReadOnlyList<LoadConstant>>([]);
        }

        var (day, problem) = DmapFiles.DayOf(context.Load.SourceKey);
        if (day is null)
        {
            throw IntakeException.Format(
                $"{context.Load.SourceKey}: {problem}. The table {table} is a DMAP dataset (cubic.dmap.tables in {context.Pipeline.File}), so each file must name its day; rename the file, or take the table out of cubic.dmap.tables.");
        }

        IReadOnlyList<LoadConstant> constants = [new LoadConstant(new ConstantColumn(dmap.DayColumn, ColumnType.Date, day.Value)) { Replaces = true, LakePartition = true }];
        return Task.FromResult(constants);
    }
}
