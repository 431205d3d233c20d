using Intake.Engine.Configuration;
using Intake.Engine.Runtime;
using Intake.Engine.Slices;
using Intake.Engine.Steps;

namespace Intake.Engine.Modules;

/// <summary>
/// Parsing modules: the <c>modules:</c> key and the <c>module</c> step it adds, after <c>load</c> and before <c>lake</c>.
/// A pipeline may have modules without the load step (a mail's report parsed into tables of its own).
/// </summary>
public sealed class ModulesSlice : Slice
{
    /// <summary>The modules' step: added by <c>modules:</c>, not listed in <c>steps:</c>.</summary>
    // After cubic_apply (load + 5): a pipeline with both fills its staging tables first; before lake (load + 20).
    public static readonly StepDescriptor Module = StepDescriptor.ForSlice("module", StepDescriptor.Load.Order + 6, StepStage.Ingest);

    private readonly ModuleRegistry _registry;

    public ModulesSlice()
        : this(ModuleRegistry.BuiltIn)
    {
    }

    /// <param name="registry">The module kinds pipelines may name (an embedding host's own among them).</param>
    public ModulesSlice(ModuleRegistry registry) => _registry = registry;

    public override string Name => ModulesConfigReader.Key;

    public override IReadOnlyList<StepDescriptor> Descriptors => [Module];

    public override IEnumerable<IStep> CreateSteps(IntakeRuntime runtime) =>
    [
        new ModuleStep(
            name => (name ?? runtime.Config.Defaults.Warehouse) is { } n && runtime.Warehouses.TryGetValue(n, out var w) ? w : null,
            SliceRegistry.BuiltIn.OfType<IModuleValues>(),
            SliceRegistry.BuiltIn.OfType<IModuleSelection>()),
    ];

    public override PipelineConfig Complete(YamlScope scope, PipelineConfig pipeline)
    {
        var modules = ModulesConfigReader.Read(scope, _registry);
        return modules is null ? pipeline : pipeline with { Modules = modules, Steps = WithStep(pipeline.Steps) };
    }

    /// <summary>The steps with <c>module</c> in its place among the ingest steps (before the first that runs after it).</summary>
    internal static IReadOnlyList<string> WithStep(IReadOnlyList<string> steps)
    {
        if (Module.IsIn(steps))
        {
            return steps;
        }

        var list = steps.ToList();
        var at = list.FindIndex(s => StepDescriptor.Find(s) is { Stage: StepStage.Ingest } d && d.Order > Module.Order);
        list.Insert(at < 0 ? list.Count : at, Module.Name);
        return list;
    }
}
