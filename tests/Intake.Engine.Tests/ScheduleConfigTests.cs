using Intake.Engine.Scheduling;

namespace Intake.Engine.Tests;

/// <summary>A pipeline's <c>schedule</c> (cron) and <c>timeout</c> keys.</summary>
public sealed class ScheduleConfigTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("intake-schedule-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private IntakeConfig Load(string extra)
    {
        File.WriteAllText(Path.Combine(_dir, "intake.yaml"), "catalog:\n  kind: sqlite\n");
        Directory.CreateDirectory(Path.Combine(_dir, "pipelines"));
        File.WriteAllText(Path.Combine(_dir, "pipelines", "sales.yaml"), $"""
            name: sales
            source:
              kind: local
              path: ../incoming
            steps: [fetch, archive]
            {extra}
            """);
        return ConfigLoader.Load(Path.Combine(_dir, "intake.yaml"));
    }

    [Fact]
    public void Load_ScheduleAndTimeout_AreRead()
    {
        var p = Load("schedule: \"0 7 * * *\"\ntimeout: 30m").Pipelines.ShouldHaveSingleItem();
        p.Schedule!.Expression.ShouldBe("0 7 * * *");
        p.Schedule.Next(new DateTimeOffset(2026, 3, 1, 7, 0, 0, TimeSpan.Zero)).ShouldBe(new DateTimeOffset(2026, 3, 2, 7, 0, 0, TimeSpan.Zero));
        p.Timeout.ShouldBe(TimeSpan.FromMinutes(30));
    }

    [Fact]
    public void Load_WithoutScheduleOrTimeout_HasNeither()
    {
        var p = Load("").Pipelines.ShouldHaveSingleItem();
        p.Schedule.ShouldBeNull();
        p.Timeout.ShouldBeNull();
    }

    [Fact]
    public void Load_InvalidScheduleAndTimeout_NameFileLineAndKey()
    {
        var e = Should.Throw<ConfigException>(() => Load("schedule: \"61 7 * * *\"\ntimeout: soon"));
        e.Errors.ShouldContain(x => x.File == Path.Combine("pipelines", "sales.yaml") && x.Line == 6 && x.Key == "schedule" && x.Reason.Contains("not a valid cron schedule"));
        e.Errors.ShouldContain(x => x.Line == 7 && x.Key == "timeout" && x.Reason.Contains("not a duration"));

        var fields = Should.Throw<ConfigException>(() => Load("schedule: \"daily\""));
        fields.Errors.ShouldHaveSingleItem().Reason.ShouldContain("has 1 fields; a cron schedule has 5");
    }

    [Theory]
    [InlineData("0 7 * * *", "2026-03-01T06:00:00Z", "2026-03-04T08:00:00Z", "2026-03-04T07:00:00Z")]
    [InlineData("*/2 * * * * *", "2026-03-01T07:00:00Z", "2026-03-01T07:00:05.500Z", "2026-03-01T07:00:04Z")]
    [InlineData("0 0 1 1 *", "2020-01-01T00:00:00Z", "2026-03-01T00:00:00Z", "2026-01-01T00:00:00Z")]
    public void Latest_GivesOnlyTheLatestMissedTick(string cron, string after, string upTo, string expected)
    {
        var schedule = PipelineSchedule.TryParse(cron, out _)!;
        schedule.Latest(DateTimeOffset.Parse(after, System.Globalization.CultureInfo.InvariantCulture), DateTimeOffset.Parse(upTo, System.Globalization.CultureInfo.InvariantCulture))
            .ShouldBe(DateTimeOffset.Parse(expected, System.Globalization.CultureInfo.InvariantCulture));
    }

    [Fact]
    public void Latest_WhenNoTickFallsInTheWindow_IsNull()
    {
        var schedule = PipelineSchedule.TryParse("0 7 * * *", out _)!;
        schedule.Latest(new DateTimeOffset(2026, 3, 1, 7, 0, 0, TimeSpan.Zero), new DateTimeOffset(2026, 3, 2, 6, 59, 59, TimeSpan.Zero)).ShouldBeNull();
    }
}
