using Intake.Core.Model;
using Intake.Engine.Runtime;
using Intake.Engine.Steps;

namespace Intake.Engine.Audit;

public sealed record LoadAudit(Load Load, long? RowsParsed, long? RowsLoaded, long? RowsInWarehouse, long? RowsMerged, IReadOnlyList<string> Problems)
{
    public bool Ok => Problems.Count == 0;
}

/// <summary>
/// Checks the invariants on every load: each step's first success follows the previous step's (the ingest steps in
/// their order, then the archive stage's), an archived load has a success for every step, and the rows counted at parse equal the rows the
/// warehouse wrote and still holds for that load.
/// </summary>
public sealed class Auditor
{
    private readonly IntakeRuntime _runtime;

    public Auditor(IntakeRuntime runtime) => _runtime = runtime;

    public async IAsyncEnumerable<LoadAudit> AuditAsync(string? pipeline, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
    {
        long? after = null;
        while (true)
        {
            var page = await _runtime.Catalog.ListLoadsAsync(new LoadQuery { Pipeline = pipeline, AfterId = after, Limit = 500 }, cancellationToken);
            if (page.Count == 0)
            {
                yield break;
            }

            foreach (var load in page)
            {
                yield return await AuditLoadAsync(load, cancellationToken);
            }

            after = page[^1].Id;
        }
    }

    public async Task<LoadAudit> AuditLoadAsync(Load load, CancellationToken cancellationToken)
    {
        var problems = new List<string>();
        var steps = await _runtime.Catalog.GetStepsAsync(load.Id, cancellationToken);
        var config = _runtime.Config.FindPipeline(load.Pipeline);
        // The order first successes come in: the ingest steps, then the archive stage (wherever 'archive' is listed)
        // and the kind's release. Without the pipeline, the records' own order (they are listed as written).
        var order = config is null
            ? steps.Select(s => s.Step).Where(s => s != StepDescriptor.Error.Name && s != StepDescriptor.Remove.Name).Distinct().ToList()
            : [.. StepDescriptor.InRunOrder(config.Steps), .. config.Source.Kind.ActsOnArchivedFor(config) ? [StepDescriptor.Release.Name] : Array.Empty<string>()];

        DateTimeOffset? previous = null;
        string? previousName = null;
        foreach (var name in order)
        {
            var first = steps.Where(s => s.Step == name && s.Outcome == StepOutcome.Succeeded).OrderBy(s => s.FinishedAt).FirstOrDefault();
            if (first is null)
            {
                if (load.Status == LoadStatus.Archived)
                {
                    problems.Add($"archived without a successful '{name}' step");
                }

                previous = null;
                continue;
            }

            if (previous is { } p && first.StartedAt < p)
            {
                problems.Add($"'{name}' first succeeded at {first.StartedAt:O}, before '{previousName}' finished at {p:O}");
            }

            previous = first.FinishedAt;
            previousName = name;
        }

        if (steps.Any(s => s.Outcome == StepOutcome.Running) && !LoadStateMachine.IsWorking(load.Status))
        {
            problems.Add("a step record is still 'running' though no worker holds the load");
        }

        long? parsed = Latest(steps, StepDescriptor.Validate.Name)?.RowsOut ?? Latest(steps, StepDescriptor.Pull.Name)?.RowsOut;
        var loadStep = Latest(steps, StepDescriptor.Load.Name);
        long? loaded = loadStep?.RowsOut;
        long? inWarehouse = null;
        if (loadStep is not null && config?.Load is { } loadConfig && loadConfig.Warehouse is { } wh && _runtime.Warehouses.TryGetValue(wh, out var warehouse)
            && (!loadConfig.IsPerTable || load.Table is not null))
        {
            var target = loadConfig.For(load); // the load's own warehouse table when load.table names one per source table
            inWarehouse = await warehouse.CountRowsAsync(target.Table, load.Id, cancellationToken);
            if (loadStep.RowsIn is { } read && parsed is { } p2 && read != p2)
            {
                problems.Add($"{p2} rows counted at validation but {read} read at load");
            }

            if (loaded is { } l && l != inWarehouse)
            {
                // A newer delivery of the same partition (a DMAP day) replaced the load's rows: by design, and recorded.
                var replaced = await warehouse.GetReplacedAsync(target.Table, load.Id, cancellationToken);
                if (replaced is null || l != inWarehouse + replaced.Rows)
                {
                    problems.Add(replaced is null
                        ? $"{l} rows written at load but {inWarehouse} in {wh}:{target.Table}"
                        : $"{l} rows written at load but {inWarehouse} in {wh}:{target.Table} and {replaced.Rows} replaced by load {replaced.ReplacedBy}");
                }
            }

            if (loadStep.RowsIn is { } ri && loaded is { } lo && ri != lo)
            {
                problems.Add($"{ri} rows read but {lo} written");
            }
        }

        if (loadStep is not null && config?.Load is { IsPerTable: true } perTable && load.Table is null)
        {
            problems.Add($"loaded, but belongs to no source table, so its rows cannot be found in the warehouse table '{perTable.Table}'");
        }

        var mergeStep = Latest(steps, StepDescriptor.Merge.Name);
        if (mergeStep is not null)
        {
            if (mergeStep.RowsIn is { } staged && loaded is { } l2 && staged != l2)
            {
                problems.Add($"{l2} rows written at load but {staged} in staging when merged");
            }

            var rejected = mergeStep.RowsRejected ?? 0;
            if (mergeStep.RowsIn is { } staged2 && mergeStep.RowsOut is { } merged && staged2 != merged + rejected)
            {
                problems.Add(rejected == 0
                    ? $"{staged2} rows in staging but {merged} merged"
                    : $"{staged2} rows in staging but {merged} merged and {rejected} kept back as older");
            }
        }

        return new LoadAudit(load, parsed ?? loadStep?.RowsIn, loaded, inWarehouse, mergeStep?.RowsOut, problems);
    }

    private static StepRecord? Latest(IReadOnlyList<StepRecord> steps, string name) =>
        steps.Where(s => s.Step == name && s.Outcome == StepOutcome.Succeeded).OrderByDescending(s => s.Id).FirstOrDefault();
}
