using Intake.Core.Ports;
using Intake.Sources;

namespace Intake.Engine.Modules;

/// <summary>A pipeline's <c>modules:</c>: the parsing modules its <c>module</c> step runs, in order.</summary>
public sealed record ModulesConfig(IReadOnlyList<ModuleConfig> Modules)
{
    /// <summary>Every table the modules write, each once.</summary>
    public IEnumerable<ModuleTarget> Targets => Modules.SelectMany(m => m.Targets);
}

/// <summary>One item of <c>modules:</c>: the keys every kind shares; the kind's own in <see cref="Options"/>.</summary>
public sealed record ModuleConfig
{
    /// <summary>The module's name (<c>name:</c>), in messages and step records.</summary>
    public required string Name { get; init; }

    /// <summary>The implementation its <c>kind:</c> names.</summary>
    public required IModule Module { get; init; }

    /// <summary>The table of <c>table:</c>, <c>mode:</c>, <c>key:</c>, <c>columns:</c>; null when the kind writes only tables of its own (<c>command</c>'s <c>tables:</c>).</summary>
    public ModuleTarget? Target { get; init; }

    /// <summary>More tables, by name, that a kind may write (<c>command</c>'s <c>tables:</c>).</summary>
    public IReadOnlyDictionary<string, ModuleTarget> OtherTables { get; init; } = new Dictionary<string, ModuleTarget>(StringComparer.Ordinal);

    /// <summary>Globs on the load's file names (<c>files:</c>), relative to its folder: <c>attachments/*.csv</c>, <c>**/*.csv</c>.</summary>
    public required IReadOnlyList<Glob> Files { get; init; }

    /// <summary>
    /// <c>constants:</c>: columns with one value for every row of the module, each a template on the load's values
    /// (<c>grid: "{group}"</c>); text.
    /// </summary>
    public IReadOnlyDictionary<string, string> Constants { get; init; } = new Dictionary<string, string>(StringComparer.Ordinal);

    /// <summary>
    /// <c>source_key_pattern:</c> a regular expression on the load's source key whose named groups are values of the load
    /// for this module (<c>^(?&lt;owner&gt;[^/]+)/(?&lt;grid&gt;[^/]+)/</c> on an upload's <c>customer/grid/dump.tar.gz</c>); null for none.
    /// </summary>
    public System.Text.RegularExpressions.Regex? SourceKeyPattern { get; init; }

    /// <summary><c>optional:</c> a load without a file for the module is not an error (a report sent without its attachment).</summary>
    public bool Optional { get; init; }

    /// <summary>What the kind read of its own keys (<see cref="IModule.ReadOptions"/>).</summary>
    public object? Options { get; init; }

    /// <summary>Every table the module writes.</summary>
    public IEnumerable<ModuleTarget> Targets => (Target is null ? [] : new[] { Target }).Concat(OtherTables.Values);

    /// <summary>The kind's options, typed.</summary>
    public T OptionsAs<T>()
        where T : class => Options as T ?? throw new InvalidOperationException($"module '{Name}' has no {typeof(T).Name}");
}
