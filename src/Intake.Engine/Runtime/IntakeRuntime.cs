using Intake.Catalog;
using Intake.Core.Ports;
using Intake.Engine.Configuration;
using Intake.Storage;
using Intake.Storage.S3;
using Intake.Warehouse;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Intake.Engine.Runtime;

/// <summary>The adapters a configuration declares, opened once: the catalog (migrated), the stores and the warehouses.</summary>
public sealed class IntakeRuntime : IAsyncDisposable
{
    private IntakeRuntime(IntakeConfig config, CatalogPorts ports, IReadOnlyDictionary<string, IObjectStore> stores, IReadOnlyDictionary<string, IWarehouse> warehouses, TimeProvider time, ILoggerFactory logs)
    {
        Config = config;
        Ports = ports;
        Actions = new Operations.LoadActions(ports.Loads, time);
        Stores = stores;
        Warehouses = warehouses;
        Time = time;
        Logs = logs;
    }

    public IntakeConfig Config { get; }
    /// <summary>Every port of the catalog, typed.</summary>
    public CatalogPorts Ports { get; }

    /// <summary>Loads and their step records.</summary>
    public ICatalog Catalog => Ports.Loads;

    /// <summary>The operator's actions on loads (re-drive, hold, cancel), shared by the CLI, the API and the UI.</summary>
    public Operations.LoadActions Actions { get; }
    public IReadOnlyDictionary<string, IObjectStore> Stores { get; }
    public IReadOnlyDictionary<string, IWarehouse> Warehouses { get; }
    public TimeProvider Time { get; }
    public ILoggerFactory Logs { get; }

    public static async Task<IntakeRuntime> OpenAsync(IntakeConfig config, TimeProvider? time = null, ILoggerFactory? logs = null, CancellationToken cancellationToken = default)
    {
        time ??= TimeProvider.System;
        logs ??= NullLoggerFactory.Instance;
        var catalog = CatalogFactory.Open(config.Catalog.Kind, config.Catalog.Connection, time);
        try
        {
            await catalog.Loads.MigrateAsync(cancellationToken);
        }
        catch
        {
            await catalog.Loads.DisposeAsync();
            throw;
        }

        var stores = config.Stores.Values.ToDictionary(s => s.Name, s => CreateStore(s, time), StringComparer.Ordinal);
        var warehouses = config.Warehouses.Values.ToDictionary(w => w.Name, w => WarehouseFactory.Create(w.Name, w.Kind, w.Connection), StringComparer.Ordinal);
        return new IntakeRuntime(config, catalog, stores, warehouses, time, logs);
    }

    private static IObjectStore CreateStore(StoreConfig store, TimeProvider time) => store.Kind switch
    {
        "local" => new LocalDirectoryStore(store.Name, store.Root, time),
        "s3" => new S3ObjectStore(new S3StoreOptions
        {
            Name = store.Name,
            ServiceUrl = store.Url,
            Region = store.Region ?? "us-east-1",
            Bucket = store.Bucket ?? "",
            Prefix = store.Prefix,
            AccessKey = store.AccessKey,
            SecretKey = store.SecretKey,
            AreaBuckets = store.AreaBuckets.ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal),
            CaFile = store.TrustCertificate,
        }),
        _ => throw new Core.Errors.IntakeException(Core.Errors.ErrorKind.Config, $"store '{store.Name}': kind '{store.Kind}' is not available in this build"),
    };

    public PipelineConfig Pipeline(string name) =>
        Config.FindPipeline(name) ?? throw new ArgumentException($"no pipeline named '{name}' (pipelines: {string.Join(", ", Config.Pipelines.Select(p => p.Name))})", nameof(name));

    public IObjectStore StoreFor(PipelineConfig pipeline) => Stores[pipeline.Store];

    public IObjectStore WorkStoreFor(PipelineConfig pipeline) => Stores[pipeline.WorkStore ?? pipeline.Store];

    public ValueTask DisposeAsync() => Catalog.DisposeAsync();
}
