using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using Intake.Core.Model;
using Intake.Core.Ports;
using Intake.Engine.Runtime;

namespace Intake.Server.Metrics;

/// <summary>
/// The process's counters and histograms, written in the Prometheus text format by <c>/metrics</c>. Events
/// (steps, rows, bytes, retries, runs, timeouts) are counted in this process, as Prometheus expects of each
/// scraped instance; load counts and queue depths are read from the catalog at scrape time, so every
/// process reports the same shared state.
/// </summary>
/// <remarks>Hand-written rather than OpenTelemetry: the Prometheus exporter packages are not available here,
/// and the format is small.</remarks>
public sealed class ServerMetrics : IRunObserver
{
    /// <summary>Step duration buckets, in seconds: a step takes from milliseconds (a small CSV) to hours (a big export).</summary>
    private static readonly double[] Buckets = [0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600];

    private readonly TimeProvider _time;
    private readonly ConcurrentDictionary<string, long> _counters = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, Histogram> _histograms = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<(long LoadId, string Step), long> _started = new();

    public ServerMetrics(TimeProvider time) => _time = time;

    private sealed class Histogram
    {
        public readonly long[] Counts = new long[Buckets.Length];
        public long Count;
        public double Sum;
    }

    private void Add(string name, string labels, long by = 1) => _counters.AddOrUpdate($"{name}{{{labels}}}", by, (_, v) => v + by);

    public void ScheduledRun(string pipeline) => Add("intake_scheduled_runs_total", $"pipeline=\"{Escape(pipeline)}\"");

    public void JobTimedOut(string pipeline) => Add("intake_job_timeouts_total", $"pipeline=\"{Escape(pipeline)}\"");

    public void StreamRecordsAccepted(string stream, long records) => Add("intake_stream_records_total", $"stream=\"{Escape(stream)}\"", records);

    public void StreamBatchWritten(string stream) => Add("intake_stream_batches_total", $"stream=\"{Escape(stream)}\"");

    public void StepStarted(Load load, string step, int attempt)
    {
        _started[(load.Id, step)] = _time.GetTimestamp();
        if (attempt > 1)
        {
            Add("intake_step_retries_total", $"pipeline=\"{Escape(load.Pipeline)}\",step=\"{Escape(step)}\"");
        }
    }

    public void StepFinished(Load load, string step, StepResult result)
    {
        var labels = $"pipeline=\"{Escape(load.Pipeline)}\",step=\"{Escape(step)}\"";
        if (_started.TryRemove((load.Id, step), out var started))
        {
            var seconds = _time.GetElapsedTime(started).TotalSeconds;
            var h = _histograms.GetOrAdd($"{labels},outcome=\"{result.Outcome.ToWord()}\"", _ => new Histogram());
            lock (h)
            {
                for (var i = 0; i < Buckets.Length; i++)
                {
                    if (seconds <= Buckets[i])
                    {
                        h.Counts[i]++;
                    }
                }

                h.Count++;
                h.Sum += seconds;
            }
        }

        if (result.RowsIn is { } rowsIn)
        {
            Add("intake_rows_total", $"{labels},direction=\"in\"", rowsIn);
        }

        if (result.RowsOut is { } rowsOut)
        {
            Add("intake_rows_total", $"{labels},direction=\"out\"", rowsOut);
        }

        if (result.BytesIn is { } bytesIn)
        {
            Add("intake_bytes_total", $"{labels},direction=\"in\"", bytesIn);
        }

        if (result.BytesOut is { } bytesOut)
        {
            Add("intake_bytes_total", $"{labels},direction=\"out\"", bytesOut);
        }
    }

    public void LoadFinished(Load load, LoadStatus status)
    {
        foreach (var key in _started.Keys.Where(k => k.LoadId == load.Id))
        {
            _started.TryRemove(key, out _);
        }

        Add("intake_loads_processed_total", $"pipeline=\"{Escape(load.Pipeline)}\",status=\"{status.ToWord()}\"");
    }

    /// <summary>The whole exposition: catalog gauges from <paramref name="counts"/>, then this process's counters and histograms.</summary>
    public string Render(IReadOnlyList<LoadCount> counts)
    {
        var sb = new StringBuilder();
        sb.Append("# HELP intake_loads Loads in the catalog by pipeline and status.\n# TYPE intake_loads gauge\n");
        foreach (var c in counts)
        {
            sb.Append(CultureInfo.InvariantCulture, $"intake_loads{{pipeline=\"{Escape(c.Pipeline)}\",status=\"{c.Status.ToWord()}\"}} {c.Count}\n");
        }

        sb.Append("# HELP intake_queue_depth Loads waiting for a worker, per pool (ingest: ready, archive: ready_for_archiving, error: ready_for_erroring).\n# TYPE intake_queue_depth gauge\n");
        foreach (var (pool, status) in new[] { ("ingest", LoadStatus.Ready), ("archive", LoadStatus.ReadyForArchiving), ("error", LoadStatus.ReadyForErroring) })
        {
            sb.Append(CultureInfo.InvariantCulture, $"intake_queue_depth{{pool=\"{pool}\"}} {counts.Where(c => c.Status == status).Sum(c => c.Count)}\n");
        }

        var families = new (string Name, string Help)[]
        {
            ("intake_loads_processed_total", "Loads this process carried to a status, by pipeline and status."),
            ("intake_step_retries_total", "Step attempts after the first, by pipeline and step."),
            ("intake_rows_total", "Rows read (in) and written (out) by steps in this process."),
            ("intake_bytes_total", "Bytes read (in) and written (out) by steps in this process."),
            ("intake_scheduled_runs_total", "Scheduled runs this process took and ran, by pipeline."),
            ("intake_job_timeouts_total", "Loads failed by the job timeout in this process, by pipeline."),
            ("intake_stream_records_total", "Stream records this process accepted (durable in its spool), by stream."),
            ("intake_stream_batches_total", "Stream batches this process wrote into their pipeline's source, by stream."),
        };
        var snapshot = _counters.ToArray();
        foreach (var (name, help) in families)
        {
            sb.Append(CultureInfo.InvariantCulture, $"# HELP {name} {help}\n# TYPE {name} counter\n");
            foreach (var (series, value) in snapshot.Where(kv => kv.Key.StartsWith(name + "{", StringComparison.Ordinal)).OrderBy(kv => kv.Key, StringComparer.Ordinal))
            {
                sb.Append(CultureInfo.InvariantCulture, $"{series} {value}\n");
            }
        }

        sb.Append("# HELP intake_step_duration_seconds Duration of step attempts in this process.\n# TYPE intake_step_duration_seconds histogram\n");
        foreach (var (labels, h) in _histograms.ToArray().OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            lock (h)
            {
                for (var i = 0; i < Buckets.Length; i++)
                {
                    sb.Append(CultureInfo.InvariantCulture, $"intake_step_duration_seconds_bucket{{{labels},le=\"{Buckets[i]}\"}} {h.Counts[i]}\n");
                }

                sb.Append(CultureInfo.InvariantCulture, $"intake_step_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {h.Count}\n");
                sb.Append(CultureInfo.InvariantCulture, $"intake_step_duration_seconds_sum{{{labels}}} {h.Sum}\n");
                sb.Append(CultureInfo.InvariantCulture, $"intake_step_duration_seconds_count{{{labels}}} {h.Count}\n");
            }
        }

        return sb.ToString();
    }

    /// <summary>Label values escape backslash, quote and newline (the exposition format's rule).</summary>
    private static string Escape(string value) => value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal);
}
