using System.CommandLine;
using System.Globalization;
using Intake.Engine.Configuration;
using Intake.Engine.Scheduling;
using Intake.Engine.Streams;
using Spectre.Console;

namespace Intake.Cli;

/// <summary><c>intake streams</c> (what waits in each stream's spool on this machine) and <c>intake streams flush NAME</c>.</summary>
internal static class StreamsCommands
{
    /// <summary>How long <c>flush</c> waits for a running server to take its request (it looks about once a second).</summary>
    private static readonly TimeSpan ServerFlushWait = TimeSpan.FromSeconds(15);

    /// <summary>How long <c>flush</c> without a server tries to write the batch into the source before giving up (exit 4).</summary>
    private static readonly TimeSpan DrainWait = TimeSpan.FromMinutes(2);

    private static string? ConfigPath(ParseResult parse) => parse.GetValue<string?>("--config");

    private static bool JsonOutput(ParseResult parse) => parse.GetValue<bool>("--json");

    public static Command Build()
    {
        var cmd = new Command("streams", "List the streams (streams: in intake.yaml) with the records waiting in their spool on this machine: pending in the open batch, its age, and sealed batches not yet written.");
        cmd.SetAction(parse => List(parse));

        var name = new Argument<string>("NAME") { Description = "The stream" };
        var flush = new Command("flush", "Seal the stream's open batch now, however few records it holds, and write it into its pipeline's source. A running 'intake serve' does it within a second; without one, this command does it and registers the load (then run 'intake run').") { name };
        flush.SetAction((parse, ct) => FlushAsync(parse, parse.GetValue(name)!, ct));
        cmd.Subcommands.Add(flush);
        return cmd;
    }

    private static IntakeConfig? Load(ParseResult parse)
    {
        try
        {
            return ConfigLoader.Load(ConfigLoader.Locate(ConfigPath(parse)));
        }
        catch (ConfigException e)
        {
            Console.Error.WriteLine($"intake: {e.Message}");
            return null;
        }
    }

    private static int List(ParseResult parse)
    {
        if (Load(parse) is not { } config)
        {
            return ExitCodes.Usage;
        }

        var now = TimeProvider.System.GetUtcNow();
        var rows = config.Streams.OrderBy(s => s.Name, StringComparer.Ordinal).Select(s => (Stream: s, Spool: StreamSpool.Inspect(s.SpoolDirectory))).ToList();
        if (JsonOutput(parse))
        {
            Json.Write(rows.Select(r => new
            {
                name = r.Stream.Name,
                pipeline = r.Stream.Pipeline,
                prefix = r.Stream.Prefix,
                max_records = r.Stream.MaxRecords,
                max_age = JobTimeouts.Format(r.Stream.MaxAge),
                pending_records = r.Spool.PendingRecords,
                oldest_pending_at = r.Spool.OldestPendingAt,
                sealed_batches = r.Spool.SealedBatches,
                sealed_records = r.Spool.SealedRecords,
                oldest_sealed_at = r.Spool.OldestSealedAt,
                served = r.Spool.InUse,
                spool = r.Stream.SpoolDirectory,
            }));
            return ExitCodes.Ok;
        }

        if (rows.Count == 0)
        {
            Terminal.Out.WriteLine("no streams (declare them under streams: in intake.yaml; see docs/streams.md)");
            return ExitCodes.Ok;
        }

        var table = new Table { Border = TableBorder.Simple };
        table.AddColumn("stream").AddColumn("pipeline").AddColumn("prefix").AddColumn(new TableColumn("pending").RightAligned()).AddColumn("oldest pending")
            .AddColumn(new TableColumn("sealed, not written").RightAligned()).AddColumn("served");
        foreach (var (stream, spool) in rows)
        {
            table.AddRow(
                Terminal.Escape(stream.Name),
                Terminal.Escape(stream.Pipeline),
                Terminal.Escape(stream.Prefix),
                spool.PendingRecords.ToString(CultureInfo.InvariantCulture),
                spool.OldestPendingAt is { } at ? $"{JobTimeouts.Format(Whole(now - at))} ago (seals at {JobTimeouts.Format(stream.MaxAge)})" : "",
                spool.SealedBatches == 0 ? "0" : $"{spool.SealedBatches.ToString(CultureInfo.InvariantCulture)} ({spool.SealedRecords.ToString(CultureInfo.InvariantCulture)} records)",
                spool.InUse ? "yes" : "no");
        }

        Terminal.Out.Write(table);
        return ExitCodes.Ok;
    }

    private static TimeSpan Whole(TimeSpan t) => TimeSpan.FromSeconds(Math.Max(0, Math.Floor(t.TotalSeconds)));

    private static async Task<int> FlushAsync(ParseResult parse, string name, CancellationToken ct)
    {
        if (Load(parse) is not { } config)
        {
            return ExitCodes.Usage;
        }

        if (config.Streams.FirstOrDefault(s => s.Name == name) is not { } stream)
        {
            Console.Error.WriteLine($"intake: no stream named '{name}' (streams: {(config.Streams.Count == 0 ? "none" : string.Join(", ", config.Streams.Select(s => s.Name)))})");
            return ExitCodes.NotFound;
        }

        var before = StreamSpool.Inspect(stream.SpoolDirectory);
        if (before.InUse)
        {
            return await AskServerAsync(parse, stream, before, ct);
        }

        return await Commands.WithRuntimeAsync(parse, async (runtime, json) =>
        {
            await using var streams = new StreamsService(runtime, StreamsService.DiscoverWith(new PipelineRuns(runtime)));
            var written = new List<string>();
            streams.Written += (_, key) =>
            {
                lock (written)
                {
                    written.Add(key);
                }
            };
            await streams.StartAsync([stream.Name]);
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(DrainWait);
            try
            {
                await streams.Find(stream.Name)!.DrainAsync(timeout.Token);
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                var status = streams.Find(stream.Name)!.Status();
                Console.Error.WriteLine($"intake: unavailable: stream '{stream.Name}': {status.SealedBatches} sealed batches could not be written within {JobTimeouts.Format(DrainWait)}: {status.Problem}");
                return ExitCodes.Unavailable;
            }

            if (json)
            {
                Json.Write(new { stream = stream.Name, flushed_by = "this command", sealed_records = before.PendingRecords, batches_written = written });
            }
            else
            {
                Terminal.Out.WriteLine(written.Count == 0
                    ? $"Stream '{stream.Name}': nothing was waiting."
                    : $"Stream '{stream.Name}': wrote {string.Join(", ", written)} into the source of pipeline '{stream.Pipeline}'; run 'intake run' to load it.");
            }

            return ExitCodes.Ok;
        }, ct);
    }

    /// <summary>A running server holds the spool: leave it a flush request and wait until it takes it.</summary>
    private static async Task<int> AskServerAsync(ParseResult parse, StreamConfig stream, SpoolStatus before, CancellationToken ct)
    {
        StreamSpool.RequestFlush(stream.SpoolDirectory);
        var waited = TimeSpan.Zero;
        while (StreamSpool.FlushPending(stream.SpoolDirectory))
        {
            if (waited >= ServerFlushWait)
            {
                Console.Error.WriteLine($"intake: unavailable: the server holding stream '{stream.Name}' has not taken the flush request within {JobTimeouts.Format(ServerFlushWait)}; it stays asked for");
                return ExitCodes.Unavailable;
            }

            await Task.Delay(TimeSpan.FromMilliseconds(200), ct);
            waited += TimeSpan.FromMilliseconds(200);
        }

        if (JsonOutput(parse))
        {
            Json.Write(new { stream = stream.Name, flushed_by = "server", sealed_records = before.PendingRecords, batches_written = Array.Empty<string>() });
        }
        else
        {
            Terminal.Out.WriteLine($"Stream '{stream.Name}': the running server sealed its open batch ({before.PendingRecords.ToString(CultureInfo.InvariantCulture)} records); it writes and loads it now.");
        }

        return ExitCodes.Ok;
    }
}
