using NCrontab;

namespace Intake.Engine.Scheduling;

/// <summary>
/// A pipeline's cron schedule, evaluated in UTC. Five fields (minute hour day month weekday, e.g.
/// <c>0 7 * * *</c>: every day at 07:00) or six with seconds first (<c>*/10 * * * * *</c>).
/// </summary>
public sealed class PipelineSchedule
{
    private readonly CrontabSchedule _cron;

    private PipelineSchedule(string expression, CrontabSchedule cron)
    {
        Expression = expression;
        _cron = cron;
    }

    public string Expression { get; }

    /// <summary>Parses the expression; returns null and a reason a user can act on when it is not valid.</summary>
    public static PipelineSchedule? TryParse(string expression, out string? error)
    {
        var text = expression.Trim();
        var fields = text.Split(' ', StringSplitOptions.RemoveEmptyEntries).Length;
        if (fields is not (5 or 6))
        {
            error = $"'{expression}' has {fields} fields; a cron schedule has 5 (minute hour day month weekday, e.g. \"0 7 * * *\") or 6 with seconds first";
            return null;
        }

        try
        {
            var cron = CrontabSchedule.Parse(text, new CrontabSchedule.ParseOptions { IncludingSeconds = fields == 6 });
            error = null;
            return new PipelineSchedule(text, cron);
        }
        catch (CrontabException e)
        {
            error = $"'{expression}' is not a valid cron schedule: {e.Message.Split(Environment.NewLine)[0]}";
            return null;
        }
    }

    /// <summary>The first run strictly after <paramref name="after"/>.</summary>
    public DateTimeOffset Next(DateTimeOffset after) =>
        new(DateTime.SpecifyKind(_cron.GetNextOccurrence(after.UtcDateTime), DateTimeKind.Utc));

    /// <summary>
    /// The latest run time in (<paramref name="after"/>, <paramref name="upTo"/>], or null when none falls in it.
    /// After a long downtime only this one is run: the ticks missed before it are not replayed.
    /// </summary>
    public DateTimeOffset? Latest(DateTimeOffset after, DateTimeOffset upTo)
    {
        if (upTo <= after)
        {
            return null;
        }

        // Look back in doubling windows from upTo, so a per-second schedule after a week of downtime does not
        // enumerate every missed second: the first window that holds a run gives the latest one.
        var window = TimeSpan.FromMinutes(1);
        while (true)
        {
            var from = upTo - window;
            if (from < after)
            {
                from = after;
            }

            DateTime? last = null;
            foreach (var t in _cron.GetNextOccurrences(from.UtcDateTime, upTo.UtcDateTime.AddTicks(1)))
            {
                last = t;
            }

            if (last is { } found)
            {
                return new DateTimeOffset(DateTime.SpecifyKind(found, DateTimeKind.Utc));
            }

            if (from == after)
            {
                return null;
            }

            window += window;
        }
    }

    public override string ToString() => Expression;
}
