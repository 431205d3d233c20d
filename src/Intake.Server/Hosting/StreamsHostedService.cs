using Intake.Engine.Configuration;
using Intake.Engine.Streams;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Intake.Server.Hosting;

/// <summary>
/// The streams of <c>intake serve</c> (<c>streams:</c> in intake.yaml): taken over and recovered at start, before the
/// API answers, so a batch sealed before a crash is re-sent first; stopped after the API, committing the records
/// still queued. A written batch is discovered at once through the run-now path, which wakes the workers.
/// </summary>
internal sealed class StreamsHostedService : IHostedService
{
    private readonly ServerState _state;

    public StreamsHostedService(ServerState state) => _state = state;

    /// <summary>The running streams; null until started (a request then is answered 503).</summary>
    public StreamsService? Streams { get; private set; }

    /// <summary>Registers the service (once, as itself, so the endpoints reach the same instance).</summary>
    public static void Add(IServiceCollection services)
    {
        services.AddSingleton<StreamsHostedService>();
        services.AddHostedService(sp => sp.GetRequiredService<StreamsHostedService>());
    }

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var streams = new StreamsService(_state.Runtime, DiscoverAsync);
        streams.Accepted += (stream, records) => _state.Metrics.StreamRecordsAccepted(stream.Name, records);
        streams.Written += (stream, _) => _state.Metrics.StreamBatchWritten(stream.Name);
        await streams.StartAsync();
        Streams = streams;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (Streams is { } streams)
        {
            await streams.DisposeAsync();
        }
    }

    /// <summary>A paused pipeline registers nothing now: the first discovery after it is resumed takes the batch.</summary>
    private async Task<bool> DiscoverAsync(PipelineConfig pipeline, string key, CancellationToken cancellationToken)
    {
        var active = await _state.ActivePipelinesAsync(cancellationToken);
        return !active.Contains(pipeline.Name) || await StreamsService.DiscoverWith(_state.Runs)(pipeline, key, cancellationToken);
    }
}
