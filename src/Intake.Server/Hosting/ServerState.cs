using Intake.Core.Ports;
using Intake.Engine.Configuration;
using Intake.Engine.Runtime;
using Intake.Engine.Scheduling;
using Intake.Server.Metrics;
using Microsoft.Extensions.Logging;

namespace Intake.Server.Hosting;

/// <summary>
/// The opened runtime and what the API, the scheduler and the workers of one process share. Created before
/// the host is built (so it can be registered), filled in once the runtime is open (so the engine logs through
/// the host's JSON logger).
/// </summary>
public sealed class ServerState
{
    private IntakeRuntime? _runtime;
    private (DateTimeOffset At, IReadOnlyList<string> Names)? _active;

    public ServerState(ServerOptions options) => Options = options;

    public ServerOptions Options { get; }
    public IntakeRuntime Runtime => _runtime ?? throw new InvalidOperationException("the runtime is not open yet");
    public IApiKeyStore Keys { get; private set; } = null!;
    public Auth.ApiKeyCache KeyCache { get; private set; } = null!;
    public IScheduleStore Schedules { get; private set; } = null!;
    public ICatalogQueries Queries { get; private set; } = null!;
    public PipelineRuns Runs { get; private set; } = null!;
    public Scheduler Scheduler { get; private set; } = null!;
    public ServerMetrics Metrics { get; private set; } = null!;
    /// <summary>Engine messages as API clients may see them (no absolute server paths).</summary>
    public Api.ClientText ClientText { get; private set; } = null!;
    public WorkSignal Work { get; } = new();
    public ILogger Log { get; private set; } = Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;
    public TimeProvider Time => Runtime.Time;
    public IntakeConfig Config => Runtime.Config;

    /// <summary>Worker id prefix of this process (host:pid:nonce), recorded on the scheduled runs it takes.</summary>
    public string Owner { get; } = WorkerIds.New();

    public void Initialize(IntakeRuntime runtime)
    {
        _runtime = runtime;
        Keys = runtime.Ports.Keys;
        Schedules = runtime.Ports.Schedules;
        Queries = runtime.Ports.Queries;
        Log = runtime.Logs.CreateLogger("Intake.Server");
        KeyCache = new Auth.ApiKeyCache(Keys, runtime.Time, Options.KeyCache);
        Metrics = new ServerMetrics(runtime.Time);
        ClientText = new Api.ClientText(runtime.Config.BaseDirectory);
        Runs = new PipelineRuns(runtime);
        Runs.NewLoads += Work.Pulse;
        Scheduler = new Scheduler(runtime, Schedules, Runs, Owner);
        Scheduler.Fired += (p, _, _) => Metrics.ScheduledRun(p.Name);
    }

    /// <summary>Pipelines whose loads workers may claim: all configured ones but the paused. Cached for a second to spare the catalog a query per claim.</summary>
    public async Task<IReadOnlyList<string>> ActivePipelinesAsync(CancellationToken cancellationToken)
    {
        var now = Time.GetUtcNow();
        if (_active is { } cached && now - cached.At < TimeSpan.FromSeconds(1))
        {
            return cached.Names;
        }

        var paused = await Schedules.GetPausedPipelinesAsync(cancellationToken);
        var names = Config.Pipelines.Select(p => p.Name).Where(n => !paused.ContainsKey(n)).ToList();
        _active = (now, names);
        return names;
    }

    /// <summary>Whether the catalog answers now: tells a catalog outage from a failure of something else (a pipeline's source).</summary>
    public async Task<bool> CatalogAnswersAsync(CancellationToken cancellationToken)
    {
        try
        {
            await Queries.PingAsync(cancellationToken);
            return true;
        }
        catch (Core.Errors.IntakeException e) when (e.IsTransient)
        {
            return false;
        }
    }

    /// <summary>Forget the cached pause state (after a pause or resume through this process).</summary>
    public void PausesChanged() => _active = null;
}
