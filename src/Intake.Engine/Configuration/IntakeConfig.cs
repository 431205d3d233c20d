using Intake.Core.Ports;

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

    public PipelineConfig? FindPipeline(string name) => Pipelines.FirstOrDefault(p => p.Name == name);
}

public sealed record CatalogConfig(string Kind, string Connection);

public sealed record StoreConfig(string Name, string Kind, string Root);

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
}

public sealed record ArchiveLimitsConfig
{
    public long MaxTotalBytes { get; init; } = 10L * 1024 * 1024 * 1024;
    public double MaxRatio { get; init; } = 200;
    public int MaxEntries { get; init; } = 10_000;
}

public sealed record SourceConfig
{
    public required string Kind { get; init; }
    public required string Path { get; init; }
    public IReadOnlyList<string> Include { get; init; } = ["**/*"];
    public IReadOnlyList<string> Exclude { get; init; } = [];
    public TimeSpan StableFor { get; init; } = TimeSpan.FromSeconds(10);
}

public sealed record CsvConfig
{
    public char Delimiter { get; init; } = ',';
    public char Quote { get; init; } = '"';
    public string Encoding { get; init; } = "utf-8";
    /// <summary>Entries of the load that are read as CSV (globs on the entry name).</summary>
    public IReadOnlyList<string> Files { get; init; } = ["**/*.csv", "**/*.txt", "**/*.tsv"];
}

public sealed record ValidateConfig
{
    /// <summary>Sidecar manifest next to the source file, as a template on its name; null for none.</summary>
    public string? Manifest { get; init; }
    /// <summary>Whether a missing manifest fails the load (integrity) or is ignored.</summary>
    public bool ManifestRequired { get; init; }
}

public sealed record LoadStepConfig
{
    public required string Table { get; init; }
    public string? Warehouse { get; init; }
    public IReadOnlyList<ColumnSpec>? Columns { get; init; }
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
    public string KeyTemplate { get; init; } = "{customer}/{category}/{type}/{group}/{received:yyyyMMdd_HHmmss}/{name}";
    public ValidateConfig Validate { get; init; } = new();
    public CsvConfig Csv { get; init; } = new();
    public LoadStepConfig? Load { get; init; }
    public RetryConfig Retry { get; init; } = new();
    public int MaxLoadAttempts { get; init; } = 3;
    public TimeSpan Lease { get; init; } = TimeSpan.FromMinutes(2);
    public ArchiveLimitsConfig Limits { get; init; } = new();
    /// <summary>Cron schedule of the pipeline's runs (discovery) under <c>intake serve</c>, in UTC; null: discovered on every poll.</summary>
    public Scheduling.PipelineSchedule? Schedule { get; init; }
    /// <summary>Job timeout: how long a load may stay in a working status before the sweeper fails it (transient); null for no limit.</summary>
    public TimeSpan? Timeout { get; init; }
}
