using System.Data.Common;
using System.IO.Compression;
using System.Text;
using System.Text.Json;
using Intake.Core.Errors;
using Intake.Core.Model;
using Intake.Core.Ports;
using Intake.Engine.Configuration;
using Intake.Sources.Database;
using Intake.Storage;

namespace Intake.Engine.Exports;

/// <summary>A partition that failed in this run, with the window it was given.</summary>
public sealed record FailedPartition(string Partition, DateTimeOffset? Start, DateTimeOffset? End, IntakeException Error);

/// <summary>What one run of an export request did.</summary>
public sealed record ExportOutcome
{
    public long Rows { get; init; }
    public long RowsFailed { get; init; }
    public long Bytes { get; init; }
    public IReadOnlyList<string> Outputs { get; init; } = [];
    public IReadOnlyList<FailedPartition> Failed { get; init; } = [];
    /// <summary>Keys of the re-drive requests queued for failed records.</summary>
    public IReadOnlyList<string> Redrives { get; init; } = [];
}

/// <summary>
/// Runs one export request: per partition, works out the window, streams the rows into a gzipped NDJSON or CSV
/// object, then records the partition's success and advances its watermark in one catalog transaction.
/// </summary>
/// <remarks>
/// Rules (the Bridge spec): the window is <c>[watermark, end)</c>, or <c>[default start, end)</c> for a partition never
/// exported. <c>ignoreLastExportTime</c> uses the request's start and never touches the watermark; neither does a record
/// override. An end before the watermark exports nothing and leaves the watermark where it is (it never moves back).
/// A partition that fails records its failure and no watermark, so the next export covers its gap. Partitions that
/// already succeeded for this request are skipped, so running the request again (a retry, a crash) never exports a
/// partition twice.
/// </remarks>
public sealed class Exporter
{
    private readonly IObjectStore _store;
    private readonly ExportQueue _queue;
    private readonly IExportStore _exports;
    private readonly ILockStore _locks;
    private readonly TimeProvider _time;
    private readonly PipelineConfig _pipeline;
    private readonly DatabaseSourceOptions _source;
    private readonly ExportConfig _export;
    private readonly KeyTemplate _keys;

    /// <param name="pipeline">The database pipeline.</param>
    /// <param name="store">The store of its export files (<c>export.store</c>).</param>
    /// <param name="queue">Where partition and record re-drives are queued.</param>
    /// <param name="exports">Export results and watermarks.</param>
    /// <param name="locks">One exporter per partition at a time.</param>
    /// <param name="time">The clock of windows and re-drive delays.</param>
    public Exporter(PipelineConfig pipeline, IObjectStore store, ExportQueue queue, IExportStore exports, ILockStore locks, TimeProvider time)
    {
        _store = store;
        _queue = queue;
        _exports = exports;
        _locks = locks;
        _time = time;
        _pipeline = pipeline;
        _source = pipeline.Source.Database ?? throw IntakeException.Config($"pipeline '{pipeline.Name}' is not a database pipeline");
        _export = pipeline.Export ?? throw IntakeException.Config($"pipeline '{pipeline.Name}' has no export settings");
        _keys = KeyTemplate.Parse(_export.KeyTemplate, ExportConfig.TextPlaceholders, ExportConfig.DatePlaceholders);
    }

    private IExportStore Exports => _exports;

    private IObjectStore Store => _store;

    private CompressionLevel Level => _export.Compression == "optimal" ? CompressionLevel.Optimal : CompressionLevel.Fastest;

    public async Task<ExportOutcome> RunAsync(ExportRequestRecord request, Load load, Action<long>? progress, CancellationToken cancellationToken)
    {
        var done = (await Exports.GetExportResultsAsync(request.Pipeline, request.RequestKey, cancellationToken))
            .Where(r => r.Succeeded).Select(r => r.Partition).ToHashSet(StringComparer.Ordinal);
        var run = new Run(request, load, progress);
        await using (var db = await SourceDatabase.OpenAsync(_source, cancellationToken))
        {
            if (request.HasRecordOverride)
            {
                await ExportRecordsAsync(db, run, done, cancellationToken);
            }
            else
            {
                var partitions = request.Partitions ?? await db.ListPartitionsAsync(cancellationToken);
                foreach (var partition in partitions.Where(p => !done.Contains(p)))
                {
                    await ExportWindowAsync(db, run, partition, cancellationToken);
                }
            }
        }

        await QueueRecordRedrivesAsync(run, cancellationToken);
        return new ExportOutcome
        {
            Rows = run.Rows,
            RowsFailed = run.FailedRecords.Sum(f => f.Value.Count),
            Bytes = run.Bytes,
            Outputs = run.Outputs,
            Failed = run.Failed,
            Redrives = run.Redrives,
        };
    }

    /// <summary>The window a partition gets, and whether its success moves the watermark there.</summary>
    public async Task<(DateTimeOffset Start, DateTimeOffset End, bool Advance)> WindowAsync(ExportRequestRecord request, string partition, CancellationToken cancellationToken)
    {
        if (request.IgnoreLastExportTime)
        {
            return (request.Start ?? request.End, request.End, false);
        }

        var watermark = await Exports.GetWatermarkAsync(request.Pipeline, partition, cancellationToken);
        return (watermark ?? _source.DefaultStart.Resolve(request.RequestedAt), request.End, true);
    }

    private async Task ExportWindowAsync(SourceDatabase db, Run run, string partition, CancellationToken cancellationToken)
    {
        // Reading the watermark, exporting the window and advancing it are one critical section per partition: two
        // different requests on the same partition (a daily and an instant, in one process or two) take turns, and
        // the second reads the watermark the first left, so no row is exported by both.
        await using var held = await PartitionLock.AcquireAsync(_locks, $"export:{_pipeline.Name}:{partition}", $"load:{run.Load.Id}", _pipeline.Lease, _time, cancellationToken);
        var (start, end, advance) = await WindowAsync(run.Request, partition, held.Lost);
        var result = new ExportPartitionResult { Pipeline = run.Request.Pipeline, RequestKey = run.Request.RequestKey, Partition = partition, WindowStart = start, WindowEnd = end, Succeeded = true };
        if (end <= start)
        {
            // The end is at or before the watermark: nothing to export, and the watermark never moves back.
            await Exports.RecordExportPartitionAsync(result with { Error = "empty window: the end is not after the start (watermark)" }, null, cancellationToken);
            return;
        }

        try
        {
            await using var reader = await db.ReadWindowAsync(partition, start, end, held.Lost);
            var written = await WriteObjectsAsync(reader, run, start, end, only: partition, held.Lost);
            var w = written.Count == 0 ? new Written(null, 0, 0, partition) : written[0];
            // The watermark advances only while the lock is still ours: a lost lock fails the partition instead.
            held.Lost.ThrowIfCancellationRequested();
            await Exports.RecordExportPartitionAsync(result with { Rows = w.Rows, RowsFailed = w.RowsFailed, ObjectKey = w.ObjectKey }, advance ? end : null, cancellationToken);
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            await FailAsync(run, partition, start, end, e, cancellationToken);
        }
    }

    private async Task ExportRecordsAsync(SourceDatabase db, Run run, HashSet<string> done, CancellationToken cancellationToken)
    {
        var request = run.Request;
        var ids = request.RecordIds ?? await ReadIdsAsync(request.RecordsKey!, cancellationToken);
        var whitelist = request.Partitions is null ? null : request.Partitions.ToHashSet(StringComparer.Ordinal);
        try
        {
            await using var reader = await db.ReadRecordsAsync(ids, cancellationToken);
            var written = await WriteObjectsAsync(reader, run, request.End, request.End, only: null, cancellationToken, p => !done.Contains(p) && (whitelist is null || whitelist.Contains(p)));
            foreach (var w in written)
            {
                // A record override never moves the watermark: it is not a window.
                var result = new ExportPartitionResult { Pipeline = request.Pipeline, RequestKey = request.RequestKey, Partition = w.Partition, Succeeded = true, Rows = w.Rows, RowsFailed = w.RowsFailed, ObjectKey = w.ObjectKey };
                await Exports.RecordExportPartitionAsync(result, null, cancellationToken);
            }
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            await FailAsync(run, "(records)", null, null, e, cancellationToken);
        }
    }

    private sealed record Written(string? ObjectKey, long Rows, int RowsFailed, string Partition);

    /// <summary>
    /// Streams the reader's rows into one object per partition (the reader is ordered by partition). A partition
    /// without rows writes no object. Rows that cannot be encoded are left out and kept for a re-drive.
    /// </summary>
    private async Task<List<Written>> WriteObjectsAsync(DbDataReader reader, Run run, DateTimeOffset start, DateTimeOffset end, string? only, CancellationToken cancellationToken, Func<string, bool>? take = null)
    {
        var written = new List<Written>();
        using var encoder = RecordWriter.For(_export.Format, reader);
        var partitionOrdinal = reader.GetOrdinal(_source.PartitionColumn);
        var idOrdinal = _source.IdColumn is { } idColumn ? reader.GetOrdinal(idColumn) : -1;
        ObjectSink? sink = null;
        string? current = null;
        long rows = 0;
        var failedIds = new List<string>();
        try
        {
            while (await reader.ReadAsync(cancellationToken))
            {
                var partition = only ?? SourceDatabase.Text(reader.GetValue(partitionOrdinal));
                if (take is not null && !take(partition))
                {
                    continue;
                }

                if (partition != current)
                {
                    if (current is not null)
                    {
                        written.Add(await FinishAsync(sink, current, rows, failedIds, run, cancellationToken));
                    }

                    current = partition;
                    sink = null;
                    rows = 0;
                    failedIds = [];
                }

                ReadOnlyMemory<byte> line;
                try
                {
                    line = encoder.Encode(reader);
                }
                catch (Exception e) when (RecordWriter.IsRowFailure(e))
                {
                    if (idOrdinal < 0 || reader.IsDBNull(idOrdinal))
                    {
                        throw IntakeException.Format($"a row of partition '{partition}' cannot be exported and has no id to re-drive it by (set source.id_column): {e.Message}", e);
                    }

                    failedIds.Add(SourceDatabase.Text(reader.GetValue(idOrdinal)));
                    continue;
                }

                if (sink is null)
                {
                    sink = ObjectSink.Start(Store, _export.Area, RenderKey(run, partition, start, end), Level, cancellationToken);
                    if (!encoder.Header.IsEmpty)
                    {
                        await sink.WriteAsync(encoder.Header, cancellationToken);
                    }
                }

                await sink.WriteAsync(line, cancellationToken);
                rows++;
                if (++run.Rows % 10_000 == 0)
                {
                    run.Progress?.Invoke(run.Rows);
                }
            }

            if (current is not null)
            {
                written.Add(await FinishAsync(sink, current, rows, failedIds, run, cancellationToken));
                sink = null;
            }
        }
        finally
        {
            if (sink is not null)
            {
                await sink.DisposeAsync();
            }
        }

        return written;
    }

    private async Task<Written> FinishAsync(ObjectSink? sink, string partition, long rows, List<string> failedIds, Run run, CancellationToken cancellationToken)
    {
        string? key = null;
        if (sink is not null)
        {
            await using (sink)
            {
                var info = await sink.CompleteAsync(cancellationToken);
                run.Bytes += info.Size;
                key = info.Key;
                run.Outputs.Add($"{_export.Store}/{_export.Area}:{info.Key}");
            }
        }

        if (failedIds.Count > 0)
        {
            run.FailedRecords[partition] = failedIds;
        }

        return new Written(key, rows, failedIds.Count, partition);
    }

    private string RenderKey(Run run, string partition, DateTimeOffset start, DateTimeOffset end) => _keys.Render(new Dictionary<string, object>(StringComparer.Ordinal)
    {
        ["pipeline"] = _pipeline.Name,
        ["customer"] = _pipeline.Customer,
        ["partition"] = partition,
        ["request"] = run.Request.RequestKey[^12..],
        ["tag"] = run.Request.Tag ?? "none",
        ["format"] = _export.Format,
        ["load"] = run.Load.Id,
        ["start"] = start.ToUniversalTime(),
        ["end"] = end.ToUniversalTime(),
        ["requested"] = run.Request.RequestedAt.ToUniversalTime(),
    });

    private async Task FailAsync(Run run, string partition, DateTimeOffset? start, DateTimeOffset? end, Exception e, CancellationToken cancellationToken)
    {
        var error = e as IntakeException ?? SourceDatabase.Translate(e, $"partition '{partition}'");
        run.Failed.Add(new FailedPartition(partition, start, end, error));
        // No watermark: the next export of this partition starts where the last success ended and covers the gap.
        var result = new ExportPartitionResult
        {
            Pipeline = run.Request.Pipeline, RequestKey = run.Request.RequestKey, Partition = partition,
            WindowStart = start, WindowEnd = end, Succeeded = false, Error = $"{error.Kind.ToWord()}: {error.Message}",
        };
        await Exports.RecordExportPartitionAsync(result, null, cancellationToken);
    }

    /// <summary>Failed records: their ids become an override object, re-queued with the re-drive count plus one after the delay.</summary>
    private async Task QueueRecordRedrivesAsync(Run run, CancellationToken cancellationToken)
    {
        if (run.FailedRecords.Count == 0 || run.Request.RedriveCount >= _export.RedriveMax)
        {
            return;
        }

        foreach (var (partition, ids) in run.FailedRecords)
        {
            var key = $"{_pipeline.Name}/redrive/{run.Request.RequestKey[^12..]}/{KeyTemplate.Sanitize(partition)}.ids";
            using (var content = new MemoryStream(Encoding.UTF8.GetBytes(string.Join('\n', ids) + "\n")))
            {
                await Store.PutAsync(_export.Area, key, content, cancellationToken);
            }

            var redrive = Redrive(run.Request) with { Partitions = [partition], RecordsKey = key, RecordIds = null, Start = null, IgnoreLastExportTime = false };
            var queued = await _queue.QueueAsync(_pipeline, ExportQueue.WithKey(redrive), cancellationToken);
            run.Redrives.Add(queued.Request.RequestKey);
        }
    }

    /// <summary>Failed partitions are re-queued with their original window (ignoring the last export time, so the watermark is not touched).</summary>
    public async Task<IReadOnlyList<string>> QueuePartitionRedrivesAsync(ExportRequestRecord request, IReadOnlyList<FailedPartition> failed, CancellationToken cancellationToken)
    {
        if (failed.Count == 0 || request.RedriveCount >= _export.RedriveMax)
        {
            return [];
        }

        var keys = new List<string>();
        foreach (var group in failed.GroupBy(f => (f.Start, f.End)))
        {
            var partitions = group.Select(f => f.Partition).Where(p => p != "(records)").Order(StringComparer.Ordinal).ToArray();
            var redrive = request.HasRecordOverride
                ? Redrive(request) with { Partitions = request.Partitions }
                : Redrive(request) with { Partitions = partitions, IgnoreLastExportTime = true, Start = group.Key.Start, End = group.Key.End ?? request.End };
            var queued = await _queue.QueueAsync(_pipeline, ExportQueue.WithKey(redrive), cancellationToken);
            keys.Add(queued.Request.RequestKey);
        }

        return keys;
    }

    private ExportRequestRecord Redrive(ExportRequestRecord request) => request with
    {
        Id = 0,
        LoadId = null,
        RedriveCount = request.RedriveCount + 1,
        RedriveOf = request.RequestKey,
        NotBefore = _time.GetUtcNow() + _export.RedriveDelay,
    };

    private async Task<IReadOnlyList<string>> ReadIdsAsync(string key, CancellationToken cancellationToken)
    {
        try
        {
            await using var stream = await Store.OpenReadAsync(_export.Area, key, cancellationToken);
            using var reader = new StreamReader(stream, Encoding.UTF8);
            var text = await reader.ReadToEndAsync(cancellationToken);
            if (text.TrimStart().StartsWith('['))
            {
                return JsonSerializer.Deserialize<string[]>(text) ?? [];
            }

            return text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        }
        catch (FileNotFoundException)
        {
            throw IntakeException.Integrity($"the record override {Store.Describe(_export.Area, key)} does not exist");
        }
        catch (JsonException e)
        {
            throw IntakeException.Format($"the record override {Store.Describe(_export.Area, key)} is neither one id per line nor a JSON array of strings: {e.Message}", e);
        }
    }

    private sealed class Run(ExportRequestRecord request, Load load, Action<long>? progress)
    {
        public ExportRequestRecord Request { get; } = request;
        public Load Load { get; } = load;
        public Action<long>? Progress { get; } = progress;
        public long Rows { get; set; }
        public long Bytes { get; set; }
        public List<string> Outputs { get; } = [];
        public List<FailedPartition> Failed { get; } = [];
        public Dictionary<string, List<string>> FailedRecords { get; } = new(StringComparer.Ordinal);
        public List<string> Redrives { get; } = [];
    }
}
