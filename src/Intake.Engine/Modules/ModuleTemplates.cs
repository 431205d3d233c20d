using System.Text.RegularExpressions;
using Intake.Core.Errors;

namespace Intake.Engine.Modules;

/// <summary>Templates on a load's values (<c>{group}</c>, <c>{folder}</c>) in a module's <c>constants:</c> and <c>run:</c>.</summary>
internal static partial class ModuleTemplates
{
    /// <exception cref="IntakeException">Config: the template names a value the load does not have.</exception>
    public static string Render(string template, IReadOnlyDictionary<string, string> values, string module, string key) =>
        Placeholder().Replace(template, m => values.TryGetValue(m.Groups[1].Value, out var value)
            ? value
            : throw IntakeException.Config(
                $"module '{module}': {key} uses {{{m.Groups[1].Value}}}, which this load has no value for (it has {string.Join(", ", values.Keys.Order(StringComparer.Ordinal).Select(k => "{" + k + "}"))})"));

    [GeneratedRegex(@"\{([A-Za-z_][A-Za-z0-9_]*)\}")]
    private static partial Regex Placeholder();
}
