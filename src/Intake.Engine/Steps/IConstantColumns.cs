using Intake.Core.Ports;

namespace Intake.Engine.Steps;

/// <summary>
/// Gives a load's rows columns the source does not hold, with one value for the whole load (a slice's snapshot or
/// day). The load step asks every provider on <see cref="StepContext.ConstantColumns"/> and passes what they give to
/// the warehouse (<see cref="WarehouseLoadRequest.Constants"/>), so it never needs to know the slice; the lake step
/// makes the ones that say so the Hive partitions of the load's Parquet file.
/// </summary>
public interface IConstantColumns
{
    /// <summary>The columns for this load; empty when the provider has nothing to add.</summary>
    /// <exception cref="Core.Errors.IntakeException">The load cannot have its value (a daily file whose name is not a day).</exception>
    Task<IReadOnlyList<LoadConstant>> ForAsync(StepContext context, CancellationToken cancellationToken);
}

/// <summary>A constant column of one load, and what more it is than a column.</summary>
/// <param name="Column">The column and its value.</param>
public sealed record LoadConstant(ConstantColumn Column)
{
    /// <summary>
    /// The load replaces the rows of older loads with the same value (<see cref="WarehouseLoadRequest.ReplaceWhere"/>):
    /// a daily file delivered again replaces its day.
    /// </summary>
    public bool Replaces { get; init; }

    /// <summary>
    /// The lake step files the load under <c>&lt;name&gt;=&lt;value&gt;/</c> (a Hive partition, in the order the
    /// providers give them), the value as <see cref="ConstantColumn.Text"/>; readers get the column from the path.
    /// </summary>
    public bool LakePartition { get; init; }
}
