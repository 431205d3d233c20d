using System.Data.Common;
using Microsoft.Data.Sqlite;

namespace Intake.Engine.Tests.Exports;

/// <summary>The spec's test cases against a SQLite source and a SQLite catalog.</summary>
public sealed class SqliteExportTests : ExportScenarios
{
    private string SourcePath => Path.Combine(Dir, "source.db");

    protected override Task<string> CreateSourceAsync() => Task.FromResult("{ kind: sqlite, path: ../source.db }");

    protected override Task<string> CatalogYamlAsync() => Task.FromResult("{ kind: sqlite, path: .intake/catalog.db }");

    protected override DbConnection OpenSource() => new SqliteConnection($"Data Source={SourcePath};Pooling=False");

    protected override string InfinityLiteral => "9e999";

    protected override string TimeType => "text";

    [Fact]
    public Task ExportLoad_NamesNoInboxKey() => ExportLoadNamesNoInboxKeyAsync();

    [Fact]
    public Task TwoDifferentRequestsOnOnePartitionAtOnce_TakeTurns_AndExportEachRowOnce() => ConcurrentRequestsOnOnePartitionAsync();

    [Fact]
    public Task Case1_DailyExport_UsesWatermarkWhenPresent_AndDefaultStartWhenAbsent() => Case1Async();

    [Fact]
    public Task Case2_InstantExport_UsesWatermarkWhenPresent_AndDefaultStartWhenAbsent() => Case2Async();

    [Fact]
    public Task Case3_HourlyExport_UsesWatermarkWhenPresent_AndDefaultStartWhenAbsent() => Case3Async();

    [Fact]
    public Task Case4_DailyExportIgnoringLastExportTime_UsesGivenStart_AndLeavesWatermarks() => Case4Async();

    [Fact]
    public Task Case5_HourlyExportIgnoringLastExportTime_UsesGivenStart_AndLeavesWatermarks() => Case5Async();

    [Fact]
    public Task Case6_RecordOverride_ExportsNamedRecords_AndLeavesWatermarks() => Case6Async();

    [Fact]
    public Task Case7_RedriveOfRecords_ExportsThemAfterTheDelay_AndLeavesWatermarks() => Case7RecordsAsync();

    [Fact]
    public Task Case7_RedriveOfPartitions_UsesTheirOriginalWindow_AndLeavesWatermarks() => Case7PartitionsAsync();

    [Fact]
    public Task Case8_EndBeforeWatermark_ExportsNothing_AndLeavesWatermark() => Case8Async();

    [Fact]
    public Task Case9_FailedExport_WritesNoWatermark_AndNextExportCoversTheGap() => Case9Async();

    [Fact]
    public Task IdenticalRequests_AtTheSameTime_ExportOnce() => IdenticalRequestsAsync();

    [Fact]
    public async Task ScheduledRun_QueuesTheDailyRequest_EndingAtTheStartOfTheDay_OncePerDay()
    {
        var first = await Intake.Engine.Exports.ExportRuns.RunAsync(Runtime, Pipeline, "schedule", () => { }, default);
        var again = await Intake.Engine.Exports.ExportRuns.RunAsync(Runtime, Pipeline, "schedule", () => { }, default);

        first.New.ShouldBe(1);
        again.New.ShouldBe(0);
        var request = (await Exports.ListExportRequestsAsync("bridge", null, 10, default)).ShouldHaveSingleItem();
        request.ExportType.ShouldBe("daily");
        request.End.ShouldBe(At("2026-03-10T00:00:00Z"));
    }

    [Fact]
    public void Config_UnknownKeyOrMissingColumn_IsReportedWithFileAndLine()
    {
        File.WriteAllText(Path.Combine(Dir, "pipelines", "broken.yaml"), """
            name: broken
            source:
              kind: database
              database: { kind: sqlite, path: ../source.db }
              table: records
              time_column: uploadedOn
              colour: red
            steps: [export]
            export: { format: parquet }
            """);

        var e = Should.Throw<ConfigException>(() => ConfigLoader.Load(Path.Combine(Dir, "intake.yaml")));

        e.Message.ShouldContain("pipelines/broken.yaml:7");
        e.Message.ShouldContain("source.colour");
        e.Message.ShouldContain("source.partition_column: is required");
        e.Message.ShouldContain("'parquet' is not an export format");
    }
}
