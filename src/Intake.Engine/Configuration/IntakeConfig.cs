using Intake.Core.Model;
using Intake.Core.Ports;
using Intake.Engine.SourceKinds;
using Intake.Sources.Database;
using Intake.Sources.Http;

namespace Intake.Engine.Configuration;

/// <summary>The whole configuration: <c>intake.yaml</c> plus every <c>pipelines/*.yaml</c>.</summary>
public sealed record IntakeConfig
{
    /// <summary>Directory that holds intake.yaml; relative paths in the configuration are resolved from it.</summary>
    public required string BaseDirectory { get; init; }
    public required string ConfigFile { get; init; }
    public required CatalogConfig Catalog { get; init; }
    public required IReadOnlyDictionary<string, StoreConfig> Stores { get; init; }
    public required IReadOnlyDictionary<string, WarehouseConfig> Warehouses { get; init; }
    public required DefaultsConfig Defaults { get; init; }
    public required IReadOnlyList<PipelineConfig> Pipelines { get; init; }
    /// <summary><c>streams:</c>: records pushed to <c>intake serve</c>, batched into files of a pipeline's source (see docs/streams.md).</summary>
    public IReadOnlyList<Streams.StreamConfig> Streams { get; init; } = [];

    public PipelineConfig? FindPipeline(string name) => Pipelines.FirstOrDefault(p => p.Name == name);
}

public sealed record CatalogConfig(string Kind, string Connection);

public sealed record StoreConfig(string Name, string Kind, string Root)
{
    /// <summary>S3: the service URL (http://127.0.0.1:4569, https://s3.eu-west-1.amazonaws.com).</summary>
    public string? Url { get; init; }
    public string? Region { get; init; }
    public string? Bucket { get; init; }
    /// <summary>S3: a prefix inside the bucket under which the areas live.</summary>
    public string? Prefix { get; init; }
    public string? AccessKey { get; init; }
    public string? SecretKey { get; init; }
    /// <summary>S3: areas kept in buckets of their own (the COLD importer's bucket per data type).</summary>
    public IReadOnlyDictionary<string, string> AreaBuckets { get; init; } = new Dictionary<string, string>();
    /// <summary>A CA certificate file to trust for a self-signed https endpoint.</summary>
    public string? TrustCertificate { get; init; }
}

public sealed record WarehouseConfig(string Name, string Kind, string Connection);

public sealed record RetryConfig
{
    /// <summary>Attempts of one step before its transient failure fails the load (first try included).</summary>
    public int MaxAttempts { get; init; } = 4;
    public TimeSpan BaseDelay { get; init; } = TimeSpan.FromSeconds(1);
    public TimeSpan MaxDelay { get; init; } = TimeSpan.FromSeconds(30);
}

public sealed record DefaultsConfig
{
    public string Store { get; init; } = "local";
    public string? Warehouse { get; init; }
    public string Customer { get; init; } = "default";
    public RetryConfig Retry { get; init; } = new();
    /// <summary>Claims of one load (crash or lease expiry included) before it is failed.</summary>
    public int MaxLoadAttempts { get; init; } = 3;
    /// <summary>How long a worker may go without a heartbeat before its load is handed to another worker.</summary>
    public TimeSpan Lease { get; init; } = TimeSpan.FromMinutes(2);
    public ArchiveLimitsConfig Limits { get; init; } = new();
    /// <summary>
    /// A load whose original is at most this many bytes has its step records written together, with its stage's end
    /// (or a step's failure), instead of one commit as each step starts and another as it ends; 0 records every step
    /// as it starts. A worker killed in between leaves no record of those steps and the next one runs them again.
    /// </summary>
    public long SmallLoadsUpTo { get; init; } = 1024 * 1024;
    /// <summary>
    /// Workers that take only small loads (<see cref="SmallLoadsUpTo"/>), beside a process's <c>--workers</c>: many
    /// small files are bound by disk syncs and round trips, not by CPU or memory, so more of them in flight go faster,
    /// while big loads stay as many at once as <c>--workers</c> says. Null: <see cref="DefaultSmallLoadWorkers"/>; 0: none.
    /// </summary>
    public int? SmallLoadWorkers { get; init; }

    /// <summary>
    /// Small loads a small-load worker claims in one claim and carries side by side (<c>defaults.small_load_batch</c>):
    /// they reach their warehouse commit and their stage ends together, which then commit in groups. 1: one at a time.
    /// </summary>
    public int SmallLoadBatch { get; init; } = 4;

    /// <summary>Three per processor, at most 16: with 2 workers on 2 cores, 8 small loads in flight.</summary>
    public static int DefaultSmallLoadWorkers => Math.Min(16, 3 * Environment.ProcessorCount);

    /// <summary>
    /// The small-load workers a process runs: <paramref name="overridden"/> (a command line's <c>--small-workers</c>) when
    /// given, else <see cref="SmallLoadWorkers"/>; none without small loads.
    /// </summary>
    public int SmallLoadLanes(int? overridden = null) => overridden ?? (SmallLoadsUpTo <= 0 ? 0 : SmallLoadWorkers ?? DefaultSmallLoadWorkers);
}

public sealed record ArchiveLimitsConfig
{
    public long MaxTotalBytes { get; init; } = 10L * 1024 * 1024 * 1024;
    public double MaxRatio { get; init; } = 200;
    public int MaxEntries { get; init; } = 10_000;
}

/// <summary>A pipeline's <c>source:</c>: its kind, and the options that kind read from it.</summary>
public sealed record SourceConfig
{
    /// <summary>The kind (<c>source.kind</c>): how the source is read, checked, listed and which steps it takes.</summary>
    public required SourceKind Kind { get; init; }

    /// <summary>Where the source is, for people: a folder, a remote directory, a key prefix, a URL or a table.</summary>
    public required string Path { get; init; }

    /// <summary>
    /// The kind's options as read from the YAML: the adapter's options class for a file source (e.g.
    /// <c>FtpSourceOptions</c>), <see cref="HttpSourceOptions"/>, <see cref="DatabaseSourceOptions"/>. Not modified
    /// after loading; <see cref="SourceKind{TOptions}.Options"/> gives them typed.
    /// </summary>
    public required object Options { get; init; }

    /// <summary>
    /// File kinds: <c>tables_from_prefix</c>, the folders under a root that are tables of their own (each file a load of
    /// its folder's table, each table its own warehouse table); null when the source is one table.
    /// </summary>
    public TablesFromPrefix? Tables { get; init; }

    /// <summary>
    /// File kinds: <c>remove_after</c>, whether a load's file leaves the source once the load is final: deleted there after
    /// its copy in the archive area (archived) or the error area (errored) is verified. Off by default: most sources
    /// belong to their producers.
    /// </summary>
    public bool RemoveAfter { get; init; }

    /// <summary>database: the table or query the incremental exporter reads; null for other kinds.</summary>
    public DatabaseSourceOptions? Database => Options as DatabaseSourceOptions;

    /// <summary>http: the API, its pagination and where the parts go; null for other kinds.</summary>
    public HttpSourceOptions? Http => Options as HttpSourceOptions;
}

public sealed record CsvConfig
{
    public char Delimiter { get; init; } = ',';
    public char Quote { get; init; } = '"';
    /// <summary>Any name .NET knows (code pages included) or a <c>cp1252</c>-style alias; see <see cref="TextEncodings"/>.</summary>
    public string Encoding { get; init; } = "utf-8";
    /// <summary>Entries of the load that are read as CSV (globs on the entry name).</summary>
    public IReadOnlyList<string> Files { get; init; } = ["**/*.csv", "**/*.txt", "**/*.tsv"];
    /// <summary>
    /// Whether data files with a header and no rows are loaded as 0 rows (true) or end the load <c>empty</c>, like a
    /// zero-byte file (false): for most feeds a file without rows is a fault upstream, for some an empty day is normal.
    /// </summary>
    public bool AllowEmpty { get; init; }
}

/// <summary>Data files that are newline-delimited JSON (<c>format: ndjson</c>), loaded into the table like CSV.</summary>
public sealed record NdjsonConfig
{
    /// <summary>Entries of the load that are read as NDJSON (globs on the entry name; compressed files are expanded first).</summary>
    public IReadOnlyList<string> Files { get; init; } = ["**/*.ndjson", "**/*.jsonl"];
    /// <summary>Nested objects become <c>a.b.c</c> columns, arrays stay JSON, as <c>source.flatten</c> does for HTTP pipelines.</summary>
    public bool Flatten { get; init; }
    /// <summary>As <see cref="CsvConfig.AllowEmpty"/>: data files without a record end the load <c>empty</c> unless true.</summary>
    public bool AllowEmpty { get; init; }
}

public sealed record ValidateConfig
{
    /// <summary>Sidecar manifest next to the source file, as a template on its name; null for none.</summary>
    public string? Manifest { get; init; }
    /// <summary>Whether a missing manifest fails the load (integrity) or is ignored.</summary>
    public bool ManifestRequired { get; init; }

    /// <summary>
    /// A metadata file shipped inside the archive (glob on the entry names, e.g. <c>**/*.meta.json</c>) that describes
    /// the data file next to it: <c>{"file": "x.csv", "rows": 100, "size": 12345, "sha256": "…"}</c>. Required when set.
    /// </summary>
    public string? ManifestEntry { get; init; }
}

public sealed record LoadStepConfig
{
    /// <summary>In <see cref="Table"/> and <c>merge.target</c>: the load's source table (<see cref="Load.Table"/>), for pipelines with <c>tables_from_prefix</c>.</summary>
    public const string TablePlaceholder = "{table}";

    /// <summary>
    /// The warehouse table, or a template with <see cref="TablePlaceholder"/> (<c>{table}</c>, <c>raw.{table}</c>): a
    /// warehouse table per source table. Read it through <see cref="For"/>, which fills the template in for a load.
    /// </summary>
    public required string Table { get; init; }
    public string? Warehouse { get; init; }
    public IReadOnlyList<ColumnSpec>? Columns { get; init; }

    /// <summary>
    /// COPY connections writing a file's rows at once (<c>load.streams</c>, PostgreSQL only): one reader parses, this many
    /// encoders and connections write. 1 by default; more pays on a big file when the server has cores to spare.
    /// </summary>
    public int Streams { get; init; } = 1;

    /// <summary>Whether <see cref="Table"/> names one warehouse table per source table.</summary>
    public bool IsPerTable => Table.Contains(TablePlaceholder, StringComparison.Ordinal);

    /// <summary>These settings for one load: <see cref="Table"/> with <c>{table}</c> replaced by the load's source table.</summary>
    /// <exception cref="Core.Errors.IntakeException">Config: the table names one per source table, but the load has none.</exception>
    public LoadStepConfig For(Load load) => IsPerTable ? this with { Table = Fill(Table, load, "load.table") } : this;

    /// <summary>The warehouse table a source table is written to (<see cref="Table"/> itself unless it names one per source table).</summary>
    public string TableFor(string sourceTable) => Table.Replace(TablePlaceholder, sourceTable, StringComparison.Ordinal);

    /// <summary><paramref name="template"/> with <c>{table}</c> replaced by the load's source table.</summary>
    internal static string Fill(string template, Load load, string key) =>
        load.Table is { } table
            ? template.Replace(TablePlaceholder, table, StringComparison.Ordinal)
            : throw Core.Errors.IntakeException.Config(
                $"load {load.Id} ({load.SourceKey}) belongs to no source table, but {key} '{template}' names one per table: it was registered " +
                $"before the pipeline had tables_from_prefix; cancel it, or let discovery register the file again under its table");
}

public sealed record MergeStepConfig
{
    /// <summary>The application table, optionally schema-qualified; it must have a unique index on the key.</summary>
    public required string Target { get; init; }
    public required IReadOnlyList<string> Key { get; init; }
    /// <summary>The SELECT read from the transform file ({staging} and {load_id} are replaced), or null for the staging columns as they are.</summary>
    public string? TransformSql { get; init; }
    /// <summary>Idempotent statements (create table if not exists …) run first, in the same transaction.</summary>
    public string? SetupSql { get; init; }
    /// <summary>A target column ordering versions of a row; an older incoming row never overwrites a newer one.</summary>
    public string? VersionColumn { get; init; }
    public string? Warehouse { get; init; }

    /// <summary>The target for one load: with <c>{table}</c> (tables_from_prefix) replaced by the load's source table.</summary>
    /// <exception cref="Core.Errors.IntakeException">Config: the target names one per source table, but the load has none.</exception>
    public string TargetFor(Load load) =>
        Target.Contains(LoadStepConfig.TablePlaceholder, StringComparison.Ordinal) ? LoadStepConfig.Fill(Target, load, "merge.target") : Target;
}

/// <summary>
/// <c>lake:</c>, the <c>lake</c> step: each load's rows also written as one Parquet file into a store area, partitioned
/// Hive-style (<c>&lt;table&gt;/&lt;name&gt;=&lt;value&gt;/&lt;load id&gt;.parquet</c>) so DuckDB, Spark, Athena or Trino query the bucket as a table.
/// </summary>
public sealed record LakeStepConfig
{
    /// <summary>The store the files go to (<c>lake.store</c>); the pipeline's own store unless named.</summary>
    public required string Store { get; init; }

    /// <summary>The area in that store (<c>lake.area</c>).</summary>
    public string Area { get; init; } = "lake";

    /// <summary>
    /// Rows per row group (<c>lake.row_group_rows</c>): what the writer holds in memory at once, whatever the file's size.
    /// 100,000 rows of a few dozen columns is some tens of megabytes, and row groups that size are what the query engines
    /// read well (far smaller ones make them open too many pages).
    /// </summary>
    public int RowGroupRows { get; init; } = 100_000;
}

public sealed record CopyStepConfig
{
    /// <summary>Where the raw original goes: a store and an area (e.g. the COLD importer's bucket per data type).</summary>
    public required string Store { get; init; }
    public required string Area { get; init; }
    public required string KeyTemplate { get; init; }
}

public sealed record PipelineConfig
{
    public required string Name { get; init; }
    public required string File { get; init; }
    public string Customer { get; init; } = "default";
    public string Category { get; init; } = "data";
    public string Type { get; init; } = "file";
    public string Group { get; init; } = "default";
    public required SourceConfig Source { get; init; }
    public required IReadOnlyList<string> Steps { get; init; }
    public string Store { get; init; } = "local";
    /// <summary>A store for the work area only (e.g. local disk beside an S3 store); null for <see cref="Store"/>.</summary>
    public string? WorkStore { get; init; }
    public string KeyTemplate { get; init; } = "{customer}/{category}/{type}/{group}/{received:yyyyMMdd_HHmmss}/{name}";
    public ValidateConfig Validate { get; init; } = new();
    public CsvConfig Csv { get; init; } = new();
    /// <summary>What the data files are: <c>csv</c> (read with <see cref="Csv"/>) or <c>ndjson</c> (with <see cref="Ndjson"/>).</summary>
    public string Format { get; init; } = "csv";
    public NdjsonConfig Ndjson { get; init; } = new();
    /// <summary>
    /// Keep the work area (the expanded files) after a successful load, so an operator can compare them with the
    /// original; false clears it. A failed load's work area is cleared either way.
    /// </summary>
    public bool KeepWork { get; init; }
    public LoadStepConfig? Load { get; init; }
    public MergeStepConfig? Merge { get; init; }
    public CopyStepConfig? Copy { get; init; }

    /// <summary>The <c>lake</c> step's settings; null when the pipeline has no such step.</summary>
    public LakeStepConfig? Lake { get; init; }
    public RetryConfig Retry { get; init; } = new();
    public int MaxLoadAttempts { get; init; } = 3;
    public TimeSpan Lease { get; init; } = TimeSpan.FromMinutes(2);
    public ArchiveLimitsConfig Limits { get; init; } = new();
    /// <summary>Cron schedule of the pipeline's runs (discovery) under <c>intake serve</c>, in UTC; null: discovered on every poll.</summary>
    public Scheduling.PipelineSchedule? Schedule { get; init; }

    /// <summary>
    /// <c>schedule: triggered</c>: the pipeline's source is looked at only when someone says a file is there (an
    /// upload trigger, <c>POST /api/v1/pipelines/{name}/run</c>); never polled by <c>intake serve</c>, never listed by
    /// <c>intake run</c>. Its workers still carry its loads.
    /// </summary>
    public bool TriggeredOnly { get; init; }

    /// <summary>The <c>schedule</c> value of a <see cref="TriggeredOnly"/> pipeline.</summary>
    public const string TriggeredSchedule = "triggered";
    /// <summary>Job timeout: how long a load may stay in a working status before the sweeper fails it (transient); null for no limit.</summary>
    public TimeSpan? Timeout { get; init; }
    /// <summary>Database pipelines: where and how exports are written.</summary>
    public ExportConfig? Export { get; init; }
    /// <summary>The replaced system's names for failures, recorded as <c>error_code</c> beside the kind; none by default.</summary>
    public ErrorCodes ErrorCodes { get; init; } = ErrorCodes.None;
    /// <summary>The <c>extract:</c> limits of the Mail slice's <c>extract</c> step; null when the pipeline has no such step.</summary>
    public Mail.MailExtractLimits? Extract { get; init; }
    /// <summary>The top-level <c>modules:</c> key (parsing modules, <c>Modules/</c>); null when the pipeline has none.</summary>
    public Modules.ModulesConfig? Modules { get; init; }
    /// <summary>The top-level <c>cubic:</c> key (the Cubic slice, <c>Cubic/</c>); null when the pipeline has none.</summary>
    public Cubic.CubicConfig? Cubic { get; init; }
}
