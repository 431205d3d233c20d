using Intake.Core.Errors;
using Intake.Core.Ports;
using Intake.Engine.Configuration;
using Intake.Sources;

namespace Intake.Engine.Modules;

/// <summary>
/// Reads a pipeline's top-level <c>modules:</c> list, reporting every problem with the file, line and key
/// (<c>modules[1].mode</c>). The keys every kind shares are read here; each kind reads its own (<see cref="IModule.ReadOptions"/>).
/// </summary>
public static class ModulesConfigReader
{
    public const string Key = "modules";

    /// <summary>The pipeline's modules; null when it has no <c>modules:</c>.</summary>
    public static ModulesConfig? Read(YamlScope pipeline, ModuleRegistry registry)
    {
        var items = pipeline.ScopeList(Key);
        if (items is null)
        {
            return null;
        }

        if (items.Count == 0)
        {
            pipeline.Report(Key, "is empty: list at least one module (name, kind, table), or remove the key");
        }

        var modules = new List<ModuleConfig>();
        var names = new HashSet<string>(StringComparer.Ordinal);
        var tables = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var s in items)
        {
            if (!s.Exists)
            {
                continue; // the scope reported "expected a mapping"
            }

            var name = s.Name("name", required: true);
            if (name.Length > 0 && !names.Add(name))
            {
                s.Report("name", $"'{name}' names two modules; give each its own name");
            }

            var kind = s.String("kind", required: true);
            var module = kind is null ? null : registry.Find(kind);
            if (kind is not null && module is null)
            {
                s.Report("kind", $"'{kind}' is not a module kind ({string.Join(", ", registry.Kinds)})");
            }

            var table = s.String("table");
            var target = ReadTarget(s, table);
            var files = new List<Glob>();
            foreach (var pattern in s.StringList("files") ?? module?.DefaultFiles ?? [])
            {
                try
                {
                    files.Add(Glob.Parse(pattern));
                }
                catch (IntakeException e)
                {
                    s.Report("files", e.Message);
                }
            }

            var constants = new Dictionary<string, string>(StringComparer.Ordinal);
            var c = s.Scope("constants");
            foreach (var (column, _) in c.Entries.ToList())
            {
                constants[column] = c.String(column) ?? "";
            }

            System.Text.RegularExpressions.Regex? keyPattern = null;
            if (s.String("source_key_pattern") is { } keyRegex)
            {
                try
                {
                    keyPattern = new System.Text.RegularExpressions.Regex(keyRegex, System.Text.RegularExpressions.RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1));
                }
                catch (ArgumentException e)
                {
                    s.Report("source_key_pattern", $"is not a regular expression: {e.Message}");
                }
            }

            var config = new ModuleConfig
            {
                Name = name,
                Module = module ?? Unknown.Instance,
                Target = target,
                Files = files,
                Constants = constants,
                Optional = s.Bool("optional", false),
                SourceKeyPattern = keyPattern,
            };
            if (module is not null)
            {
                config = config with { Options = module.ReadOptions(s, config) };
                config = config with { OtherTables = (config.Options as IModuleTables)?.Tables ?? config.OtherTables };
            }

            foreach (var t in config.Targets)
            {
                if (!tables.TryAdd(t.Table, name))
                {
                    s.Report("table", $"'{t.Table}' is written by module '{tables[t.Table]}' too; give each module its own tables (one load writes a table once)");
                }
            }

            s.RejectUnknown();
            modules.Add(config);
        }

        return new ModulesConfig(modules);
    }

    /// <summary>
    /// A table's <c>mode</c>, <c>key</c> and <c>columns</c> in <paramref name="s"/> (a module, or an entry of <c>tables:</c>);
    /// null without a <paramref name="table"/> (the keys are still read, and refused when set).
    /// </summary>
    public static ModuleTarget? ReadTarget(YamlScope s, string? table)
    {
        var mode = s.String("mode", fallback: "append")!;
        var key = s.StringList("key") ?? [];
        var columns = s.Columns("columns");
        var writeMode = mode switch
        {
            "append" => TableWriteMode.Append,
            "upsert" => TableWriteMode.Upsert,
            _ => (TableWriteMode?)null,
        };
        if (writeMode is null)
        {
            s.Report("mode", $"'{mode}' is not a mode (append: add the load's rows; upsert: replace the rows of older loads with the same key)");
        }
        else if (writeMode == TableWriteMode.Upsert && key.Count == 0)
        {
            s.Report("key", "is required with mode: upsert: the column(s) that identify a row (e.g. [grid, date])");
        }
        else if (writeMode == TableWriteMode.Append && key.Count > 0)
        {
            s.Report("key", "is only used with mode: upsert; remove it, or add mode: upsert");
        }

        if (table is null)
        {
            if (s.Node("mode") is not null || key.Count > 0 || columns is not null)
            {
                s.Report("table", "is required with mode, key or columns: the warehouse table the rows go to");
            }

            return null;
        }

        return new ModuleTarget(table, writeMode ?? TableWriteMode.Append, key, columns);
    }

    /// <summary>A kind that writes tables named by its own keys (<c>command</c>'s <c>tables:</c>).</summary>
    internal interface IModuleTables
    {
        IReadOnlyDictionary<string, ModuleTarget> Tables { get; }
    }

    /// <summary>Stands in for a kind that is not registered, so the rest of the module is still checked.</summary>
    private sealed class Unknown : IModule
    {
        public static readonly Unknown Instance = new();

        public string Kind => "";

        public IReadOnlyList<string> DefaultFiles => [];

        public object? ReadOptions(YamlScope scope, ModuleConfig module) => null;

        public Task<IReadOnlyList<ModuleRows>> RunAsync(ModuleContext context, CancellationToken cancellationToken) =>
            throw new InvalidOperationException("an unknown module kind never runs: the configuration refuses it");
    }
}
