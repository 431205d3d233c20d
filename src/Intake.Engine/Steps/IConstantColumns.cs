using Intake.Core.Ports;

namespace Intake.Engine.Steps;

/// <summary>
/// Gives a load's rows columns the source does not hold, with one value for the whole load (a slice's snapshot or
/// day). The load step asks every provider on <see cref="StepContext.ConstantColumns"/> and passes what they give to
/// the warehouse (<see cref="WarehouseLoadRequest.Constants"/>), so it never needs to know the slice.
/// </summary>
public interface IConstantColumns
{
    /// <summary>The columns for this load; empty when the provider has nothing to add.</summary>
    Task<IReadOnlyList<ConstantColumn>> ForAsync(StepContext context, CancellationToken cancellationToken);
}
