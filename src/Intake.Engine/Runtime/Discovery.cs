using Intake.Core.Model;
using Intake.Engine.Configuration;
using Intake.Engine.Steps;
using Intake.Sources;
using Intake.Sources.Ftp;
using Intake.Sources.S3;
using Intake.Sources.Sftp;
using Microsoft.Extensions.Logging;

namespace Intake.Engine.Runtime;

public sealed record DiscoveryResult(string Pipeline, int New, int Seen)
{
    /// <summary>Why the source could not be listed this time, or null.</summary>
    public Core.Errors.IntakeException? Error { get; init; }

    /// <summary>The loads this discovery registered.</summary>
    public IReadOnlyList<long> NewLoadIds { get; init; } = [];

    /// <summary>Source keys that were asked for but are not in the source (a trigger for a file that is not there).</summary>
    public IReadOnlyList<string> MissingKeys { get; init; } = [];
}

/// <summary>
/// The one discovery of every host (<c>run</c>, <c>backfill</c>, <c>worker</c>, and <c>serve</c>'s schedule ticks and
/// "run now"): lists a pipeline's source and registers each stable file as a load; a file already known (same key
/// and fingerprint) is only counted as seen. HTTP pipelines register one load per event and day without a listing;
/// database pipelines promote their due export re-drives.
/// </summary>
/// <remarks>Thread-safe: discoveries of one pipeline are serialised (its source remembers the previous listing for
/// the stable-file rule), discoveries of different pipelines proceed in parallel.</remarks>
public sealed class Discovery
{
    private readonly IntakeRuntime _runtime;
    private readonly ILogger _log;

    // One source per pipeline for the life of the process: the stable-file rule compares each listing with the previous one.
    private readonly Dictionary<string, (IFileSource Source, SemaphoreSlim Gate)> _sources = new(StringComparer.Ordinal);

    public Discovery(IntakeRuntime runtime)
    {
        _runtime = runtime;
        _log = runtime.Logs.CreateLogger("Intake.Discovery");
    }

    public Task<DiscoveryResult> DiscoverAsync(PipelineConfig pipeline, CancellationToken cancellationToken) =>
        DiscoverAsync(pipeline, null, cancellationToken);

    /// <param name="pipeline">The pipeline whose source is listed.</param>
    /// <param name="sourceKeys">Only these keys (an upload trigger: "this file is complete, load it"); null for all.</param>
    /// <param name="cancellationToken">Stops the listing.</param>
    public async Task<DiscoveryResult> DiscoverAsync(PipelineConfig pipeline, IReadOnlyCollection<string>? sourceKeys, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(pipeline);
        if (pipeline.Source.Database is not null)
        {
            // A database pipeline has no files: its loads are export requests, queued by the CLI, the API or the schedule; re-drives are queued here once due.
            var (due, known) = await new Exports.ExportQueue(_runtime).PromoteDueAsync(pipeline, cancellationToken);
            return new DiscoveryResult(pipeline.Name, due, known);
        }

        if (pipeline.Source.Kind == "http")
        {
            return await Http.HttpLoads.DiscoverAsync(_runtime, pipeline, cancellationToken); // one load per (event, day), no listing
        }

        (IFileSource Source, SemaphoreSlim Gate) entry;
        lock (_sources)
        {
            if (!_sources.TryGetValue(pipeline.Name, out entry))
            {
                entry = (Sources.For(pipeline, _runtime.Time), new SemaphoreSlim(1, 1));
                _sources[pipeline.Name] = entry;
            }
        }

        var wanted = sourceKeys is null ? null : new HashSet<string>(sourceKeys, StringComparer.Ordinal);
        var found = new HashSet<string>(StringComparer.Ordinal);
        var created = new List<long>();
        var seen = 0;
        await entry.Gate.WaitAsync(cancellationToken);
        try
        {
            await foreach (var file in entry.Source.ListAsync(cancellationToken))
            {
                if (wanted is not null && !wanted.Contains(file.Key))
                {
                    continue;
                }

                if (pipeline.Validate.Manifest is { } m && ManifestNames.IsManifest(file.Key, m))
                {
                    continue;
                }

                found.Add(file.Key);
                // Safe to repeat after an outage: a load already registered is returned, not added again.
                var load = new NewLoad(pipeline.Name, pipeline.Customer, file.Key, file.Fingerprint, file.Size);
                var result = await _runtime.Outage.RunAsync(t => _runtime.Catalog.RegisterLoadAsync(load, t), cancellationToken);
                if (result.Created)
                {
                    created.Add(result.Load.Id);
                }
                else
                {
                    seen++;
                }
            }
        }
        finally
        {
            entry.Gate.Release();
        }

        Log.Discovered(_log, pipeline.Name, created.Count, seen);
        return new DiscoveryResult(pipeline.Name, created.Count, seen)
        {
            NewLoadIds = created,
            MissingKeys = wanted is null ? [] : wanted.Where(k => !found.Contains(k)).Order(StringComparer.Ordinal).ToList(),
        };
    }
}

/// <summary>Builds the source a pipeline declares.</summary>
public static class Sources
{
    public static IFileSource For(PipelineConfig pipeline, TimeProvider time) => pipeline.Source.Kind switch
    {
        "local" => new LocalDirectorySource(new LocalDirectorySourceOptions { Directory = pipeline.Source.Path, Include = pipeline.Source.Include.ToList(), Exclude = pipeline.Source.Exclude.ToList(), StableFor = pipeline.Source.StableFor }, time),
        "ftp" => new FtpSource(
            new FtpSourceOptions
            {
                Host = pipeline.Source.Host!,
                Port = pipeline.Source.Port ?? 21,
                User = pipeline.Source.User!,
                Password = pipeline.Source.Password ?? "",
                Tls = pipeline.Source.Tls == "explicit" ? FtpTlsMode.Explicit : FtpTlsMode.None,
                TrustedCertificateFile = pipeline.Source.TrustCertificate,
                ConnectTimeout = pipeline.Source.Timeout,
                ReadTimeout = pipeline.Source.Timeout,
                RemoteDirectory = pipeline.Source.Path,
                Include = pipeline.Source.Include.ToList(),
                Exclude = pipeline.Source.Exclude.ToList(),
                StableFor = pipeline.Source.StableFor,
                // Resuming a dropped download follows the pipeline's retry settings (the step's own retries come on top).
                Resume = new FtpResumePolicy { MaxRetries = Math.Max(1, pipeline.Retry.MaxAttempts - 1), BaseDelay = pipeline.Retry.BaseDelay, MaxDelay = pipeline.Retry.MaxDelay },
            },
            time),
        "sftp" => new SftpSource(
            new SftpSourceOptions
            {
                Host = pipeline.Source.Host!,
                Port = pipeline.Source.Port ?? 22,
                User = pipeline.Source.User!,
                PrivateKeyFile = pipeline.Source.KeyFile!,
                KnownHostsFile = pipeline.Source.KnownHosts,
                HostKeyFingerprint = pipeline.Source.HostKeyFingerprint,
                RemoteDirectory = pipeline.Source.Path,
                Include = pipeline.Source.Include.ToList(),
                Exclude = pipeline.Source.Exclude.ToList(),
                StableFor = pipeline.Source.StableFor,
                ConnectTimeout = pipeline.Source.Timeout,
            },
            time),
        "s3" => new S3Source(new S3SourceOptions
        {
            ServiceUrl = pipeline.Source.Url,
            Region = pipeline.Source.Region ?? "us-east-1",
            Bucket = pipeline.Source.Bucket ?? "",
            Prefix = pipeline.Source.Path,
            AccessKey = pipeline.Source.AccessKey,
            SecretKey = pipeline.Source.SecretKey,
            CaFile = pipeline.Source.TrustCertificate,
            Include = pipeline.Source.Include.ToList(),
            Exclude = pipeline.Source.Exclude.ToList(),
        }),
        _ => throw new Core.Errors.IntakeException(Core.Errors.ErrorKind.Config, $"{pipeline.File}: source.kind '{pipeline.Source.Kind}' is not supported"),
    };
}
