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
}
