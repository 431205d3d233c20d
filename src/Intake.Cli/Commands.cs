using System.CommandLine;
using Intake.Core.Errors;
using Intake.Core.Model;
using Intake.Engine.Audit;
using Intake.Engine.Configuration;
using Intake.Engine.Runtime;
using Spectre.Console;

namespace Intake.Cli;

internal static class Commands
{
    private static readonly Option<string?> ConfigOption = new("--config", "-c")
    {
        Description = "intake.yaml, or the folder that holds it (default: the current folder)",
        Recursive = true,
    };

    private static readonly Option<bool> JsonOption = new("--json")
    {
        Description = "Print results as JSON (one document) for scripts instead of tables",
        Recursive = true,
    };

    private static readonly Option<bool> VerboseOption = new("--verbose", "-v")
    {
        Description = "Log every step, also on a terminal",
        Recursive = true,
    };

    /// <param name="args">
    /// The command line: for <c>mail</c> first (Postfix's pipe, a process per message) only that command is built, as
    /// the others cost start-up time it never uses; null builds them all.
    /// </param>
    public static RootCommand Build(IReadOnlyList<string>? args = null)
    {
        var root = new RootCommand($"""
            Intake moves data files into stores and databases and tracks every load from arrival to its last destination.

            Configuration: intake.yaml (catalog, stores, warehouses, defaults) and pipelines/*.yaml.
            {ExitCodes.HelpText}
            """);
        root.Options.Add(ConfigOption);
        root.Options.Add(JsonOption);
        root.Options.Add(VerboseOption);
        if (args is ["mail", ..])
        {
            root.Subcommands.Add(MailCommands.Build());
            return root;
        }

        root.Subcommands.Add(RunCommand());
        root.Subcommands.Add(LoadsCommand());
        root.Subcommands.Add(ShowCommand());
        root.Subcommands.Add(RedriveCommand());
        root.Subcommands.Add(CancelCommand());
        root.Subcommands.Add(AuditCommand());
        root.Subcommands.Add(TablesCommand.Build());
        root.Subcommands.Add(CubicCommand.Build());
        root.Subcommands.Add(ValidateCommand());
        root.Subcommands.Add(InitCommand.Build());
        ExportCommands.Build().ToList().ForEach(root.Subcommands.Add);
        root.Subcommands.Add(BackfillCommands.Build());
        root.Subcommands.Add(StreamsCommands.Build());
        root.Subcommands.Add(MailCommands.Build());
        foreach (var command in ServerCommands.Build())
        {
            root.Subcommands.Add(command);
        }

        return root;
    }

    /// <summary>Runs a command body with the configuration loaded and the runtime open, mapping failures to exit codes.</summary>
    internal static Task<int> WithRuntimeAsync(ParseResult parse, Func<IntakeRuntime, bool, Task<int>> body, CancellationToken ct) =>
        WithRuntimeAsync(parse, body, OutageOptions.OneShot, ct);

    /// <summary>
    /// As above, with <paramref name="outage"/> saying how a catalog outage is met: a command that runs once gives
    /// up with exit 4; a polling one waits it out.
    /// </summary>
    internal static async Task<int> WithRuntimeAsync(ParseResult parse, Func<IntakeRuntime, bool, Task<int>> body, OutageOptions outage, CancellationToken ct)
    {
        var json = parse.GetValue(JsonOption);
        var interactive = Terminal.IsInteractive && !json;
        using var logs = Terminal.CreateLogs(interactive, parse.GetValue(VerboseOption));
        IntakeConfig config;
        try
        {
            config = ConfigLoader.Load(ConfigLoader.Locate(parse.GetValue(ConfigOption)));
        }
        catch (ConfigException e)
        {
            Console.Error.WriteLine($"intake: {e.Message}");
            return ExitCodes.Usage;
        }

        try
        {
            await using var runtime = await IntakeRuntime.OpenAsync(config, outage, TimeProvider.System, logs, ct);
            return await body(runtime, json);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            Console.Error.WriteLine("intake: interrupted; loads in progress were handed back and resume on the next run");
            return ExitCodes.Interrupted;
        }
        catch (IntakeException e) when (ExitCodes.IsReported(e))
        {
            return ExitCodes.Report(e);
        }
        catch (ArgumentException e)
        {
            Console.Error.WriteLine($"intake: {e.Message}");
            return ExitCodes.Usage;
        }
    }

    /// <summary>The most loads the table at the end of <c>intake run</c> lists; the counts below it cover them all.</summary>
    private const int MaxRunRows = 100;

    /// <summary><c>--small-workers</c> of run, serve and worker.</summary>
    internal static Option<int?> SmallWorkersOption() => new("--small-workers")
    {
        Description = "Workers that take only small loads (originals up to defaults.small_loads_up_to), beside --workers, " +
                      "each claiming defaults.small_load_batch of them (4) at once " +
                      "(default: defaults.small_load_workers, else 3 per processor, at most 16; 0: none)",
    };

    /// <summary>The value of <see cref="SmallWorkersOption"/>, never below 0; null when not given.</summary>
    internal static int? SmallWorkers(ParseResult parse, Option<int?> option) => parse.GetValue(option) is { } n ? Math.Max(0, n) : null;

    private static Command RunCommand()
    {
        var once = new Option<bool>("--once") { Description = "Discover and process what is there now, then exit (default: keep polling)" };
        var pipeline = new Option<string[]>("--pipeline", "-p") { Description = "Only this pipeline (repeatable)", AllowMultipleArgumentsPerToken = false };
        var workers = new Option<int>("--workers", "-w") { Description = "Loads processed in parallel", DefaultValueFactory = _ => 2 };
        var smallWorkers = SmallWorkersOption();
        var interval = new Option<string>("--interval") { Description = "Time between polls without --once (e.g. 10s, 1m)", DefaultValueFactory = _ => "10s" };
        var cmd = new Command("run", "Discover new files and carry every waiting load through its steps. Exit 3 when a load ended errored.")
        {
            once, pipeline, workers, smallWorkers, interval,
        };
        cmd.SetAction((parse, ct) => WithRuntimeAsync(parse, async (runtime, json) =>
        {
            if (!Units.TryParseDuration(parse.GetValue(interval)!, out var every))
            {
                Console.Error.WriteLine($"intake: --interval '{parse.GetValue(interval)}' is not a duration (examples: 30s, 5m)");
                return ExitCodes.Usage;
            }

            var names = parse.GetValue(pipeline) is { Length: > 0 } p ? p : null;
            foreach (var name in names ?? [])
            {
                if (runtime.Config.FindPipeline(name) is null)
                {
                    Console.Error.WriteLine($"intake: no pipeline named '{name}' (pipelines: {string.Join(", ", runtime.Config.Pipelines.Select(x => x.Name))})");
                    return ExitCodes.NotFound;
                }
            }

            var options = new RunOptions
            {
                Once = parse.GetValue(once), Pipelines = names, Workers = Math.Max(1, parse.GetValue(workers)), SmallLoadWorkers = SmallWorkers(parse, smallWorkers),
                PollInterval = every,
            };
            RunSummary summary;
            if (Terminal.IsInteractive && !json)
            {
                summary = await ProgressView.RunAsync(runtime, options, ct);
            }
            else
            {
                summary = await new Runner(runtime).RunAsync(options, ct);
            }

            var errored = summary.Count(LoadStatus.Errored);
            var unlisted = summary.Discovered.Where(d => d.Error is not null).ToList();
            foreach (var d in unlisted)
            {
                Console.Error.WriteLine($"intake: could not list the source of {d.Pipeline}: {d.Error!.Kind.ToWord()}: {d.Error.Message}");
            }

            if (json)
            {
                Json.Write(new
                {
                    discovered = summary.Discovered.GroupBy(d => d.Pipeline).Select(g => new { pipeline = g.Key, @new = g.Sum(x => x.New), seen = g.Sum(x => x.Seen), error = g.LastOrDefault(x => x.Error is not null)?.Error?.Message }),
                    archived = summary.Count(LoadStatus.Archived),
                    errored,
                    loads = summary.Finished.Select(Json.Load),
                });
            }
            else
            {
                // Each load as this run left it (a load held, then released and archived, appears twice: the last counts).
                var all = summary.Finished.GroupBy(x => x.Id).Select(g => g.Last()).OrderBy(x => x.Id).ToList();
                var total = summary.Discovered.Sum(d => d.New);
                if (all.Count == 0)
                {
                    Terminal.Out.WriteLine("Nothing to do: no new files and no loads waiting. 'intake loads' lists what is known.");
                    return unlisted.Count > 0 ? ExitCodes.Unavailable : ExitCodes.Ok;
                }

                // The table shows what needs a look first (errored, held), then the rest, up to MaxRunRows: a run of
                // thousands of small files is summed up, not listed (each row is read again for its error message).
                var shown = all.OrderBy(l => l.Status == LoadStatus.Archived).ThenBy(l => l.Id).Take(MaxRunRows).OrderBy(l => l.Id).ToList();
                for (var i = 0; i < shown.Count; i++)
                {
                    shown[i] = await runtime.Catalog.GetLoadAsync(shown[i].Id, ct) ?? shown[i];
                }

                Tables.Loads(shown, "Loads processed in this run");
                if (all.Count > shown.Count)
                {
                    Terminal.Out.WriteLine($"... and {all.Count - shown.Count} more load(s) not shown: 'intake loads' lists them all.");
                }

                var held = all.Count(l => l.Status == LoadStatus.Held);
                Terminal.Out.MarkupLine($"{total} new file(s) discovered; {all.Count(l => l.Status == LoadStatus.Archived)} archived, {errored} errored{(held > 0 ? $", {held} held ('intake loads --status held' says why)" : "")}.");
            }

            return errored > 0 ? ExitCodes.LoadsFailed : unlisted.Count > 0 ? ExitCodes.Unavailable : ExitCodes.Ok;
        }, parse.GetValue(once) ? OutageOptions.OneShot : OutageOptions.Daemon, ct)); // polling is a daemon: it waits out catalog outages
        return cmd;
    }

    private static Command LoadsCommand()
    {
        var status = new Option<string?>("--status", "-s") { Description = $"Only loads in this status ({string.Join(", ", LoadStatusNames.Words)})" };
        var pipeline = new Option<string?>("--pipeline", "-p") { Description = "Only loads of this pipeline" };
        var customer = new Option<string?>("--customer") { Description = "Only loads of this customer" };
        var limit = new Option<int>("--limit", "-n") { Description = "At most this many (newest first)", DefaultValueFactory = _ => 50 };
        var cmd = new Command("loads", "List loads with their status, newest first.") { status, pipeline, customer, limit };
        cmd.SetAction((parse, ct) => WithRuntimeAsync(parse, async (runtime, json) =>
        {
            LoadStatus? s = null;
            if (parse.GetValue(status) is { } word)
            {
                if (!LoadStatusNames.TryParse(word, out var parsed))
                {
                    Console.Error.WriteLine($"intake: '{word}' is not a status ({string.Join(", ", LoadStatusNames.Words)})");
                    return ExitCodes.Usage;
                }

                s = parsed;
            }

            var loads = await ListNewestAsync(runtime, new LoadQuery { Status = s, Pipeline = parse.GetValue(pipeline), Customer = parse.GetValue(customer) }, Math.Max(1, parse.GetValue(limit)), ct);
            if (json)
            {
                Json.Write(loads.Select(Json.Load));
            }
            else
            {
                Tables.Loads(loads, null);
                var counts = await runtime.Catalog.CountByStatusAsync(parse.GetValue(pipeline), ct);
                Terminal.Out.WriteLine(string.Join("  ", counts.Where(kv => kv.Value > 0).Select(kv => $"{kv.Key.ToWord()}: {kv.Value}")));
            }

            return ExitCodes.Ok;
        }, ct));
        return cmd;
    }

    /// <summary>The newest loads matching the query, walking the ascending keyset pages once.</summary>
    private static async Task<List<Load>> ListNewestAsync(IntakeRuntime runtime, LoadQuery query, int limit, CancellationToken ct)
    {
        var window = new Queue<Load>();
        long? after = null;
        while (true)
        {
            var page = await runtime.Catalog.ListLoadsAsync(query with { AfterId = after, Limit = 1000 }, ct);
            foreach (var l in page)
            {
                window.Enqueue(l);
                if (window.Count > limit)
                {
                    window.Dequeue();
                }
            }

            if (page.Count < 1000)
            {
                break;
            }

            after = page[^1].Id;
        }

        return window.Reverse().ToList();
    }

    private static Command ShowCommand()
    {
        var id = new Argument<long>("LOAD") { Description = "The load id (see 'intake loads')" };
        var cmd = new Command("show", "Show one load and its step history: every attempt, outcome, error kind, rows and bytes.") { id };
        cmd.SetAction((parse, ct) => WithRuntimeAsync(parse, async (runtime, json) =>
        {
            var load = await runtime.Catalog.GetLoadAsync(parse.GetValue(id), ct);
            if (load is null)
            {
                Console.Error.WriteLine($"intake: no load {parse.GetValue(id)}");
                return ExitCodes.NotFound;
            }

            var steps = await runtime.Catalog.GetStepsAsync(load.Id, ct);
            if (json)
            {
                Json.Write(new { load = Json.Load(load), steps = steps.Select(Json.Step) });
            }
            else
            {
                Tables.Show(load, steps);
            }

            return ExitCodes.Ok;
        }, ct));
        return cmd;
    }

    private static Command CancelCommand()
    {
        var id = new Argument<long>("LOAD") { Description = "The load to stop" };
        var cmd = new Command("cancel", "Stop a load: a ready one is held until re-driven; an ingesting one fails (transient) and its worker stops at its next heartbeat. Exit 2 when its status does not allow it.") { id };
        cmd.SetAction((parse, ct) => WithRuntimeAsync(parse, async (runtime, json) =>
        {
            var loadId = parse.GetValue(id);
            if (await runtime.Catalog.GetLoadAsync(loadId, ct) is not { } load)
            {
                Console.Error.WriteLine($"intake: no load {loadId}");
                return ExitCodes.NotFound;
            }

            var result = await runtime.Actions.CancelAsync(load, $"cancelled from the command line by {Environment.UserName}", ct);
            if (json)
            {
                Json.Write(new { cancelled = result.Done, load = Json.Load(result.Load), reason = result.Reason });
            }
            else if (result.Done)
            {
                Terminal.Out.WriteLine($"load {load.Id}: {load.Status.ToWord()} -> {result.Load.Status.ToWord()}");
            }
            else
            {
                Console.Error.WriteLine($"intake: {result.Reason}");
            }

            return result.Done ? ExitCodes.Ok : ExitCodes.Usage;
        }, ct));
        return cmd;
    }

    private static Command RedriveCommand()
    {
        var id = new Argument<long?>("LOAD") { Description = "The load to send through its steps again", Arity = ArgumentArity.ZeroOrOne };
        var status = new Option<string?>("--status", "-s") { Description = "Re-drive every load in this status (errored or held)" };
        var pipeline = new Option<string?>("--pipeline", "-p") { Description = "With --status: only this pipeline" };
        var cmd = new Command("redrive", "Send failed loads through their steps again; they resume at the first step without a success. Then run 'intake run --once'.") { id, status, pipeline };
        cmd.SetAction((parse, ct) => WithRuntimeAsync(parse, async (runtime, json) =>
        {
            var targets = new List<Load>();
            if (parse.GetValue(id) is { } loadId)
            {
                var load = await runtime.Catalog.GetLoadAsync(loadId, ct);
                if (load is null)
                {
                    Console.Error.WriteLine($"intake: no load {loadId}");
                    return ExitCodes.NotFound;
                }

                targets.Add(load);
            }
            else if (parse.GetValue(status) is { } word)
            {
                if (!LoadStatusNames.TryParse(word, out var s) || !LoadStateMachine.CanRedrive(s))
                {
                    Console.Error.WriteLine($"intake: --status must be errored, held or archived, not '{word}'");
                    return ExitCodes.Usage;
                }

                long? after = null;
                while (true)
                {
                    var page = await runtime.Catalog.ListLoadsAsync(new LoadQuery { Status = s, Pipeline = parse.GetValue(pipeline), AfterId = after, Limit = 1000 }, ct);
                    targets.AddRange(page);
                    if (page.Count < 1000)
                    {
                        break;
                    }

                    after = page[^1].Id;
                }
            }
            else
            {
                Console.Error.WriteLine("intake: give a LOAD id or --status errored");
                return ExitCodes.Usage;
            }

            var redriven = new List<Load>();
            var refused = new List<string>();
            foreach (var load in targets)
            {
                var result = await runtime.Actions.RedriveAsync(load, ct);
                if (result.Done)
                {
                    redriven.Add(load);
                }
                else
                {
                    refused.Add(result.Reason!);
                }
            }

            if (json)
            {
                Json.Write(new { redriven = redriven.Select(l => l.Id), refused });
            }
            else
            {
                foreach (var r in refused)
                {
                    Console.Error.WriteLine($"intake: {r}");
                }

                Terminal.Out.WriteLine($"{redriven.Count} load(s) set to ready: {string.Join(", ", redriven.Select(l => l.Id))}. Run 'intake run --once' to process them.");
            }

            return refused.Count > 0 && redriven.Count == 0 ? ExitCodes.Usage : ExitCodes.Ok;
        }, ct));
        return cmd;
    }

    private static Command AuditCommand()
    {
        var pipeline = new Option<string?>("--pipeline", "-p") { Description = "Only loads of this pipeline" };
        var all = new Option<bool>("--all") { Description = "List every load, not only those with problems" };
        var cmd = new Command("audit", "Check every load: steps succeeded in order, and rows counted at parse = rows written = rows in the warehouse. Exit 6 when a load breaks one.") { pipeline, all };
        cmd.SetAction((parse, ct) => WithRuntimeAsync(parse, async (runtime, json) =>
        {
            var results = new List<LoadAudit>();
            await foreach (var a in new Auditor(runtime).AuditAsync(parse.GetValue(pipeline), ct))
            {
                results.Add(a);
            }

            var problems = results.Count(r => !r.Ok);
            if (json)
            {
                Json.Write(new
                {
                    loads = results.Count,
                    problems,
                    results = results.Where(r => parse.GetValue(all) || !r.Ok).Select(r => new
                    {
                        load = r.Load.Id,
                        pipeline = r.Load.Pipeline,
                        status = r.Load.Status.ToWord(),
                        rows_parsed = r.RowsParsed,
                        rows_loaded = r.RowsLoaded,
                        rows_in_warehouse = r.RowsInWarehouse,
                        rows_merged = r.RowsMerged,
                        problems = r.Problems,
                    }),
                });
            }
            else
            {
                Tables.Audit(results.Where(r => parse.GetValue(all) || !r.Ok).ToList());
                Terminal.Out.WriteLine($"{results.Count} load(s) audited, {problems} with problems.");
            }

            return problems > 0 ? ExitCodes.AuditProblems : ExitCodes.Ok;
        }, ct));
        return cmd;
    }

    private static Command ValidateCommand()
    {
        var cmd = new Command("validate", "Check intake.yaml and pipelines/*.yaml; print every problem with its file, line and key. Exit 2 when invalid.");
        cmd.SetAction(parse =>
        {
            var json = parse.GetValue(JsonOption);
            try
            {
                var config = ConfigLoader.Load(ConfigLoader.Locate(parse.GetValue(ConfigOption)));
                if (json)
                {
                    Json.Write(new { valid = true, pipelines = config.Pipelines.Select(p => p.Name), errors = Array.Empty<object>() });
                }
                else
                {
                    Terminal.Out.WriteLine($"{config.ConfigFile}: valid; catalog {config.Catalog.Kind}; stores {string.Join(", ", config.Stores.Keys)}; warehouses {string.Join(", ", config.Warehouses.Keys)}; pipelines {string.Join(", ", config.Pipelines.Select(p => p.Name))}");
                }

                return ExitCodes.Ok;
            }
            catch (ConfigException e)
            {
                if (json)
                {
                    Json.Write(new { valid = false, pipelines = Array.Empty<string>(), errors = e.Errors.Select(x => new { file = x.File, line = x.Line, key = x.Key, reason = x.Reason }) });
                }
                else
                {
                    Console.Error.WriteLine($"intake: {e.Message}");
                }

                return ExitCodes.Usage;
            }
        });
        return cmd;
    }
}
