using System.Collections.Concurrent;
using System.Globalization;
using System.Text.Json;
using Intake.Core.Errors;
using Intake.Core.Model;
using Intake.Core.Ports;
using Intake.Engine.Configuration;
using Intake.Engine.Http;
using Intake.Formats.Json;
using Intake.Sources.Http;
using Microsoft.Extensions.Logging;

namespace Intake.Engine.Steps;

/// <summary>
/// Reads one (event, day) from an HTTP API page by page into gzipped NDJSON parts of <c>roll_every</c> records, then
/// publishes them at the key template and removes any part of that day it did not write, so a re-run replaces the day
/// as a whole. Memory holds one page and one record being compressed, never the day.
/// <para>
/// Crash safety: the open part is written to a spool file on the local disk (see <see cref="PullSpool"/>), one gzip
/// member per checkpoint. At the end of a page, at most every <c>checkpoint_interval</c> (default 1 s; 0: every page),
/// the catalog checkpoint records the page to ask for next, the spool file's length and the records in it; after each closed part it records the page
/// the part ended in, how many of that page's records it holds, and the totals. A pull resumed on the same machine
/// cuts a copy of the spool file back to the checkpointed length and asks for the next page; elsewhere (no spool
/// file) it asks for the page the last part ended in again and skips those records. Either way no record is lost or
/// written twice (the day is in the past, so its pages do not change). Publishing copies every part (safe to
/// repeat), then deletes the stale ones.
/// </para>
/// </summary>
public sealed class PullStep : IStep
{
    // Event types pulled at once per pipeline in this process (source.parallel), whatever the number of workers.
    private static readonly ConcurrentDictionary<string, SemaphoreSlim> Gates = new(StringComparer.Ordinal);

    public string Name => StepDescriptor.Pull.Name;

    public async Task<StepResult> RunAsync(StepContext context, CancellationToken cancellationToken)
    {
        var config = context.Pipeline.Source.Http ?? throw IntakeException.Config($"pipeline '{context.Pipeline.Name}': the pull step needs source.kind: http");
        var gate = Gates.GetOrAdd(context.Pipeline.Name, _ => new SemaphoreSlim(config.Parallel));
        await gate.WaitAsync(cancellationToken);
        try
        {
            return await PullAsync(context, config, cancellationToken);
        }
        finally
        {
            gate.Release();
        }
    }

    private sealed record PullState
    {
        /// <summary>The page the last closed part ended in (the day's first page before any part).</summary>
        public PageToken Token { get; init; } = new();
        /// <summary>Records of the page <see cref="Token"/> asks for that are already in a part.</summary>
        public int Skip { get; init; }
        public int Parts { get; init; }
        public long Records { get; init; }
        public long Bytes { get; init; }
        /// <summary>Every page was read; only publishing is left.</summary>
        public bool Done { get; init; }
        /// <summary>The open part as of its last completed page; null when none is open (or it was not checkpointed yet).</summary>
        public OpenPartState? Open { get; init; }
    }

    /// <summary>A spool file holding <see cref="Records"/> complete records in its first <see cref="Length"/> bytes, followed by the page <see cref="Next"/>.</summary>
    private sealed record OpenPartState
    {
        public required string Spool { get; init; }
        public required PageToken Next { get; init; }
        public required long Length { get; init; }
        public required long Records { get; init; }
    }

    private static string WorkKey(StepContext context, int n) => $"{context.WorkPrefix}pull/part-{n.ToString("D5", CultureInfo.InvariantCulture)}.ndjson.gz";

    private async Task<StepResult> PullAsync(StepContext context, HttpSourceOptions config, CancellationToken ct)
    {
        var (eventType, day) = HttpLoads.Parse(context.Load.SourceKey);
        var dayText = day.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);
        var log = context.Logs.CreateLogger("Intake.Pull");
        var work = context.WorkStore;

        var state = await ResumeAsync(context, ct) ?? new PullState { Token = PageToken.First(config) };
        var spool = PullSpool.DirectoryFor(context.BaseDirectory, context.Load.Id);
        var part = (SpoolPart?)null;
        var token = state.Token; // the page to ask for
        var skip = state.Skip; // records of that page already in a part
        if (state.Open is { } open)
        {
            part = await SpoolPart.TryResumeAsync(spool, open.Spool, open.Length, open.Records, config.Flatten, ct);
            if (part is null)
            {
                // No spool file here (another machine, or lost): the open part starts over where the last closed one ended.
                state = state with { Open = null };
            }
            else
            {
                token = open.Next;
                skip = 0;
                // The copy is named before the old file goes, so a crash in between still finds one of them.
                state = state with { Open = open with { Spool = part.Id } };
                await SaveAsync(context, state, ct);
            }
        }

        PullSpool.DeleteOthers(spool, part?.Id);
        if (state.Parts > 0 || skip > 0 || part is not null)
        {
            HttpLog.Resuming(log, eventType, dayText, state.Records + (part?.Records ?? 0), state.Parts, token.ToString());
        }

        var client = new ApiClient(config, eventType, day, context.Time, log);
        var time = context.Time;
        var saved = time.GetTimestamp();
        try
        {
            while (!state.Done)
            {
                using var page = await client.GetPageAsync(token, ct);
                var records = JsonPaths.Find(page.RootElement, config.RecordsPath) is { ValueKind: JsonValueKind.Array } array
                    ? array
                    : throw IntakeException.Format($"{eventType} {dayText} ({token}): the response has no array at '{config.RecordsPath}' (source.records)");
                var count = records.GetArrayLength();
                if (count > config.PageSize)
                {
                    throw IntakeException.Format($"{eventType} {dayText} ({token}): the API returned {count} records for a page of {config.PageSize}");
                }

                var next = token.Next(config, page.RootElement, records);
                var index = 0;
                foreach (var record in records.EnumerateArray())
                {
                    index++;
                    if (index <= skip)
                    {
                        continue; // already in a part before the crash
                    }

                    part ??= SpoolPart.Create(spool, config.Flatten);
                    await part.Writer.WriteAsync(record, ct);
                    if (part.Records >= config.RollEvery)
                    {
                        state = await ClosePartAsync(context, part, state with { Token = token, Skip = index, Open = null }, index == count && next is null, ct);
                        part = null;
                        saved = time.GetTimestamp();
                        context.Progress(state.Records, null);
                    }
                }

                if (next is null)
                {
                    if (part is not null)
                    {
                        state = await ClosePartAsync(context, part, state with { Token = token, Skip = count, Open = null }, done: true, ct);
                        part = null;
                    }
                    else if (!state.Done)
                    {
                        state = state with { Done = true };
                        await SaveAsync(context, state, ct);
                    }
                }
                else
                {
                    if (part is not null && time.GetElapsedTime(saved) >= config.CheckpointInterval)
                    {
                        // The page is complete in the spool file: a resumed pull can continue from the next one. Only
                        // here does a gzip member end, so the pages between checkpoints share one compression window.
                        var length = await part.EndPageAsync(ct);
                        state = state with { Open = new OpenPartState { Spool = part.Id, Next = next, Length = length, Records = part.Records } };
                        await SaveAsync(context, state, ct);
                        saved = time.GetTimestamp();
                    }

                    token = next;
                    skip = 0;
                }
            }
        }
        finally
        {
            if (part is not null)
            {
                // Kept on disk: the checkpoint may name it, and a retry of this step resumes from it.
                await part.DisposeAsync();
            }
        }

        var (outputs, stale) = await PublishAsync(context, config, eventType, dayText, state.Parts, ct);
        await context.Checkpoints.DeleteCheckpointAsync(context.Load.Id, Name, ct);

        PullSpool.Delete(context.BaseDirectory, context.Load.Id);

        HttpLog.Pulled(log, eventType, dayText, state.Records, state.Parts, client.Requests, client.Retries, stale);
        return new StepResult
        {
            RowsIn = state.Records,
            RowsOut = state.Records,
            BytesOut = state.Bytes,
            Outputs = outputs,
            Message = string.Create(CultureInfo.InvariantCulture, $"{state.Records} records of {eventType} on {dayText} in {state.Parts} part(s); {client.Requests} request(s) in this attempt, {client.Retries} retried; {stale} stale part(s) removed"),
        };
    }

    /// <summary>The checkpoint of an earlier attempt, if every part it counts is still in the work area.</summary>
    private async Task<PullState?> ResumeAsync(StepContext context, CancellationToken ct)
    {
        if (await context.Checkpoints.GetCheckpointAsync(context.Load.Id, Name, ct) is not { } text)
        {
            return null;
        }

        PullState? state;
        try
        {
            state = JsonSerializer.Deserialize<PullState>(text);
        }
        catch (JsonException)
        {
            return null; // written by another version: start over, which is always correct
        }

        for (var n = 1; state is not null && n <= state.Parts; n++)
        {
            // The work area is cleared when a load errors; a re-driven load then starts the day over.
            if (await context.WorkStore.StatAsync(Areas.Work, WorkKey(context, n), ct) is null)
            {
                return null;
            }
        }

        return state;
    }

    private async Task<PullState> ClosePartAsync(StepContext context, SpoolPart part, PullState state, bool done, CancellationToken ct)
    {
        var records = part.Records;
        var n = state.Parts + 1;
        var info = await part.PutAsync(context.WorkStore, WorkKey(context, n), ct);
        state = state with { Parts = n, Records = state.Records + records, Bytes = state.Bytes + info.Size, Done = done };
        // The part is in the store before the checkpoint names it: a crash in between re-writes the same part (from
        // the spool file, which goes only after the checkpoint stops naming it).
        await SaveAsync(context, state, ct);
        await part.DeleteAsync();
        return state;
    }

    private Task SaveAsync(StepContext context, PullState state, CancellationToken ct) =>
        context.Checkpoints.SaveCheckpointAsync(context.Load.Id, Name, JsonSerializer.Serialize(state), ct);

    /// <summary>Copies the parts to their final keys, then removes the day's parts this run did not write.</summary>
    private static async Task<(List<string> Outputs, int Stale)> PublishAsync(StepContext context, HttpSourceOptions config, string eventType, string day, int parts, CancellationToken ct)
    {
        var store = StepContext.Required(context.PartStore, "store for the pull's parts");
        var work = context.WorkStore;
        var outputs = new List<string>();
        var keep = new HashSet<string>(StringComparer.Ordinal);
        for (var n = 1; n <= parts; n++)
        {
            var key = PartKeys.Render(config.KeyTemplate, eventType, day, n);
            if (ReferenceEquals(store, work))
            {
                await store.CopyAsync(Areas.Work, WorkKey(context, n), config.Area, key, ct);
            }
            else
            {
                await using var input = await work.OpenReadAsync(Areas.Work, WorkKey(context, n), ct);
                await store.PutAsync(config.Area, key, input, ct);
            }

            keep.Add(key);
            outputs.Add($"{config.Area}:{key}");
        }

        var stale = new List<string>();
        await foreach (var o in store.ListAsync(config.Area, PartKeys.ListPrefix(config.KeyTemplate, eventType, day), ct))
        {
            if (!keep.Contains(o.Key) && PartKeys.IsPart(config.KeyTemplate, eventType, day, o.Key))
            {
                stale.Add(o.Key);
            }
        }

        foreach (var key in stale)
        {
            await store.DeleteAsync(config.Area, key, ct);
        }

        return (outputs, stale.Count);
    }
}
