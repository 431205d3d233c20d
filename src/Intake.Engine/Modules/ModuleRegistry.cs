namespace Intake.Engine.Modules;

/// <summary>The module kinds a pipeline's <c>modules:</c> may name, by their <see cref="IModule.Kind"/>.</summary>
public sealed class ModuleRegistry
{
    private readonly Dictionary<string, IModule> _byKind;

    /// <exception cref="ArgumentException">Two modules have the same kind.</exception>
    public ModuleRegistry(IEnumerable<IModule> modules)
    {
        ArgumentNullException.ThrowIfNull(modules);
        _byKind = new Dictionary<string, IModule>(StringComparer.Ordinal);
        foreach (var module in modules)
        {
            if (!_byKind.TryAdd(module.Kind, module))
            {
                throw new ArgumentException($"two modules have the kind '{module.Kind}'", nameof(modules));
            }
        }
    }

    /// <summary>The kinds Intake ships: <c>csv</c>, <c>text</c>, <c>command</c>.</summary>
    public static ModuleRegistry BuiltIn { get; } = new([new CsvModule(), new TextModule(), new CommandModule()]);

    public IEnumerable<string> Kinds => _byKind.Keys;

    /// <summary>These kinds and <paramref name="module"/> (an embedding host's own).</summary>
    public ModuleRegistry With(IModule module) => new([.. _byKind.Values, module]);

    public IModule? Find(string kind) => _byKind.GetValueOrDefault(kind);
}
