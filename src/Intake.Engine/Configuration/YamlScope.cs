using System.Globalization;
using System.Text.RegularExpressions;
using YamlDotNet.RepresentationModel;

namespace Intake.Engine.Configuration;

/// <summary>
/// Reads one YAML mapping with positions, collecting every problem instead of stopping at the first.
/// Keys that nobody asked for are reported as unknown, so a typo never silently falls back to a default.
/// </summary>
public sealed partial class YamlScope
{
    private readonly YamlMappingNode? _map;
    private readonly HashSet<string> _read = new(StringComparer.Ordinal);
    private readonly ConfigContext _ctx;

    internal YamlScope(ConfigContext ctx, YamlNode? node, string path)
    {
        _ctx = ctx;
        Path = path;
        Line = node is null ? 0 : (int)node.Start.Line;
        if (node is YamlMappingNode map)
        {
            _map = map;
        }
        else if (node is not null && !(node is YamlScalarNode { Value: null or "" or "~" }))
        {
            ctx.Error(node, path, "expected a mapping of keys to values");
        }
    }

    public string Path { get; }
    public int Line { get; }
    public bool Exists => _map is not null;

    public IEnumerable<(string Key, YamlNode Value)> Entries =>
        _map is null ? [] : _map.Children.Select(kv => (((YamlScalarNode)kv.Key).Value ?? "", kv.Value));

    private string Child(string key) => Path.Length == 0 ? key : $"{Path}.{key}";

    public YamlNode? Node(string key)
    {
        _read.Add(key);
        if (_map is null)
        {
            return null;
        }

        foreach (var kv in _map.Children)
        {
            if (kv.Key is YamlScalarNode k && k.Value == key)
            {
                return kv.Value;
            }
        }

        return null;
    }

    public YamlScope Scope(string key) => new(_ctx, Node(key), Child(key));

    public string? String(string key, bool required = false, string? fallback = null)
    {
        var node = Node(key);
        if (node is null)
        {
            if (required)
            {
                _ctx.Error(_map, Child(key), "is required");
            }

            return fallback;
        }

        if (node is not YamlScalarNode scalar)
        {
            _ctx.Error(node, Child(key), "expected a single value");
            return fallback;
        }

        return _ctx.Substitute(scalar, Child(key));
    }

    public string Name(string key, bool required = false, string? fallback = null)
    {
        var value = String(key, required, fallback);
        if (value is not null && !NamePattern().IsMatch(value))
        {
            _ctx.Error(Node(key), Child(key), $"'{value}' is not a valid name (letters, digits, '_' and '-', starting with a letter)");
        }

        return value ?? "";
    }

    public int Int(string key, int fallback, int min = int.MinValue, int max = int.MaxValue)
    {
        var text = String(key);
        if (text is null)
        {
            return fallback;
        }

        if (!int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) || value < min || value > max)
        {
            _ctx.Error(Node(key), Child(key), $"'{text}' is not a whole number between {min} and {max}");
            return fallback;
        }

        return value;
    }

    public double Double(string key, double fallback, double min = 0)
    {
        var text = String(key);
        if (text is null)
        {
            return fallback;
        }

        if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) || value < min)
        {
            _ctx.Error(Node(key), Child(key), $"'{text}' is not a number of at least {min}");
            return fallback;
        }

        return value;
    }

    public bool Bool(string key, bool fallback)
    {
        var text = String(key);
        return text switch
        {
            null => fallback,
            "true" or "yes" or "on" => true,
            "false" or "no" or "off" => false,
            _ => Fail(),
        };

        bool Fail()
        {
            _ctx.Error(Node(key), Child(key), $"'{text}' is not true or false");
            return fallback;
        }
    }

    /// <summary>Durations like <c>500ms</c>, <c>30s</c>, <c>5m</c>, <c>2h</c>, <c>1d</c>.</summary>
    public TimeSpan Duration(string key, TimeSpan fallback)
    {
        var text = String(key);
        if (text is null)
        {
            return fallback;
        }

        if (Units.TryParseDuration(text, out var value))
        {
            return value;
        }

        _ctx.Error(Node(key), Child(key), $"'{text}' is not a duration (examples: 500ms, 30s, 5m, 2h, 1d)");
        return fallback;
    }

    /// <summary>Sizes like <c>512</c>, <c>64KiB</c>, <c>10MiB</c>, <c>10GiB</c>, <c>1GB</c>.</summary>
    public long Size(string key, long fallback)
    {
        var text = String(key);
        if (text is null)
        {
            return fallback;
        }

        if (Units.TryParseSize(text, out var value))
        {
            return value;
        }

        _ctx.Error(Node(key), Child(key), $"'{text}' is not a size (examples: 1048576, 64KiB, 10MiB, 10GiB)");
        return fallback;
    }

    public IReadOnlyList<string>? StringList(string key)
    {
        var node = Node(key);
        switch (node)
        {
            case null:
                return null;
            case YamlScalarNode s:
                return [_ctx.Substitute(s, Child(key))];
            case YamlSequenceNode seq:
                var list = new List<string>();
                foreach (var item in seq.Children)
                {
                    if (item is YamlScalarNode si)
                    {
                        list.Add(_ctx.Substitute(si, Child(key)));
                    }
                    else
                    {
                        _ctx.Error(item, Child(key), "expected a list of single values");
                    }
                }

                return list;
            default:
                _ctx.Error(node, Child(key), "expected a list");
                return null;
        }
    }

    /// <summary>
    /// A list of mappings (<c>routes:</c>): each item a scope of its own, reporting its problems with its own line as
    /// <c>key[i].sub</c>. Null when the key is absent; a value that is not a list is reported.
    /// </summary>
    public IReadOnlyList<YamlScope>? ScopeList(string key)
    {
        var node = Node(key);
        switch (node)
        {
            case null:
                return null;
            case YamlSequenceNode seq:
                return seq.Children.Select((item, i) => new YamlScope(_ctx, item, $"{Child(key)}[{i.ToString(CultureInfo.InvariantCulture)}]")).ToList();
            default:
                _ctx.Error(node, Child(key), "expected a list");
                return null;
        }
    }

    /// <summary>A mapping of column names to types (<c>id: bigint not null</c>), as <c>load.columns</c> reads it; null when absent.</summary>
    public IReadOnlyList<Core.Ports.ColumnSpec>? Columns(string key) => ConfigLoader.ReadColumns(_ctx, Node(key), Child(key));

    public void Report(string key, string reason)
    {
        var node = _map is null ? null : Node(key);
        _ctx.Errors.Add(new ConfigError(_ctx.File, node is not null ? (int)node.Start.Line : Line, Child(key), reason));
    }

    /// <summary>Reports keys present in the mapping that no reader asked for.</summary>
    public void RejectUnknown()
    {
        if (_map is null)
        {
            return;
        }

        foreach (var kv in _map.Children)
        {
            var key = (kv.Key as YamlScalarNode)?.Value ?? "";
            if (!_read.Contains(key))
            {
                var known = string.Join(", ", _read.Order(StringComparer.Ordinal));
                _ctx.Error(kv.Key, Child(key), $"unknown key (known keys here: {known})");
            }
        }
    }

    [GeneratedRegex(@"^([A-Za-z][A-Za-z0-9_\-]*)$")]
    private static partial Regex NamePattern();
}

/// <summary>The file being read, its variables and the problems found so far.</summary>
internal sealed class ConfigContext
{
    private readonly Variables _variables;

    public ConfigContext(string file, Variables variables, List<ConfigError> errors)
    {
        File = file;
        _variables = variables;
        Errors = errors;
    }

    public string File { get; }
    public List<ConfigError> Errors { get; }

    public void Error(YamlNode? at, string key, string reason) =>
        Errors.Add(new ConfigError(File, at is null ? 0 : (int)at.Start.Line, key, reason));

    public string Substitute(YamlScalarNode node, string key)
    {
        var text = node.Value ?? "";
        var result = _variables.Substitute(text, out var missing, out _);
        foreach (var name in missing)
        {
            Error(node, key, $"environment variable {name} is not set (set it, or add it to .env beside intake.yaml)");
        }

        return result;
    }
}

