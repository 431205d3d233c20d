using Intake.Core.Model;
using Intake.Core.Ports;
using Intake.Engine.Configuration;
using Intake.Engine.Steps;

namespace Intake.Engine.Cubic;

/// <summary>
/// Releases held ODS loads (<c>held → ready</c>) once their snapshot is loaded: right after a <c>LOAD</c> load of the
/// table is loaded (<see cref="CubicApplyStep"/>) and on every sweep, so a crash between the two never strands one.
/// Each release is a compare-and-set from <c>held</c>, so two processes releasing at once release it once.
/// </summary>
public static class OdsRelease
{
    /// <summary>Releases the held loads of a base table and its change table whose snapshot is now loaded; returns how many.</summary>
    public static async Task<int> ReleaseAsync(PipelineConfig pipeline, string baseTable, ICatalog catalog, CancellationToken cancellationToken)
    {
        var released = 0;
        foreach (var table in new[] { baseTable + OdsFiles.ChangeSuffix, baseTable })
        {
            var held = await catalog.ListLoadsAsync(new LoadQuery { Status = LoadStatus.Held, Pipeline = pipeline.Name, Table = table, Limit = 10_000 }, cancellationToken);
            released += await ReleaseDueAsync(pipeline, held, catalog, cancellationToken);
        }

        return released;
    }

    /// <summary>The sweeper's pass: every held load of every pipeline with <c>cubic.ods</c> whose snapshot is loaded.</summary>
    public static async Task<int> SweepAsync(IntakeConfig config, ICatalog catalog, CancellationToken cancellationToken)
    {
        var released = 0;
        foreach (var pipeline in config.Pipelines.Where(p => p.Cubic?.Ods is not null))
        {
            var held = await catalog.ListLoadsAsync(new LoadQuery { Status = LoadStatus.Held, Pipeline = pipeline.Name, Limit = 10_000 }, cancellationToken);
            released += await ReleaseDueAsync(pipeline, held, catalog, cancellationToken);
        }

        return released;
    }

    private static async Task<int> ReleaseDueAsync(PipelineConfig pipeline, IReadOnlyList<Load> held, ICatalog catalog, CancellationToken cancellationToken)
    {
        var released = 0;
        foreach (var load in held)
        {
            if (!await HeldBySliceAsync(load, catalog, cancellationToken))
            {
                continue; // an operator's hold stays until the operator re-drives it
            }

            if (await OdsSnapshots.DecideAsync(pipeline, load, catalog, cancellationToken) is { HeldReason: null }
                // Holding is no failed attempt: the count starts again.
                && await catalog.TransitionAsync(load.Id, LoadStatus.Held, LoadStatus.Ready, new TransitionDetails { ResetAttempts = true }, cancellationToken))
            {
                released++;
            }
        }

        return released;
    }

    /// <summary>Whether the slice held the load: its last step record is a Cubic step that held it with its current reason.</summary>
    private static async Task<bool> HeldBySliceAsync(Load load, ICatalog catalog, CancellationToken cancellationToken)
    {
        var last = (await catalog.GetStepsAsync(load.Id, cancellationToken)).MaxBy(s => s.Id);
        return last is not null
            && (last.Step == CubicSlice.Snapshot.Name || last.Step == CubicSlice.Apply.Name)
            && last.Message == StepResult.Held(load.HeldReason ?? "").Message;
    }
}
