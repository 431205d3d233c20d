using System.Threading.Channels;
using Intake.Core.Errors;
using Intake.Core.Ports;
using Microsoft.Extensions.Logging;

namespace Intake.Engine.Streams;

/// <summary>One stream's state as <c>intake streams</c> and <c>GET /api/v1/streams</c> show it.</summary>
/// <param name="Name">The stream.</param>
/// <param name="Pipeline">The pipeline whose source receives its batches.</param>
/// <param name="Prefix">Where in that source.</param>
/// <param name="PendingRecords">Records accepted and waiting in the open batch.</param>
/// <param name="OldestPendingAt">When the oldest of them arrived; null when none.</param>
/// <param name="SealedBatches">Sealed batches not yet written to the source (more than a few: the source is failing).</param>
/// <param name="OldestSealedAt">When the oldest of them was sealed; null when none.</param>
/// <param name="Problem">Why the stream refuses records or cannot write its batches now; null when it works.</param>
public sealed record StreamStatus(
    string Name,
    string Pipeline,
    string Prefix,
    long PendingRecords,
    DateTimeOffset? OldestPendingAt,
    int SealedBatches,
    DateTimeOffset? OldestSealedAt,
    string? Problem);

/// <summary>
/// The records of one stream, from an append to a batch file in the pipeline's source. Appends are queued and
/// written by one writer, which commits every append waiting at once with one fsync (group commit), so many
/// concurrent requests cost one fsync between them; an append returns only once its records are on disk. The
/// open batch is sealed when it holds <see cref="StreamConfig.MaxRecords"/> records (an append that crosses the
/// limit is split between two batches) or its oldest record is <see cref="StreamConfig.MaxAge"/> old, whichever
/// comes first; a sender writes each sealed batch into the source, forgets it, and asks the host to discover it.
/// </summary>
/// <remarks>
/// <para>
/// Delivery: an acknowledged record is written into the source exactly once, across any crash (see
/// <see cref="StreamSpool"/> for the spool's side). A sealed batch is re-sent after a crash under the uuid it was
/// sealed with, the same content under the same key, which discovery counts as seen. A record whose append failed
/// or was never answered (the process died first) is in the source at most once: it may have been written whole
/// before the crash. A client that retries such a record may therefore see it twice; a merge step keyed on a
/// record id makes that harmless.
/// </para>
/// <para>
/// A failure to write the spool (disk full, I/O error) fails the appends of that commit and cuts the open batch
/// back to its last fsync; a failure to write a batch into the source (the bucket unreachable) is retried with
/// backoff up to a minute apart, for as long as it lasts, while records are still accepted into the spool.
/// </para>
/// </remarks>
public sealed class StreamBatcher : IAsyncDisposable
{
    /// <summary>
    /// The most bytes one commit writes before its fsync: commits stay short (a few tens of milliseconds on a slow
    /// disk), so appends queued behind a large one are not held back long.
    /// </summary>
    private const long MaxCommitBytes = 32L * 1024 * 1024;

    /// <summary>Delays of the discovery asked for after a batch is written, while the source does not list it yet (a local source's stable_for).</summary>
    private static readonly TimeSpan[] DiscoveryRetries = [TimeSpan.Zero, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(4), TimeSpan.FromSeconds(8), TimeSpan.FromSeconds(16), TimeSpan.FromSeconds(32)];

    private readonly IFileDrop _drop;
    private readonly Func<string, CancellationToken, Task<bool>> _discover;
    private readonly TimeProvider _time;
    private readonly ILogger _log;
    private readonly Channel<Pending> _queue = Channel.CreateUnbounded<Pending>(new UnboundedChannelOptions { SingleReader = true });
    private readonly SemaphoreSlim _sealed = new(0);
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _discoveries = [];
    private StreamSpool? _spool;
    private Task _writer = Task.CompletedTask;
    private Task _sender = Task.CompletedTask;
    private volatile bool _flush;
    private volatile string? _broken;
    private volatile string? _sendProblem;
    private long _pending;
    private long _openedAtMs = -1;

    /// <param name="config">The stream.</param>
    /// <param name="drop">The pipeline's source, written into.</param>
    /// <param name="discover">
    /// Asks the pipeline to discover a batch just written (by its source key); true when it is registered (or will be
    /// some other way), false when the source does not list it yet, to be asked again a little later.
    /// </param>
    /// <param name="time">The clock of seal times and ages.</param>
    /// <param name="log">Where recoveries, seals and failures are logged.</param>
    public StreamBatcher(StreamConfig config, IFileDrop drop, Func<string, CancellationToken, Task<bool>> discover, TimeProvider time, ILogger log)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(drop);
        ArgumentNullException.ThrowIfNull(discover);
        ArgumentNullException.ThrowIfNull(time);
        ArgumentNullException.ThrowIfNull(log);
        Config = config;
        _drop = drop;
        _discover = discover;
        _time = time;
        _log = log;
    }

    public StreamConfig Config { get; }

    /// <summary>Raised after records are durable in the spool, with how many.</summary>
    public event Action<long>? Accepted;

    /// <summary>Raised after a batch is written into the source, with its key.</summary>
    public event Action<string>? Written;

    private sealed record Pending(StreamRecords Records, TaskCompletionSource Done);

    /// <summary>Takes the spool over, recovers it, and starts the writer and the sender (which re-sends sealed batches first).</summary>
    /// <exception cref="IntakeException">Config: the spool cannot be created, or another process holds it.</exception>
    public void Start()
    {
        _spool = StreamSpool.Open(Config.SpoolDirectory, _time, out var recovery);
        StreamsLog.Recovered(_log, Config.Name, recovery.Records, recovery.Sealed, recovery.TornBytes, recovery.BadLines);
        if (recovery.BadLines > 0)
        {
            StreamsLog.BadLinesDropped(_log, Config.Name, recovery.BadLines, Config.SpoolDirectory);
        }

        Publish();
        _writer = Task.Run(WriteLoopAsync);
        _sender = Task.Run(SendLoopAsync);
    }

    /// <summary>Appends records; returns once they are on disk (fsynced), when the caller may acknowledge them.</summary>
    /// <exception cref="IntakeException">Transient: the spool cannot be written, or the stream is stopping; nothing of these records was acknowledged.</exception>
    public Task AppendAsync(StreamRecords records)
    {
        ArgumentNullException.ThrowIfNull(records);
        if (_broken is { } broken)
        {
            throw IntakeException.Transient(broken);
        }

        var pending = new Pending(records, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
        if (!_queue.Writer.TryWrite(pending))
        {
            throw IntakeException.Transient($"stream '{Config.Name}' is stopping (the server is shutting down); send the records again to the restarted server");
        }

        return pending.Done.Task;
    }

    /// <summary>Seals the open batch at the next look (within about a second), however small it is.</summary>
    public void Flush() => _flush = true;

    /// <summary>
    /// Seals the open batch and waits until every sealed batch is written and its discovery asked for: what
    /// <c>intake streams flush</c> does when no server holds the spool.
    /// </summary>
    public async Task DrainAsync(CancellationToken cancellationToken)
    {
        Flush();
        while (Status() is not { PendingRecords: 0, SealedBatches: 0 })
        {
            await Task.Delay(TimeSpan.FromMilliseconds(100), _time, cancellationToken);
        }

        Task[] discoveries;
        lock (_discoveries)
        {
            discoveries = [.. _discoveries];
        }

        await Task.WhenAll(discoveries).WaitAsync(cancellationToken);
    }

    public StreamStatus Status()
    {
        var sealedBatches = StreamSpool.ListSealed(Config.SpoolDirectory);
        var opened = Interlocked.Read(ref _openedAtMs);
        return new StreamStatus(Config.Name, Config.Pipeline, Config.Prefix, Interlocked.Read(ref _pending),
            opened < 0 ? null : DateTimeOffset.FromUnixTimeMilliseconds(opened), sealedBatches.Count, sealedBatches.Count > 0 ? sealedBatches[0].SealedAt : null,
            _broken ?? _sendProblem);
    }

    /// <summary>Stops taking appends, commits those queued, then stops the sender (a batch being written is re-sent at the next start).</summary>
    public async ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        await _writer;
        await _stop.CancelAsync();
        await _sender;
        Task[] discoveries;
        lock (_discoveries)
        {
            discoveries = [.. _discoveries];
        }

        await Task.WhenAll(discoveries);
        _spool?.Dispose();
        (_drop as IDisposable)?.Dispose();
        _stop.Dispose();
        _sealed.Dispose();
    }

    private StreamSpool Spool => _spool ?? throw new InvalidOperationException("the batcher is not started");

    private async Task WriteLoopAsync()
    {
        var commit = new List<Pending>();
        Task<bool>? waiting = null;
        while (true)
        {
            SealIfDue();
            if (!_queue.Reader.TryPeek(out _))
            {
                // Wake for the next append, or to look at the batch's age and a flush request about once a second.
                waiting ??= _queue.Reader.WaitToReadAsync().AsTask();
                using (var timer = new CancellationTokenSource())
                {
                    var delay = Task.Delay(NextLook(), _time, timer.Token);
                    await Task.WhenAny(waiting, delay);
                    await timer.CancelAsync();
                }

                if (waiting.IsCompleted)
                {
                    var more = await waiting;
                    waiting = null;
                    if (!more)
                    {
                        return; // completed by DisposeAsync and drained
                    }
                }

                continue;
            }

            commit.Clear();
            long bytes = 0;
            while (bytes < MaxCommitBytes && _queue.Reader.TryRead(out var pending))
            {
                commit.Add(pending);
                bytes += pending.Records.Lines.Length;
            }

            Commit(commit);
        }
    }

    /// <summary>Writes the appends, fsyncs once, and only then answers them all.</summary>
    private void Commit(List<Pending> commit)
    {
        if (_broken is { } broken)
        {
            foreach (var pending in commit)
            {
                pending.Done.TrySetException(IntakeException.Transient(broken));
            }

            return;
        }

        try
        {
            foreach (var pending in commit)
            {
                Write(pending.Records);
            }

            Spool.Sync();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            StreamsLog.SpoolFailed(_log, e, Config.Name, Config.SpoolDirectory);
            try
            {
                Spool.RollBack();
            }
            catch (Exception again) when (again is IOException or UnauthorizedAccessException)
            {
                _broken = $"stream '{Config.Name}' cannot write its spool {Config.SpoolDirectory} ({again.Message}); records are refused until the server is restarted with the disk fixed";
            }

            foreach (var pending in commit)
            {
                pending.Done.TrySetException(IntakeException.Transient($"stream '{Config.Name}': the records could not be written to the spool ({e.Message}); none were acknowledged, send them again", e));
            }

            Publish();
            return;
        }

        Publish();
        long accepted = 0;
        foreach (var pending in commit)
        {
            accepted += pending.Records.Count;
            pending.Done.TrySetResult();
        }

        Accepted?.Invoke(accepted);
    }

    /// <summary>Appends one set of records, sealing the batch each time it reaches max_records.</summary>
    private void Write(StreamRecords records)
    {
        var lines = records.Lines.Span;
        long remaining = records.Count;
        while (remaining > 0)
        {
            var room = Config.MaxRecords - Spool.Count;
            if (remaining <= room)
            {
                Spool.Append(lines, remaining);
                break;
            }

            var cut = EndOfLine(lines, room);
            Spool.Append(lines[..cut], room);
            Seal();
            lines = lines[cut..];
            remaining -= room;
        }

        if (Spool.Count >= Config.MaxRecords)
        {
            Seal();
        }
    }

    /// <summary>The length of the first <paramref name="lines"/> lines.</summary>
    private static int EndOfLine(ReadOnlySpan<byte> span, long lines)
    {
        var at = 0;
        for (long i = 0; i < lines; i++)
        {
            at += span[at..].IndexOf((byte)'\n') + 1;
        }

        return at;
    }

    private void SealIfDue()
    {
        var spool = Spool;
        bool flush;
        try
        {
            flush = spool.TakeFlushRequest() | _flush;
        }
        catch (IOException)
        {
            flush = _flush;
        }

        _flush = false;
        if (spool.Count > 0 && (flush || spool.Count >= Config.MaxRecords || _time.GetUtcNow() - spool.OpenedAt >= Config.MaxAge))
        {
            try
            {
                Seal();
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                StreamsLog.SpoolFailed(_log, e, Config.Name, Config.SpoolDirectory); // tried again at the next look
            }
        }
    }

    private void Seal()
    {
        if (Spool.Seal() is { } batch)
        {
            StreamsLog.Sealed(_log, Config.Name, Config.KeyFor(batch.Id), batch.Bytes);
            Publish();
            _sealed.Release();
        }
    }

    private TimeSpan NextLook()
    {
        var look = TimeSpan.FromSeconds(1);
        if (Spool.OpenedAt is { } opened)
        {
            var due = opened + Config.MaxAge - _time.GetUtcNow();
            look = due < look ? (due < TimeSpan.Zero ? TimeSpan.Zero : due) : look;
        }

        return look;
    }

    /// <summary>What <see cref="Status"/> reads from other threads.</summary>
    private void Publish()
    {
        Interlocked.Exchange(ref _pending, Spool.Count);
        Interlocked.Exchange(ref _openedAtMs, Spool.OpenedAt?.ToUnixTimeMilliseconds() ?? -1);
    }

    private async Task SendLoopAsync()
    {
        var stop = _stop.Token;
        try
        {
            while (!stop.IsCancellationRequested)
            {
                foreach (var batch in StreamSpool.ListSealed(Config.SpoolDirectory))
                {
                    await SendAsync(batch, stop);
                }

                await _sealed.WaitAsync(stop);
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            // Stopping: a batch being written stays sealed and is sent again at the next start.
        }
    }

    /// <summary>Writes one sealed batch into the source, retrying until it succeeds, then forgets it and asks for its discovery.</summary>
    private async Task SendAsync(SealedBatch batch, CancellationToken stop)
    {
        var key = Config.KeyFor(batch.Id);
        var delay = TimeSpan.FromSeconds(1);
        while (true)
        {
            try
            {
                await using (var file = new FileStream(batch.Path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20, FileOptions.Asynchronous | FileOptions.SequentialScan))
                {
                    await _drop.WriteAsync(key, file, batch.SealedAt, stop);
                }

                _sendProblem = null;
                break;
            }
            catch (Exception e) when (!stop.IsCancellationRequested && e is IntakeException or IOException or UnauthorizedAccessException)
            {
                _sendProblem = $"cannot write batch {key} into the source of pipeline '{Config.Pipeline}' ({e.Message}); retrying every {delay.TotalSeconds:0} s";
                StreamsLog.WriteFailed(_log, e, Config.Name, key, delay);
                await Task.Delay(delay, _time, stop);
                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, TimeSpan.FromMinutes(1).Ticks));
            }
        }

        try
        {
            StreamSpool.Delete(batch);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            StreamsLog.SpoolFailed(_log, e, Config.Name, Config.SpoolDirectory); // sent again at the next start: same key, same content
        }

        StreamsLog.Written(_log, Config.Name, key, Config.Pipeline);
        Written?.Invoke(key);
        var discovery = Task.Run(() => DiscoverAsync(key, stop), CancellationToken.None);
        lock (_discoveries)
        {
            _discoveries.RemoveAll(t => t.IsCompleted);
            _discoveries.Add(discovery);
        }
    }

    /// <summary>Asks the host to discover the batch now, and a little later while the source does not list it yet.</summary>
    private async Task DiscoverAsync(string key, CancellationToken stop)
    {
        try
        {
            foreach (var delay in DiscoveryRetries)
            {
                await Task.Delay(delay, _time, stop);
                if (await _discover(key, stop))
                {
                    return;
                }
            }

            StreamsLog.NotListedYet(_log, Config.Name, key, Config.Pipeline);
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            // Stopping: the pipeline's next poll discovers the batch.
        }
        catch (Exception e)
        {
            StreamsLog.DiscoveryFailed(_log, e, Config.Name, key, Config.Pipeline);
        }
    }
}
