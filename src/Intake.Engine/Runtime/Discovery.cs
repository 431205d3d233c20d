using Intake.Core.Model;
using Intake.Engine.Configuration;
using Intake.Engine.Steps;
using Intake.Sources;
using Microsoft.Extensions.Logging;

namespace Intake.Engine.Runtime;

public sealed record DiscoveryResult(string Pipeline, int New, int Seen);

/// <summary>Lists a pipeline's source and registers each stable file as a load; a file already known (same key and fingerprint) is only counted as seen.</summary>
public sealed class Discovery
{
    private readonly IntakeRuntime _runtime;
    private readonly ILogger _log;

    public Discovery(IntakeRuntime runtime)
    {
        _runtime = runtime;
        _log = runtime.Logs.CreateLogger("Intake.Discovery");
    }

    public async Task<DiscoveryResult> DiscoverAsync(PipelineConfig pipeline, CancellationToken cancellationToken)
    {
        var source = Sources.For(pipeline, _runtime.Time);
        int created = 0, seen = 0;
        await foreach (var file in source.ListAsync(cancellationToken))
        {
            if (pipeline.Validate.Manifest is { } m && ManifestNames.IsManifest(file.Key, m))
            {
                continue;
            }

            var result = await _runtime.Catalog.RegisterLoadAsync(new NewLoad(pipeline.Name, pipeline.Customer, file.Key, file.Fingerprint, file.Size), cancellationToken);
            if (result.Created)
            {
                created++;
            }
            else
            {
                seen++;
            }
        }

        Log.Discovered(_log, pipeline.Name, created, seen);
        return new DiscoveryResult(pipeline.Name, created, seen);
    }
}

/// <summary>Builds the source a pipeline declares.</summary>
public static class Sources
{
    public static IFileSource For(PipelineConfig pipeline, TimeProvider time) => pipeline.Source.Kind switch
    {
        "local" => new LocalDirectorySource(pipeline.Source.Path, pipeline.Source.Include, pipeline.Source.Exclude, pipeline.Source.StableFor, time),
        _ => throw new Core.Errors.IntakeException(Core.Errors.ErrorKind.Config, $"{pipeline.File}: source.kind '{pipeline.Source.Kind}' is not supported"),
    };
}
