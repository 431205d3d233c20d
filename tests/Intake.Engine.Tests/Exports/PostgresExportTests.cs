using System.Data.Common;
using Intake.Tests.Shared;
using Npgsql;

namespace Intake.Engine.Tests.Exports;

/// <summary>The spec's test cases against a PostgreSQL source (timestamptz times) and a PostgreSQL catalog.</summary>
public sealed class PostgresExportTests : ExportScenarios
{
    private string _source = "";

    protected override async Task<string> CreateSourceAsync()
    {
        _source = TestPostgres.IsReachable ? await TestPostgres.CreateDatabaseAsync("src") : "Host=127.0.0.1;Port=1;Database=none";
        return $"{{ kind: postgres, connection: \"{_source}\" }}";
    }

    protected override async Task<string> CatalogYamlAsync() =>
        TestPostgres.IsReachable ? $"{{ kind: postgres, connection: \"{await TestPostgres.CreateDatabaseAsync("cat")}\" }}" : "{ kind: sqlite, path: .intake/catalog.db }";

    protected override DbConnection OpenSource() => new NpgsqlConnection(_source);

    protected override string InfinityLiteral => "'Infinity'";

    protected override string TimeType => "timestamptz";

    [PostgresFact]
    public Task ExportLoad_NamesNoInboxKey() => ExportLoadNamesNoInboxKeyAsync();

    [PostgresFact]
    public Task TwoDifferentRequestsOnOnePartitionAtOnce_TakeTurns_AndExportEachRowOnce() => ConcurrentRequestsOnOnePartitionAsync();

    [PostgresFact]
    public Task Case1_DailyExport_UsesWatermarkWhenPresent_AndDefaultStartWhenAbsent() => Case1Async();

    [PostgresFact]
    public Task Case2_InstantExport_UsesWatermarkWhenPresent_AndDefaultStartWhenAbsent() => Case2Async();

    [PostgresFact]
    public Task Case3_HourlyExport_UsesWatermarkWhenPresent_AndDefaultStartWhenAbsent() => Case3Async();

    [PostgresFact]
    public Task Case4_DailyExportIgnoringLastExportTime_UsesGivenStart_AndLeavesWatermarks() => Case4Async();

    [PostgresFact]
    public Task Case5_HourlyExportIgnoringLastExportTime_UsesGivenStart_AndLeavesWatermarks() => Case5Async();

    [PostgresFact]
    public Task Case6_RecordOverride_ExportsNamedRecords_AndLeavesWatermarks() => Case6Async();

    [PostgresFact]
    public Task Case7_RedriveOfRecords_ExportsThemAfterTheDelay_AndLeavesWatermarks() => Case7RecordsAsync();

    [PostgresFact]
    public Task Case7_RedriveOfPartitions_UsesTheirOriginalWindow_AndLeavesWatermarks() => Case7PartitionsAsync();

    [PostgresFact]
    public Task Case8_EndBeforeWatermark_ExportsNothing_AndLeavesWatermark() => Case8Async();

    [PostgresFact]
    public Task Case9_FailedExport_WritesNoWatermark_AndNextExportCoversTheGap() => Case9Async();

    [PostgresFact]
    public Task IdenticalRequests_AtTheSameTime_ExportOnce() => IdenticalRequestsAsync();
}
