using System.Collections.Concurrent;
using System.Globalization;
using Intake.Core.Model;
using Intake.Engine.Runtime;
using Spectre.Console;

namespace Intake.Cli;

/// <summary>Progress bars for <c>intake run</c> on a terminal: one bar per load, advancing with the bytes of its current step.</summary>
internal sealed class ProgressView : IRunObserver
{
    private readonly ProgressContext _ctx;
    private readonly ConcurrentDictionary<long, ProgressTask> _tasks = new();

    private ProgressView(ProgressContext ctx) => _ctx = ctx;

    public static async Task<RunSummary> RunAsync(IntakeRuntime runtime, RunOptions options, CancellationToken ct)
    {
        RunSummary? summary = null;
        await Terminal.Out.Progress()
            .AutoClear(false)
            .HideCompleted(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new TransferSpeedColumn(), new ElapsedTimeColumn())
            .StartAsync(async ctx =>
            {
                summary = await new Runner(runtime, new ProgressView(ctx)).RunAsync(options, ct);
            });
        return summary!;
    }

    private ProgressTask TaskFor(Load load) =>
        _tasks.GetOrAdd(load.Id, _ => _ctx.AddTask(Describe(load, "claimed"), maxValue: 1));

    private static string Describe(Load load, string what) =>
        Markup.Escape($"#{load.Id.ToString(CultureInfo.InvariantCulture)} {Short(load.SourceKey)}: {what}");

    private static string Short(string key) => key.Length <= 40 ? key : "…" + key[^39..];

    public void LoadStarted(Load load, string stage) => TaskFor(load).Description = Describe(load, stage);

    public void StepStarted(Load load, string step, int attempt)
    {
        var t = TaskFor(load);
        t.Description = Describe(load, attempt > 1 ? $"{step} (attempt {attempt})" : step);
        t.Value = 0;
    }

    public void Progress(Load load, string step, long done, long? total)
    {
        var t = TaskFor(load);
        if (total is > 0)
        {
            t.MaxValue = total.Value;
        }

        t.Value = Math.Min(done, t.MaxValue);
    }

    public void StepFinished(Load load, string step, StepResult result)
    {
        if (result.Outcome == StepOutcome.Failed)
        {
            TaskFor(load).Description = Describe(load, $"{step} failed ({result.ErrorKind?.ToString().ToLowerInvariant()})");
        }
    }

    public void LoadFinished(Load load, LoadStatus status)
    {
        var t = TaskFor(load);
        t.Description = Describe(load, status.ToWord());
        if (LoadStateMachine.IsFinal(status))
        {
            t.Value = t.MaxValue;
            t.StopTask();
        }
    }
}
