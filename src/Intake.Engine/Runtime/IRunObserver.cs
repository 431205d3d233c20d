using Intake.Core.Model;

namespace Intake.Engine.Runtime;

/// <summary>What a front end (progress bars, JSON output) wants to hear about a run. All methods may be called from several workers at once.</summary>
public interface IRunObserver
{
    void LoadStarted(Load load, string stage) { }
    void StepStarted(Load load, string step, int attempt) { }
    /// <summary>Bytes of the current step's main input processed so far, out of <paramref name="total"/> when known.</summary>
    void Progress(Load load, string step, long done, long? total) { }
    void StepFinished(Load load, string step, StepResult result) { }
    void LoadFinished(Load load, LoadStatus status) { }
}

public sealed class NullRunObserver : IRunObserver
{
    public static readonly NullRunObserver Instance = new();
}
