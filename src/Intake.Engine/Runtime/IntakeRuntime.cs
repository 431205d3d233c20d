using Intake.Catalog;
using Intake.Core.Ports;
using Intake.Engine.Configuration;
using Intake.Storage;
using Intake.Storage.S3;
using Intake.Warehouse;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Intake.Engine.Runtime;

/// <summary>
/// The adapters a configuration declares, opened once: the catalog (migrated), the stores and the warehouses.
/// Disposing the runtime closes every one of them (connection pools, HTTP clients, open files), and what the
/// runtime's users opened for its lifetime through <see cref="Own{T}"/> (discovery's per-pipeline sources).
/// </summary>
public sealed class IntakeRuntime : IAsyncDisposable
{
    // Shared with the copies WithCatalog makes; only the runtime that opened them disposes them.
    private readonly Resources _owned;
    private readonly bool _isCopy;

    private IntakeRuntime(IntakeConfig config, CatalogPorts ports, IReadOnlyDictionary<string, IObjectStore> stores, IReadOnlyDictionary<string, IWarehouse> warehouses, TimeProvider time, ILoggerFactory logs, OutageBackoff outage, Resources owned, bool isCopy = false)
    {
        _owned = owned;
        _isCopy = isCopy;
        Outage = outage;
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

    /// <summary>How this process meets a catalog outage: waits it out (daemons) or fails at once (commands that run once).</summary>
    public OutageBackoff Outage { get; }

    /// <summary>Opens the runtime of a command that runs once: an unreachable catalog fails at once (transient).</summary>
    public static Task<IntakeRuntime> OpenAsync(IntakeConfig config, TimeProvider? time = null, ILoggerFactory? logs = null, CancellationToken cancellationToken = default) =>
        OpenAsync(config, OutageOptions.OneShot, time, logs, cancellationToken);

    /// <summary>
    /// Opens the runtime with an outage policy; with <see cref="OutageOptions.WaitForRecovery"/> (daemons) opening
    /// itself waits until the catalog answers, so a daemon started during an outage comes up when it ends.
    /// </summary>
    public static async Task<IntakeRuntime> OpenAsync(IntakeConfig config, OutageOptions outage, TimeProvider? time, ILoggerFactory? logs, CancellationToken cancellationToken)
    {
        time ??= TimeProvider.System;
        logs ??= NullLoggerFactory.Instance;
        var backoff = new OutageBackoff(outage, time, logs);
        var owned = new Resources();
        try
        {
            // Every answer of the catalog ends an outage: a heartbeat that got through, a first try of any loop.
            var catalog = CatalogFactory.Open(config.Catalog.Kind, config.Catalog.Connection, time, backoff.NoteSuccess);
            owned.Add(catalog.Loads);
            await backoff.RunAsync(catalog.Loads.MigrateAsync, cancellationToken);
            var stores = config.Stores.Values.ToDictionary(s => s.Name, s => owned.Add(CreateStore(s, time)), StringComparer.Ordinal);
            var warehouses = config.Warehouses.Values.ToDictionary(w => w.Name, w => owned.Add(WarehouseFactory.Create(w.Name, w.Kind, w.Connection)), StringComparer.Ordinal);
            return new IntakeRuntime(config, catalog, stores, warehouses, time, logs, backoff, owned);
        }
        catch
        {
            // The catalog unreachable, or a store or warehouse that cannot be built: close what was opened before.
            // A failure to close must not hide why opening failed.
            try
            {
                await owned.DisposeAsync();
            }
            catch (Exception)
            {
            }

            throw;
        }
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

    /// <summary>The same runtime over another catalog: tests wrap the real one to make it fail on cue.</summary>
    /// <remarks>The copy shares what the runtime owns, but disposing it closes nothing: dispose the runtime it was made from.</remarks>
    internal IntakeRuntime WithCatalog(ICatalog catalog) => new(Config, Ports with { Loads = catalog }, Stores, Warehouses, Time, Logs, Outage, _owned, isCopy: true);

    /// <summary>
    /// Hands <paramref name="resource"/> to the runtime, which disposes it (when it is disposable) with everything it
    /// opened: for what lives as long as the runtime, such as discovery's per-pipeline sources. Returns it.
    /// </summary>
    /// <exception cref="ObjectDisposedException">The runtime is disposed already.</exception>
    internal T Own<T>(T resource)
        where T : notnull => _owned.Add(resource);

    public PipelineConfig Pipeline(string name) =>
        Config.FindPipeline(name) ?? throw new ArgumentException($"no pipeline named '{name}' (pipelines: {string.Join(", ", Config.Pipelines.Select(p => p.Name))})", nameof(name));

    public IObjectStore StoreFor(PipelineConfig pipeline) => Stores[pipeline.Store];

    public IObjectStore WorkStoreFor(PipelineConfig pipeline) => Stores[pipeline.WorkStore ?? pipeline.Store];

    /// <summary>Closes, newest first, everything the runtime opened or was handed; a second call does nothing.</summary>
    public ValueTask DisposeAsync() => _isCopy ? ValueTask.CompletedTask : _owned.DisposeAsync();

    /// <summary>What a runtime disposes, in the order added; thread-safe.</summary>
    private sealed class Resources : IAsyncDisposable
    {
        private readonly List<object> _items = [];
        private bool _disposed;

        public T Add<T>(T resource)
            where T : notnull
        {
            lock (_items)
            {
                ObjectDisposedException.ThrowIf(_disposed, typeof(IntakeRuntime));
                _items.Add(resource);
            }

            return resource;
        }

        /// <summary>Disposes each, newest first, all of them even when one fails; then throws the first failure.</summary>
        public async ValueTask DisposeAsync()
        {
            object[] items;
            lock (_items)
            {
                if (_disposed)
                {
                    return;
                }

                _disposed = true;
                items = [.. _items];
            }

            Exception? first = null;
            for (var i = items.Length - 1; i >= 0; i--)
            {
                try
                {
                    switch (items[i])
                    {
                        case IAsyncDisposable d:
                            await d.DisposeAsync();
                            break;
                        case IDisposable d:
                            d.Dispose();
                            break;
                    }
                }
                catch (Exception e)
                {
                    first ??= e;
                }
            }

            if (first is not null)
            {
                System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(first);
            }
        }
    }
}
