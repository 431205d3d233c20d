using Intake.Core.Model;

namespace Intake.Engine.Steps;

/// <summary>
/// One step of a pipeline. A step must be safe to run again after a crash at any point:
/// it either finds its own earlier output complete or replaces it.
/// </summary>
public interface IStep
{
    string Name { get; }

    Task<StepResult> RunAsync(StepContext context, CancellationToken cancellationToken);
}
