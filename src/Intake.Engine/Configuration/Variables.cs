using System.Text;
using System.Text.RegularExpressions;

namespace Intake.Engine.Configuration;

/// <summary>
/// <c>${VAR}</c> and <c>${VAR:-default}</c> substitution from the environment, then from a <c>.env</c>
/// file beside intake.yaml. The process environment wins, so a deployment can override the file.
/// </summary>
public sealed partial class Variables
{
    private readonly Dictionary<string, string> _dotEnv;
    private readonly Func<string, string?> _environment;

    public Variables(IReadOnlyDictionary<string, string> dotEnv, Func<string, string?> environment)
    {
        _dotEnv = new Dictionary<string, string>(dotEnv, StringComparer.Ordinal);
        _environment = environment;
    }

    public static Variables FromDirectory(string directory)
    {
        var path = Path.Combine(directory, ".env");
        var values = File.Exists(path) ? ParseDotEnv(File.ReadAllLines(path)) : new Dictionary<string, string>();
        return new Variables(values, Environment.GetEnvironmentVariable);
    }

    /// <summary>Parses KEY=VALUE lines; '#' comments, optional 'export ', and single or double quotes around the value.</summary>
    public static Dictionary<string, string> ParseDotEnv(IEnumerable<string> lines)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var raw in lines)
        {
            var line = raw.Trim();
            if (line.Length == 0 || line[0] == '#')
            {
                continue;
            }

            if (line.StartsWith("export ", StringComparison.Ordinal))
            {
                line = line[7..].TrimStart();
            }

            var eq = line.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0)
            {
                continue;
            }

            var key = line[..eq].Trim();
            var value = line[(eq + 1)..].Trim();
            if (value.Length >= 2 && (value[0] == '"' || value[0] == '\'') && value[^1] == value[0])
            {
                value = value[1..^1];
            }

            result[key] = value;
        }

        return result;
    }

    public string? Lookup(string name) => _environment(name) ?? (_dotEnv.TryGetValue(name, out var v) ? v : null);

    /// <summary>Substitutes every reference; returns the names that have no value and no default.</summary>
    public string Substitute(string text, out IReadOnlyList<string> missing, out bool substituted)
    {
        var missingNames = new List<string>();
        var any = false;
        var result = Reference().Replace(text, m =>
        {
            any = true;
            var name = m.Groups["name"].Value;
            var value = Lookup(name);
            if (value is not null)
            {
                return value;
            }

            if (m.Groups["default"].Success)
            {
                return m.Groups["default"].Value;
            }

            missingNames.Add(name);
            return "";
        });
        missing = missingNames;
        substituted = any;
        return result;
    }

    [GeneratedRegex(@"\$\{(?<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?<default>[^}]*))?\}")]
    private static partial Regex Reference();

    internal static string Mask(string value)
    {
        var sb = new StringBuilder();
        sb.Append('*', Math.Min(8, Math.Max(3, value.Length)));
        return sb.ToString();
    }
}
