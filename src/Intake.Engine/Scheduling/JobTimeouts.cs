using System.Globalization;
using Intake.Core.Errors;
using Intake.Core.Model;
using Intake.Engine.Runtime;
using Microsoft.Extensions.Logging;

namespace Intake.Engine.Scheduling;

/// <summary>
/// The job timeout: a load that stays in a working status (ingesting, archiving, erroring) longer than its
/// pipeline's <c>timeout</c> is failed as <c>transient</c> with a message saying so, and its lease released.
/// It then takes the error path like any failed load (quarantine, then <c>errored</c>, re-drivable).
/// </summary>
/// <remarks>
/// The time in the working status is measured from the load's <c>updated_at</c>, which the claim sets and
/// heartbeats do not touch. The change is a compare-and-set on the status and the lease owner seen, so a worker
/// that finished meanwhile wins; a worker still running loses its lease at its next heartbeat and stops.
/// </remarks>
public sealed class JobTimeouts
{
    private static readonly LoadStatus[] Working = [LoadStatus.Ingesting, LoadStatus.Archiving, LoadStatus.Erroring];
    private readonly IntakeRuntime _runtime;
    private readonly ILogger _log;

    public JobTimeouts(IntakeRuntime runtime)
    {
        _runtime = runtime;
        _log = runtime.Logs.CreateLogger("Intake.Sweeper");
    }

    /// <summary>Fails every load past its pipeline's timeout; returns them as they were before.</summary>
    public async Task<IReadOnlyList<Load>> FailTimedOutAsync(CancellationToken cancellationToken)
    {
        var failed = new List<Load>();
        if (!_runtime.Config.Pipelines.Any(p => p.Timeout is not null))
        {
            return failed;
        }

        var now = _runtime.Time.GetUtcNow();
        foreach (var status in Working)
        {
            long? after = null;
            while (true)
            {
                var page = await _runtime.Catalog.ListLoadsAsync(new LoadQuery { Status = status, AfterId = after, Limit = 1000 }, cancellationToken);
                foreach (var load in page)
                {
                    if (_runtime.Config.FindPipeline(load.Pipeline)?.Timeout is not { } timeout || now - load.UpdatedAt <= timeout)
                    {
                        continue;
                    }

                    var text = Format(timeout);
                    var details = status == LoadStatus.Erroring
                        // already on the error path: keep the original error, only hand the quarantine to another worker
                        ? new TransitionDetails { LeaseOwner = load.LeaseOwner }
                        : new TransitionDetails
                        {
                            LeaseOwner = load.LeaseOwner,
                            ErrorKind = ErrorKind.Transient,
                            ErrorMessage = string.Create(CultureInfo.InvariantCulture, $"timeout: {status.ToWord()} for longer than the pipeline's timeout of {text} (since {load.UpdatedAt:yyyy-MM-dd HH:mm:ss}Z)"),
                        };
                    if (await _runtime.Catalog.TransitionAsync(load.Id, status, LoadStatus.ReadyForErroring, details, cancellationToken))
                    {
                        SchedulingLog.TimedOut(_log, load.Id, load.Pipeline, text, status.ToWord());
                        failed.Add(load);
                    }
                }

                if (page.Count < 1000)
                {
                    break;
                }

                after = page[^1].Id;
            }
        }

        return failed;
    }

    /// <summary>A duration as written in configuration: 30m, 1h30m, 45s, 500ms.</summary>
    public static string Format(TimeSpan t)
    {
        if (t < TimeSpan.FromSeconds(1))
        {
            return string.Create(CultureInfo.InvariantCulture, $"{(long)t.TotalMilliseconds}ms");
        }

        var parts = new List<string>();
        if (t.Days > 0)
        {
            parts.Add(string.Create(CultureInfo.InvariantCulture, $"{t.Days}d"));
        }

        if (t.Hours > 0)
        {
            parts.Add(string.Create(CultureInfo.InvariantCulture, $"{t.Hours}h"));
        }

        if (t.Minutes > 0)
        {
            parts.Add(string.Create(CultureInfo.InvariantCulture, $"{t.Minutes}m"));
        }

        if (t.Seconds > 0)
        {
            parts.Add(string.Create(CultureInfo.InvariantCulture, $"{t.Seconds}s"));
        }

        return string.Concat(parts);
    }
}
