using Intake.Engine.Scheduling;

namespace Intake.Engine.Configuration;

/// <summary>Reads a pipeline's <c>schedule</c> (cron) and <c>timeout</c> (job timeout) keys.</summary>
internal static class ScheduleConfig
{
    /// <summary>The word for a pipeline that only runs when triggered (<see cref="PipelineConfig.TriggeredOnly"/>).</summary>
    public const string Triggered = PipelineConfig.TriggeredSchedule;

    public static bool IsTriggered(YamlScope s) => s.String("schedule") == Triggered;

    public static PipelineSchedule? ReadSchedule(YamlScope s)
    {
        var text = s.String("schedule");
        if (text is null or Triggered)
        {
            return null;
        }

        var schedule = PipelineSchedule.TryParse(text, out var error);
        if (schedule is null)
        {
            s.Report("schedule", error!);
        }

        return schedule;
    }

    public static TimeSpan? ReadTimeout(YamlScope s)
    {
        if (s.String("timeout") is not { } text)
        {
            return null;
        }

        if (text is "none" or "off")
        {
            return null;
        }

        var timeout = s.Duration("timeout", TimeSpan.Zero);
        if (timeout <= TimeSpan.Zero && Units.TryParseDuration(text, out _))
        {
            s.Report("timeout", $"'{text}' must be longer than zero (e.g. 30m), or 'none' for no limit");
        }

        return timeout > TimeSpan.Zero ? timeout : null;
    }
}
