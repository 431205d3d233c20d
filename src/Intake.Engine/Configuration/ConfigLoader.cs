using Intake.Core.Ports;
using Intake.Engine.SourceKinds;
using Intake.Engine.Steps;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Intake.Engine.Configuration;

/// <summary>
/// Reads <c>intake.yaml</c> and <c>pipelines/*.yaml</c>, substitutes variables and validates everything,
/// reporting every problem with its file, line and key at once.
/// </summary>
public static class ConfigLoader
{
    /// <summary>Steps in the only order they can run in; a pipeline lists a subsequence of them (<see cref="StepDescriptor.Known"/>).</summary>
    public static IReadOnlyList<string> KnownSteps => StepDescriptor.KnownNames;

    public const string DefaultFileName = "intake.yaml";

    /// <summary>Finds intake.yaml: the given path (a file or a directory), else the current directory.</summary>
    public static string Locate(string? pathOrDirectory)
    {
        var p = string.IsNullOrEmpty(pathOrDirectory) ? Directory.GetCurrentDirectory() : Path.GetFullPath(pathOrDirectory);
        return Directory.Exists(p) ? Path.Combine(p, DefaultFileName) : p;
    }

    /// <summary>Reads the configuration with the source kinds Intake ships (<see cref="SourceKindRegistry.BuiltIn"/>).</summary>
    public static IntakeConfig Load(string configFile) => Load(configFile, SourceKindRegistry.BuiltIn);

    /// <summary>Reads the configuration; a pipeline's <c>source.kind</c> must be one of <paramref name="kinds"/>.</summary>
    public static IntakeConfig Load(string configFile, SourceKindRegistry kinds)
    {
        ArgumentNullException.ThrowIfNull(kinds);
        configFile = Path.GetFullPath(configFile);
        if (!File.Exists(configFile))
        {
            throw new ConfigException([new ConfigError(configFile, 0, "(file)", "not found; run 'intake init' to create a starter configuration, or pass --config")]);
        }

        var baseDir = Path.GetDirectoryName(configFile)!;
        var variables = Variables.FromDirectory(baseDir);
        var errors = new List<ConfigError>();
        var root = Parse(configFile, Relative(baseDir, configFile), errors);
        var ctx = new ConfigContext(Relative(baseDir, configFile), variables, errors);
        var top = new YamlScope(ctx, root, "");

        var catalog = ReadCatalog(top.Scope("catalog"), baseDir);
        var stores = ReadStores(ctx, top.Scope("stores"), baseDir);
        var warehouses = ReadWarehouses(ctx, top.Scope("warehouses"), baseDir);
        var defaults = ReadDefaults(top.Scope("defaults"), stores, warehouses);
        var pipelinesDir = top.String("pipelines", fallback: "pipelines")!;
        var streams = Streams.StreamsConfigReader.Read(top.Scope("streams"), baseDir);
        top.RejectUnknown();

        var pipelines = new List<PipelineConfig>();
        var dir = Path.Combine(baseDir, pipelinesDir);
        if (Directory.Exists(dir))
        {
            foreach (var file in Directory.EnumerateFiles(dir, "*.y*ml").Where(f => f.EndsWith(".yaml", StringComparison.Ordinal) || f.EndsWith(".yml", StringComparison.Ordinal)).Order(StringComparer.Ordinal))
            {
                var pctx = new ConfigContext(Relative(baseDir, file), variables, errors);
                var before = errors.Count;
                var proot = Parse(file, pctx.File, errors);
                if (errors.Count > before)
                {
                    continue; // a syntax error says all there is to say about this file
                }

                var pipeline = ReadPipeline(pctx, new YamlScope(pctx, proot, ""), file, defaults, stores, warehouses, kinds);
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

        var streamConfigs = streams.Resolve(pipelines);
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
            Streams = streamConfigs,
        };
    }

    private static string Relative(string baseDir, string file) => Path.GetRelativePath(baseDir, file);

    private static YamlNode? Parse(string file, string displayName, List<ConfigError> errors)
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
            errors.Add(new ConfigError(displayName, (int)e.Start.Line, "(syntax)", e.InnerException?.Message ?? e.Message));
            return null;
        }
    }

    internal static string ResolvePath(string baseDir, string path) =>
        Path.IsPathRooted(path) ? path : Path.GetFullPath(Path.Combine(baseDir, path));

    private static CatalogConfig ReadCatalog(YamlScope s, string baseDir)
    {
        var (kind, connection) = ReadDatabase(s, baseDir, ".intake/catalog.db", "catalog");
        s.RejectUnknown();
        return new CatalogConfig(kind, connection);
    }

    /// <summary>A database the catalog or a warehouse lives in: sqlite with a path, or postgres with a connection string.</summary>
    internal static (string Kind, string Connection) ReadDatabase(YamlScope s, string baseDir, string defaultPath, string what)
    {
        var kind = s.String("kind", fallback: "sqlite")!;
        switch (kind)
        {
            case "sqlite":
                return (kind, ResolvePath(baseDir, s.String("path", fallback: defaultPath)!));
            case "postgres":
                return (kind, s.String("connection", required: true) ?? "");
            default:
                s.String("path");
                s.String("connection");
                s.Report("kind", $"'{kind}' is not a {what} kind (sqlite, postgres)");
                return (kind, "");
        }
    }

    /// <summary>A name that must be declared in intake.yaml (a store, a warehouse).</summary>
    private static void CheckReference<T>(YamlScope scope, string key, string? name, IReadOnlyDictionary<string, T> declared, string what)
    {
        if (name is not null && !declared.ContainsKey(name))
        {
            scope.Report(key, $"no {what} named '{name}' ({what}s: {string.Join(", ", declared.Keys)})");
        }
    }

    private static Dictionary<string, StoreConfig> ReadStores(ConfigContext ctx, YamlScope s, string baseDir)
    {
        var stores = new Dictionary<string, StoreConfig>(StringComparer.Ordinal);
        foreach (var (name, node) in s.Entries)
        {
            var st = new YamlScope(ctx, node, $"stores.{name}");
            var kind = st.String("kind", fallback: "local")!;
            var root = "";
            var config = new StoreConfig(name, kind, root);
            switch (kind)
            {
                case "local":
                    config = config with { Root = ResolvePath(baseDir, st.String("root", fallback: $".intake/stores/{name}")!) };
                    break;
                case "s3":
                    var buckets = new Dictionary<string, string>(StringComparer.Ordinal);
                    foreach (var (area, bucketNode) in st.Scope("area_buckets").Entries)
                    {
                        buckets[area] = (bucketNode as YamlScalarNode)?.Value ?? "";
                    }

                    config = config with
                    {
                        Url = st.String("url", required: true),
                        Region = st.String("region", fallback: "us-east-1"),
                        Bucket = st.String("bucket", required: true),
                        Prefix = st.String("prefix"),
                        AccessKey = st.String("access_key", required: true),
                        SecretKey = st.String("secret_key", required: true),
                        AreaBuckets = buckets,
                        TrustCertificate = st.String("trust_certificate") is { } cert ? ResolvePath(baseDir, cert) : null,
                    };
                    break;
                default:
                    st.Report("kind", $"'{kind}' is not a store kind (local, s3)");
                    break;
            }

            st.RejectUnknown();
            stores[name] = config;
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
            var (kind, connection) = ReadDatabase(w, baseDir, $".intake/{name}.db", "warehouse");
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
        CheckReference(s, "store", store, stores, "store");

        var warehouse = s.String("warehouse", fallback: warehouses.Keys.FirstOrDefault());
        CheckReference(s, "warehouse", warehouse, warehouses, "warehouse");

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
            SmallLoadsUpTo = s.Size("small_loads_up_to", d.SmallLoadsUpTo),
            SmallLoadWorkers = s.Node("small_load_workers") is null ? null : s.Int("small_load_workers", 0, 0, 256),
            SmallLoadBatch = s.Int("small_load_batch", d.SmallLoadBatch, 1, 64),
        };
        s.RejectUnknown();
        return result;
    }

    private static PipelineConfig? ReadPipeline(ConfigContext ctx, YamlScope s, string file, DefaultsConfig defaults, Dictionary<string, StoreConfig> stores, Dictionary<string, WarehouseConfig> warehouses, SourceKindRegistry kinds)
    {
        if (!s.Exists)
        {
            ctx.Errors.Add(new ConfigError(ctx.File, 1, "(file)", "is empty; a pipeline needs at least name, source and steps"));
            return null;
        }

        var name = s.Name("name", required: true);
        var baseDir = Path.GetDirectoryName(file)!;
        var retry = ReadRetry(s.Scope("retry"), defaults.Retry);
        var source = SourceKindReader.Read(ctx, s, baseDir, retry, kinds);

        var steps = ReadSteps(s);
        SourceKindReader.CheckSteps(s, source, steps, kinds);
        if (source.RemoveAfter && steps.Count > 0 && !StepDescriptor.Archive.IsIn(steps))
        {
            // The file leaves its source only once its copy is safe; without the archive copy every load would error.
            s.Scope("source").Report(RemoveAfter.Key, "needs the 'archive' step: a file is deleted at its source only after its copy in the archive area is verified");
        }

        var store = s.String("store", fallback: defaults.Store)!;
        CheckReference(s, "store", store, stores, "store");

        var workStore = s.String("work_store");
        CheckReference(s, "work_store", workStore, stores, "store");

        var validate = ReadValidate(s, steps);
        var (csv, format, ndjson) = ReadDataFormat(s);

        var keepWork = s.Bool("keep_work", false);
        if (keepWork && !StepDescriptor.AnyIn(steps, d => d.WritesWork))
        {
            s.Report("keep_work", "keeps the files expanded by the 'decompress' step, which this pipeline does not have (without it nothing is written to the work area)");
        }

        var perTable = source.Tables is not null;
        var load = ReadLoad(ctx, s, steps, defaults, warehouses, perTable);
        var merge = ReadMerge(s, steps, load, baseDir);
        if (merge is not null)
        {
            CheckTableTemplate(s.Scope("merge"), "target", merge.Target, perTable);
        }

        var copy = ReadCopy(s, steps, store, stores);
        var lake = ReadLake(s, steps, store, stores, load, perTable);

        var keyTemplate = s.String("key_template", fallback: perTable ? TablesFromPrefix.DefaultKeyTemplate : Storage.KeyTemplate.DefaultReceivedText)!;
        CheckKeyTemplate(s, "key_template", keyTemplate);
        if (perTable && !keyTemplate.Contains("{load}", StringComparison.Ordinal))
        {
            // Tables share file names (every Qlik table starts with LOAD001.csv.gz), and their files arrive in the same
            // second: without the load's id two of them would render one inbox key, and one would be loaded twice.
            s.Report("key_template", $"'{keyTemplate}' has no {{load}}: with source.{TablesFromPrefix.Key} the files of different tables share names, so each original needs its load's id in its key (the default is {TablesFromPrefix.DefaultKeyTemplate})");
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
            WorkStore = workStore,
            KeyTemplate = keyTemplate,
            Validate = validate,
            Csv = csv,
            Format = format,
            Ndjson = ndjson,
            KeepWork = keepWork,
            Load = load,
            Merge = merge,
            Copy = copy,
            Lake = lake,
            Retry = retry,
            MaxLoadAttempts = s.Int("max_load_attempts", defaults.MaxLoadAttempts, 1, 100),
            Lease = s.Duration("lease", defaults.Lease),
            Limits = limits,
            Schedule = ScheduleConfig.IsTriggered(s) ? null : ScheduleConfig.ReadSchedule(s) ?? source.Kind.DefaultSchedule,
            TriggeredOnly = ScheduleConfig.IsTriggered(s),
            Timeout = ScheduleConfig.ReadTimeout(s),
            ErrorCodes = ErrorCodes.Read(s, steps),
        };
        foreach (var slice in Slices.SliceRegistry.BuiltIn)
        {
            pipeline = slice.Complete(s, pipeline);
        }

        pipeline = SourceKindReader.Complete(s, pipeline, stores, kinds);
        s.RejectUnknown();
        return pipeline;
    }

    /// <summary>
    /// A warehouse table may name the load's source table (<c>{table}</c>) only when the source has tables
    /// (<c>tables_from_prefix</c>); no other placeholder exists.
    /// </summary>
    private static void CheckTableTemplate(YamlScope scope, string key, string table, bool perTable)
    {
        var rest = table.Replace(LoadStepConfig.TablePlaceholder, "", StringComparison.Ordinal);
        if (rest.Contains('{', StringComparison.Ordinal) || rest.Contains('}', StringComparison.Ordinal))
        {
            scope.Report(key, $"'{table}': the only placeholder a table name takes is {LoadStepConfig.TablePlaceholder} (the source table, with source.{TablesFromPrefix.Key})");
        }
        else if (!perTable && table.Contains(LoadStepConfig.TablePlaceholder, StringComparison.Ordinal))
        {
            scope.Report(key, $"'{table}' names a warehouse table per source table, but the source has no {TablesFromPrefix.Key}: add source.{TablesFromPrefix.Key}, or name one table");
        }
    }

    /// <summary>A key template is checked at start, so an unknown placeholder never fails a load later.</summary>
    private static void CheckKeyTemplate(YamlScope scope, string key, string template)
    {
        try
        {
            _ = Storage.KeyTemplate.Parse(template);
        }
        catch (Core.Errors.IntakeException e)
        {
            scope.Report(key, e.Message);
        }
    }

    /// <summary>
    /// The <c>steps</c> list: known steps, the ingest steps in the order they run; which of them a source kind takes is
    /// its own check. A step of the archive stage (<c>archive</c>) may stand anywhere, once: it runs after the others
    /// whatever its place, and configurations written when it ran between <c>validate</c> and <c>copy</c> keep working.
    /// </summary>
    private static IReadOnlyList<string> ReadSteps(YamlScope s)
    {
        var steps = s.StringList("steps") ?? [];
        if (steps.Count == 0)
        {
            s.Report("steps", $"is required: a list of steps among {string.Join(", ", KnownSteps)}");
        }

        var lastIndex = -1;
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var step in steps)
        {
            var descriptor = StepDescriptor.Find(step);
            var index = descriptor?.Order ?? -1;
            if (index < 0)
            {
                s.Report("steps", $"'{step}' is not a step (steps: {string.Join(", ", KnownSteps)})");
            }
            else if (descriptor!.Stage != StepStage.Ingest)
            {
                if (!seen.Add(step))
                {
                    s.Report("steps", $"'{step}' is repeated; list it once");
                }
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

        return steps;
    }

    /// <summary>The <c>lake:</c> block of a pipeline whose steps include <c>lake</c>; refused without the step.</summary>
    /// <summary>The <c>validate:</c> block: the manifest beside the file or inside the archive.</summary>
    private static ValidateConfig ReadValidate(YamlScope s, IReadOnlyList<string> steps)
    {
        var v = s.Scope("validate");
        var validate = new ValidateConfig
        {
            Manifest = v.String("manifest"),
            ManifestRequired = v.Bool("required", false),
            ManifestEntry = v.String("manifest_entry"),
        };
        if (validate.ManifestEntry is not null && !StepDescriptor.AnyIn(steps, d => d.ExpandsOriginal))
        {
            v.Report("manifest_entry", "needs the 'decompress' step: the metadata file is checked against the expanded data file beside it");
        }

        v.RejectUnknown();
        return validate;
    }

    /// <summary>What the data files are: <c>format</c>, and the <c>csv:</c> or <c>ndjson:</c> block that reads them.</summary>
    private static (CsvConfig Csv, string Format, NdjsonConfig Ndjson) ReadDataFormat(YamlScope s)
    {
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
        if (!TextEncodings.TryGet(encoding, out _))
        {
            var close = TextEncodings.CloseMatches(encoding);
            c.Report("encoding", $"'{encoding}' is not an encoding name{(close.Count > 0 ? $"; did you mean {string.Join(" or ", close)}?" : "")} (any name .NET knows, e.g. utf-8, windows-1252, iso-8859-15, shift_jis, or cp1252-style)");
        }

        var csv = new CsvConfig
        {
            Delimiter = delimiter.Length > 0 ? delimiter[0] : ',',
            Quote = quote.Length > 0 ? quote[0] : '"',
            Encoding = encoding,
            Files = c.StringList("files") ?? new CsvConfig().Files,
            AllowEmpty = c.Bool("allow_empty", false),
        };
        c.RejectUnknown();

        var format = s.String("format", fallback: "csv")!;
        if (format is not ("csv" or "ndjson"))
        {
            s.Report("format", $"'{format}' is not a data file format (csv, ndjson)");
        }

        var nd = s.Scope("ndjson");
        var ndjson = new NdjsonConfig
        {
            Files = nd.StringList("files") ?? new NdjsonConfig().Files,
            Flatten = nd.Bool("flatten", false),
            AllowEmpty = nd.Bool("allow_empty", false),
        };
        nd.RejectUnknown();
        if (nd.Exists && format != "ndjson")
        {
            s.Report("ndjson", "is set but format is not ndjson (add format: ndjson)");
        }
        else if (c.Exists && format == "ndjson")
        {
            s.Report("csv", "is set but format is ndjson: the data files are read with the ndjson keys (files, flatten, allow_empty)");
        }

        return (csv, format, ndjson);
    }

    // More connections than this only queue behind each other on any server Intake expects, and each holds a backend.
    private const int MaxLoadStreams = 64;

    /// <summary>The <c>load:</c> block, when the steps include <c>load</c>: the warehouse, the table (a template with tables from prefixes) and its columns.</summary>
    private static LoadStepConfig? ReadLoad(ConfigContext ctx, YamlScope s, IReadOnlyList<string> steps, DefaultsConfig defaults, Dictionary<string, WarehouseConfig> warehouses, bool perTable)
    {
        LoadStepConfig? load = null;
        var l = s.Scope("load");
        if (StepDescriptor.Load.IsIn(steps))
        {
            if (!l.Exists && !perTable)
            {
                s.Report("load", "is required when the steps include 'load' (at least: table)");
            }

            var warehouse = l.String("warehouse", fallback: defaults.Warehouse);
            if (warehouse is null)
            {
                l.Report("warehouse", "no warehouse is declared in intake.yaml (warehouses:) for the load step");
            }
            else
            {
                CheckReference(l, "warehouse", warehouse, warehouses, "warehouse");
            }

            // With tables_from_prefix each source table gets its own warehouse table unless one is named.
            load = new LoadStepConfig
            {
                Table = l.String("table", required: l.Exists && !perTable) ?? (perTable ? LoadStepConfig.TablePlaceholder : ""),
                Warehouse = warehouse,
                Columns = ReadColumns(ctx, l.Node("columns"), "load.columns"),
                Streams = l.Int("streams", 1, min: 1, max: MaxLoadStreams),
            };
            CheckTableTemplate(l, "table", load.Table, perTable);
            if (load.Streams > 1 && warehouse is not null && warehouses.TryGetValue(warehouse, out var w) && w.Kind == "sqlite")
            {
                // SQLite takes one writer at a time: a second connection would only wait. Refused rather than ignored,
                // so nobody reads a setting that does nothing.
                l.Report("streams", $"is {load.Streams}, but warehouse '{warehouse}' is {w.Kind}, which writes through one connection; parallel COPY streams need a PostgreSQL warehouse (remove streams or set it to 1)");
            }

            l.RejectUnknown();
        }
        else if (l.Exists)
        {
            s.Report("load", "is set but the steps do not include 'load'");
        }

        return load;
    }

    /// <summary>The <c>copy:</c> block, when the steps include <c>copy</c>: the store, area and key template of the raw copy.</summary>
    private static CopyStepConfig? ReadCopy(YamlScope s, IReadOnlyList<string> steps, string store, Dictionary<string, StoreConfig> stores)
    {
        CopyStepConfig? copy = null;
        var cp = s.Scope("copy");
        if (StepDescriptor.Copy.IsIn(steps))
        {
            if (!cp.Exists)
            {
                s.Report("copy", "is required when the steps include 'copy' (at least: area)");
            }

            var copyStore = cp.String("store", fallback: store)!;
            CheckReference(cp, "store", copyStore, stores, "store");

            copy = new CopyStepConfig
            {
                Store = copyStore,
                Area = cp.Name("area", required: cp.Exists, fallback: "raw"),
                KeyTemplate = cp.String("key_template", fallback: "{type}/{name}")!,
            };
            CheckKeyTemplate(cp, "key_template", copy.KeyTemplate);
            cp.RejectUnknown();
        }
        else if (cp.Exists)
        {
            s.Report("copy", "is set but the steps do not include 'copy'");
        }

        return copy;
    }

    private static LakeStepConfig? ReadLake(YamlScope s, IReadOnlyList<string> steps, string store, IReadOnlyDictionary<string, StoreConfig> stores, LoadStepConfig? load, bool perTable)
    {
        var lk = s.Scope("lake");
        if (!StepDescriptor.Lake.IsIn(steps))
        {
            if (lk.Exists)
            {
                s.Report("lake", "is set but the steps do not include 'lake'");
            }

            return null;
        }

        var lakeStore = lk.String("store", fallback: store)!;
        CheckReference(lk, "store", lakeStore, stores, "store");
        var lake = new LakeStepConfig
        {
            Store = lakeStore,
            Area = lk.Name("area", fallback: "lake"),
            // Fewer rows than this make row groups too small for the query engines; more than ten million hold too much.
            RowGroupRows = lk.Int("row_group_rows", 100_000, 1_000, 10_000_000),
        };
        if (load is null && !perTable)
        {
            s.Report("lake", "needs a table name for its folder: a load step (load.table) or source.tables_from_prefix");
        }

        lk.RejectUnknown();
        return lake;
    }

    private static MergeStepConfig? ReadMerge(YamlScope s, IReadOnlyList<string> steps, LoadStepConfig? load, string baseDir)
    {
        var m = s.Scope("merge");
        if (!StepDescriptor.Merge.IsIn(steps))
        {
            if (m.Exists)
            {
                s.Report("merge", "is set but the steps do not include 'merge'");
            }

            return null;
        }

        if (!m.Exists)
        {
            s.Report("merge", "is required when the steps include 'merge' (at least: target and key)");
            return null;
        }

        if (load is null)
        {
            s.Report("steps", "'merge' reads the staging table that 'load' writes; add 'load' before it");
        }

        var warehouse = m.String("warehouse", fallback: load?.Warehouse);
        if (warehouse is not null && warehouse != load?.Warehouse)
        {
            m.Report("warehouse", $"must be the load step's warehouse ('{load?.Warehouse}'): the merge runs in the staging table's database, in one transaction");
        }

        var key = m.StringList("key") ?? [];
        if (key.Count == 0)
        {
            m.Report("key", "is required: the column(s) that identify a row of the target (the upsert key)");
        }

        string? ReadSqlFile(string field)
        {
            var path = m.String(field);
            if (path is null)
            {
                return null;
            }

            var full = ResolvePath(baseDir, path);
            if (!File.Exists(full))
            {
                m.Report(field, $"file '{full}' does not exist");
                return null;
            }

            return File.ReadAllText(full);
        }

        var result = new MergeStepConfig
        {
            Target = m.String("target", required: true) ?? "",
            Key = key,
            TransformSql = ReadSqlFile("transform"),
            SetupSql = ReadSqlFile("setup"),
            VersionColumn = m.String("version_column"),
            Warehouse = warehouse,
        };
        m.RejectUnknown();
        return result;
    }

    internal static IReadOnlyList<ColumnSpec>? ReadColumns(ConfigContext ctx, YamlNode? node, string path)
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
