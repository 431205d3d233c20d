using Intake.Core.Ports;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Intake.Engine.Configuration;

/// <summary>
/// Reads <c>intake.yaml</c> and <c>pipelines/*.yaml</c>, substitutes variables and validates everything,
/// reporting every problem with its file, line and key at once.
/// </summary>
public static class ConfigLoader
{
    /// <summary>Steps in the only order they can run in; a pipeline lists a subsequence of them.</summary>
    public static readonly IReadOnlyList<string> KnownSteps = ["fetch", "decompress", "validate", "archive", "load"];

    public const string DefaultFileName = "intake.yaml";

    /// <summary>Finds intake.yaml: the given path (a file or a directory), else the current directory.</summary>
    public static string Locate(string? pathOrDirectory)
    {
        var p = string.IsNullOrEmpty(pathOrDirectory) ? Directory.GetCurrentDirectory() : Path.GetFullPath(pathOrDirectory);
        return Directory.Exists(p) ? Path.Combine(p, DefaultFileName) : p;
    }

    public static IntakeConfig Load(string configFile)
    {
        configFile = Path.GetFullPath(configFile);
        if (!File.Exists(configFile))
        {
            throw new ConfigException([new ConfigError(configFile, 0, "(file)", "not found; run 'intake init' to create a starter configuration, or pass --config")]);
        }

        var baseDir = Path.GetDirectoryName(configFile)!;
        var variables = Variables.FromDirectory(baseDir);
        var errors = new List<ConfigError>();
        var root = Parse(configFile, errors);
        var ctx = new ConfigContext(Relative(baseDir, configFile), variables, errors);
        var top = new YamlScope(ctx, root, "");

        var catalog = ReadCatalog(top.Scope("catalog"), baseDir);
        var stores = ReadStores(ctx, top.Scope("stores"), baseDir);
        var warehouses = ReadWarehouses(ctx, top.Scope("warehouses"), baseDir);
        var defaults = ReadDefaults(top.Scope("defaults"), stores, warehouses);
        var pipelinesDir = top.String("pipelines", fallback: "pipelines")!;
        top.RejectUnknown();

        var pipelines = new List<PipelineConfig>();
        var dir = Path.Combine(baseDir, pipelinesDir);
        if (Directory.Exists(dir))
        {
            foreach (var file in Directory.EnumerateFiles(dir, "*.y*ml").Where(f => f.EndsWith(".yaml", StringComparison.Ordinal) || f.EndsWith(".yml", StringComparison.Ordinal)).Order(StringComparer.Ordinal))
            {
                var pctx = new ConfigContext(Relative(baseDir, file), variables, errors);
                var proot = Parse(file, errors);
                var pipeline = ReadPipeline(pctx, new YamlScope(pctx, proot, ""), file, defaults, stores, warehouses);
                if (pipeline is not null)
                {
                    if (pipelines.Any(p => p.Name == pipeline.Name))
                    {
                        errors.Add(new ConfigError(pctx.File, 1, "name", $"pipeline '{pipeline.Name}' is declared twice"));
                    }

                    pipelines.Add(pipeline);
                }
            }
        }

        if (errors.Count > 0)
        {
            throw new ConfigException(errors);
        }

        return new IntakeConfig
        {
            BaseDirectory = baseDir,
            ConfigFile = configFile,
            Catalog = catalog,
            Stores = stores,
            Warehouses = warehouses,
            Defaults = defaults,
            Pipelines = pipelines,
        };
    }

    private static string Relative(string baseDir, string file) => Path.GetRelativePath(baseDir, file);

    private static YamlNode? Parse(string file, List<ConfigError> errors)
    {
        try
        {
            using var reader = new StreamReader(file);
            var stream = new YamlStream();
            stream.Load(reader);
            return stream.Documents.Count == 0 ? null : stream.Documents[0].RootNode;
        }
        catch (YamlException e)
        {
            errors.Add(new ConfigError(Path.GetFileName(file), (int)e.Start.Line, "(syntax)", e.InnerException?.Message ?? e.Message));
            return null;
        }
    }

    private static string ResolvePath(string baseDir, string path) =>
        Path.IsPathRooted(path) ? path : Path.GetFullPath(Path.Combine(baseDir, path));

    private static CatalogConfig ReadCatalog(YamlScope s, string baseDir)
    {
        var kind = s.String("kind", fallback: "sqlite")!;
        string connection;
        switch (kind)
        {
            case "sqlite":
                connection = ResolvePath(baseDir, s.String("path", fallback: ".intake/catalog.db")!);
                break;
            case "postgres":
                connection = s.String("connection", required: true) ?? "";
                break;
            default:
                s.String("path");
                s.String("connection");
                s.RejectUnknown();
                s.Report("kind", $"'{kind}' is not a catalog kind (sqlite, postgres)");
                return new CatalogConfig(kind, "");
        }

        s.RejectUnknown();
        return new CatalogConfig(kind, connection);
    }

    private static Dictionary<string, StoreConfig> ReadStores(ConfigContext ctx, YamlScope s, string baseDir)
    {
        var stores = new Dictionary<string, StoreConfig>(StringComparer.Ordinal);
        foreach (var (name, node) in s.Entries)
        {
            var st = new YamlScope(ctx, node, $"stores.{name}");
            var kind = st.String("kind", fallback: "local")!;
            if (kind != "local")
            {
                st.Report("kind", $"'{kind}' is not a store kind (local; s3 comes with the S3 store)");
            }

            var root = ResolvePath(baseDir, st.String("root", fallback: $".intake/stores/{name}")!);
            st.RejectUnknown();
            stores[name] = new StoreConfig(name, kind, root);
        }

        if (stores.Count == 0)
        {
            stores["local"] = new StoreConfig("local", "local", ResolvePath(baseDir, ".intake/store"));
        }

        return stores;
    }

    private static Dictionary<string, WarehouseConfig> ReadWarehouses(ConfigContext ctx, YamlScope s, string baseDir)
    {
        var result = new Dictionary<string, WarehouseConfig>(StringComparer.Ordinal);
        foreach (var (name, node) in s.Entries)
        {
            var w = new YamlScope(ctx, node, $"warehouses.{name}");
            var kind = w.String("kind", fallback: "sqlite")!;
            string connection = "";
            switch (kind)
            {
                case "sqlite":
                    connection = ResolvePath(baseDir, w.String("path", fallback: $".intake/{name}.db")!);
                    break;
                case "postgres":
                    connection = w.String("connection", required: true) ?? "";
                    break;
                default:
                    w.Report("kind", $"'{kind}' is not a warehouse kind (sqlite, postgres)");
                    break;
            }

            w.RejectUnknown();
            result[name] = new WarehouseConfig(name, kind, connection);
        }

        return result;
    }

    private static RetryConfig ReadRetry(YamlScope s, RetryConfig fallback)
    {
        var retry = new RetryConfig
        {
            MaxAttempts = s.Int("max_attempts", fallback.MaxAttempts, 1, 100),
            BaseDelay = s.Duration("base_delay", fallback.BaseDelay),
            MaxDelay = s.Duration("max_delay", fallback.MaxDelay),
        };
        s.RejectUnknown();
        return retry;
    }

    private static ArchiveLimitsConfig ReadLimits(YamlScope s, ArchiveLimitsConfig fallback)
    {
        var limits = new ArchiveLimitsConfig
        {
            MaxTotalBytes = s.Size("max_bytes", fallback.MaxTotalBytes),
            MaxRatio = s.Double("max_ratio", fallback.MaxRatio, 1),
            MaxEntries = s.Int("max_entries", fallback.MaxEntries, 1),
        };
        s.RejectUnknown();
        return limits;
    }

    private static DefaultsConfig ReadDefaults(YamlScope s, Dictionary<string, StoreConfig> stores, Dictionary<string, WarehouseConfig> warehouses)
    {
        var store = s.String("store", fallback: stores.Keys.First())!;
        if (!stores.ContainsKey(store))
        {
            s.Report("store", $"no store named '{store}' (stores: {string.Join(", ", stores.Keys)})");
        }

        var warehouse = s.String("warehouse", fallback: warehouses.Keys.FirstOrDefault());
        if (warehouse is not null && !warehouses.ContainsKey(warehouse))
        {
            s.Report("warehouse", $"no warehouse named '{warehouse}' (warehouses: {string.Join(", ", warehouses.Keys)})");
        }

        var d = new DefaultsConfig();
        var result = new DefaultsConfig
        {
            Store = store,
            Warehouse = warehouse,
            Customer = s.Name("customer", fallback: "default"),
            Retry = ReadRetry(s.Scope("retry"), d.Retry),
            MaxLoadAttempts = s.Int("max_load_attempts", d.MaxLoadAttempts, 1, 100),
            Lease = s.Duration("lease", d.Lease),
            Limits = ReadLimits(s.Scope("limits"), d.Limits),
        };
        s.RejectUnknown();
        return result;
    }

    private static PipelineConfig? ReadPipeline(ConfigContext ctx, YamlScope s, string file, DefaultsConfig defaults, Dictionary<string, StoreConfig> stores, Dictionary<string, WarehouseConfig> warehouses)
    {
        if (!s.Exists)
        {
            ctx.Errors.Add(new ConfigError(ctx.File, 1, "(file)", "is empty; a pipeline needs at least name, source and steps"));
            return null;
        }

        var name = s.Name("name", required: true);
        var baseDir = Path.GetDirectoryName(file)!;

        var src = s.Scope("source");
        if (!src.Exists)
        {
            s.Report("source", "is required");
        }

        var sourceKind = src.String("kind", fallback: "local")!;
        if (sourceKind != "local")
        {
            src.Report("kind", $"'{sourceKind}' is not a source kind (local)");
        }

        var source = new SourceConfig
        {
            Kind = sourceKind,
            Path = ResolvePath(baseDir, src.String("path", required: src.Exists) ?? "."),
            Include = src.StringList("include") ?? ["**/*"],
            Exclude = src.StringList("exclude") ?? [],
            StableFor = src.Duration("stable_for", TimeSpan.FromSeconds(10)),
        };
        if (src.Exists)
        {
            src.RejectUnknown();
        }

        var steps = s.StringList("steps") ?? [];
        if (steps.Count == 0)
        {
            s.Report("steps", $"is required: a list of steps among {string.Join(", ", KnownSteps)}");
        }

        var lastIndex = -1;
        foreach (var step in steps)
        {
            var index = KnownSteps.ToList().IndexOf(step);
            if (index < 0)
            {
                s.Report("steps", $"'{step}' is not a step (steps: {string.Join(", ", KnownSteps)})");
            }
            else if (index <= lastIndex)
            {
                s.Report("steps", $"'{step}' is out of order or repeated; steps run in this order: {string.Join(", ", KnownSteps)}");
            }
            else
            {
                lastIndex = index;
            }
        }

        if (steps.Count > 0 && steps[0] != "fetch")
        {
            s.Report("steps", "the first step must be 'fetch' (it copies the original into the inbox)");
        }

        var store = s.String("store", fallback: defaults.Store)!;
        if (!stores.ContainsKey(store))
        {
            s.Report("store", $"no store named '{store}' in intake.yaml (stores: {string.Join(", ", stores.Keys)})");
        }

        var v = s.Scope("validate");
        var validate = new ValidateConfig
        {
            Manifest = v.String("manifest"),
            ManifestRequired = v.Bool("required", false),
        };
        v.RejectUnknown();

        var c = s.Scope("csv");
        var delimiter = c.String("delimiter", fallback: ",")!;
        var quote = c.String("quote", fallback: "\"")!;
        if (delimiter == "\\t" || delimiter == "tab")
        {
            delimiter = "\t";
        }

        if (delimiter.Length != 1)
        {
            c.Report("delimiter", $"'{delimiter}' must be a single character (or 'tab')");
        }

        if (quote.Length != 1)
        {
            c.Report("quote", $"'{quote}' must be a single character");
        }

        var encoding = c.String("encoding", fallback: "utf-8")!;
        try
        {
            _ = System.Text.Encoding.GetEncoding(encoding);
        }
        catch (ArgumentException)
        {
            c.Report("encoding", $"'{encoding}' is not a known encoding (utf-8, latin1, utf-16, ascii)");
        }

        var csv = new CsvConfig
        {
            Delimiter = delimiter.Length > 0 ? delimiter[0] : ',',
            Quote = quote.Length > 0 ? quote[0] : '"',
            Encoding = encoding,
            Files = c.StringList("files") ?? new CsvConfig().Files,
        };
        c.RejectUnknown();

        LoadStepConfig? load = null;
        var l = s.Scope("load");
        if (steps.Contains("load"))
        {
            if (!l.Exists)
            {
                s.Report("load", "is required when the steps include 'load' (at least: table)");
            }

            var warehouse = l.String("warehouse", fallback: defaults.Warehouse);
            if (warehouse is null)
            {
                l.Report("warehouse", "no warehouse is declared in intake.yaml (warehouses:) for the load step");
            }
            else if (!warehouses.ContainsKey(warehouse))
            {
                l.Report("warehouse", $"no warehouse named '{warehouse}' (warehouses: {string.Join(", ", warehouses.Keys)})");
            }

            load = new LoadStepConfig
            {
                Table = l.String("table", required: l.Exists) ?? "",
                Warehouse = warehouse,
                Columns = ReadColumns(ctx, l.Node("columns"), "load.columns"),
            };
            l.RejectUnknown();
        }
        else if (l.Exists)
        {
            s.Report("load", "is set but the steps do not include 'load'");
        }

        var limits = ReadLimits(s.Scope("limits"), defaults.Limits);
        var pipeline = new PipelineConfig
        {
            Name = name,
            File = file,
            Customer = s.Name("customer", fallback: defaults.Customer),
            Category = s.Name("category", fallback: "data"),
            Type = s.Name("type", fallback: "file"),
            Group = s.Name("group", fallback: "default"),
            Source = source,
            Steps = steps,
            Store = store,
            KeyTemplate = s.String("key_template", fallback: new PipelineConfig { Name = "", File = "", Source = source, Steps = [] }.KeyTemplate)!,
            Validate = validate,
            Csv = csv,
            Load = load,
            Retry = ReadRetry(s.Scope("retry"), defaults.Retry),
            MaxLoadAttempts = s.Int("max_load_attempts", defaults.MaxLoadAttempts, 1, 100),
            Lease = s.Duration("lease", defaults.Lease),
            Limits = limits,
            Schedule = ScheduleConfig.ReadSchedule(s),
            Timeout = ScheduleConfig.ReadTimeout(s),
        };
        s.RejectUnknown();
        return pipeline;
    }

    private static IReadOnlyList<ColumnSpec>? ReadColumns(ConfigContext ctx, YamlNode? node, string path)
    {
        if (node is null)
        {
            return null;
        }

        if (node is not YamlMappingNode map)
        {
            ctx.Error(node, path, "expected a mapping of column name to type (e.g. id: bigint not null)");
            return null;
        }

        var columns = new List<ColumnSpec>();
        foreach (var (keyNode, valueNode) in map.Children)
        {
            var name = ((YamlScalarNode)keyNode).Value ?? "";
            var spec = (valueNode as YamlScalarNode)?.Value?.Trim().ToLowerInvariant() ?? "";
            var nullable = true;
            if (spec.EndsWith(" not null", StringComparison.Ordinal))
            {
                nullable = false;
                spec = spec[..^" not null".Length].Trim();
            }

            ColumnType? type = spec switch
            {
                "text" or "string" or "varchar" => ColumnType.Text,
                "int" or "integer" or "int4" => ColumnType.Integer,
                "bigint" or "int8" or "long" => ColumnType.BigInt,
                "decimal" or "numeric" => ColumnType.Decimal,
                "double" or "float" or "float8" => ColumnType.Double,
                "bool" or "boolean" => ColumnType.Boolean,
                "date" => ColumnType.Date,
                "timestamp" => ColumnType.Timestamp,
                "timestamptz" => ColumnType.TimestampTz,
                "json" or "jsonb" => ColumnType.Json,
                _ => null,
            };
            if (type is null)
            {
                ctx.Error(valueNode, $"{path}.{name}", $"'{spec}' is not a column type (text, integer, bigint, decimal, double, boolean, date, timestamp, timestamptz, json; add 'not null' to forbid empty values)");
                continue;
            }

            columns.Add(new ColumnSpec(name, type.Value, nullable));
        }

        return columns;
    }
}
