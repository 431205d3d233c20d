using Intake.Core.Ports;
using Intake.Engine.Runtime;
using Intake.Engine.Steps;

namespace Intake.Engine.Tests.Support;

/// <summary>Looks into a test runtime's store and steps, for the tests that wrap or inspect the worker's own steps.</summary>
internal static class RuntimeProbes
{
    /// <summary>The objects under an area of the store of pipeline <c>p</c>.</summary>
    public static async Task<List<ObjectInfo>> ListAsync(IntakeRuntime runtime, string area)
    {
        var found = new List<ObjectInfo>();
        await foreach (var o in runtime.StoreFor(runtime.Pipeline("p")).ListAsync(area, "", default))
        {
            found.Add(o);
        }

        return found;
    }

    /// <summary>The worker's own step of that name, to wrap.</summary>
    public static IStep Real(IntakeRuntime runtime, string name) => Worker.DefaultSteps(runtime).Single(s => s.Name == name);
}
