using Intake.Core.Model;

namespace Intake.Engine.Steps;

/// <summary>
/// The source kind's action at the source once the original is archived (<see cref="SourceKinds.SourceKind.OnArchivedAsync"/>),
/// run by the worker at the archive stage for kinds that have one, so it is recorded and retried like any step.
/// </summary>
public sealed class ReleaseStep : IStep
{
    public string Name => StepDescriptor.Release.Name;

    public Task<StepResult> RunAsync(StepContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        return context.Pipeline.Source.Kind.OnArchivedAsync(context, cancellationToken);
    }
}
