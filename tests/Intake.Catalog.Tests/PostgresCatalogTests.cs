using Intake.Tests.Shared;
using Npgsql;

namespace Intake.Catalog.Tests;

/// <summary>The compliance suite on a fresh PostgreSQL database per test (skipped locally without a server, never in CI).</summary>
[RequiresServer(typeof(PostgresFactAttribute))]
public sealed class PostgresCatalogTests : CatalogComplianceTests
{
    private string _connectionString = "";

    protected override async Task CreateDatabaseAsync() => _connectionString = await TestPostgres.CreateDatabaseAsync("catalog");

    protected override SqlCatalog OpenCatalog(TimeProvider time) => new PostgresCatalog(_connectionString, time);

    protected override async Task DropDatabaseAsync()
    {
        var database = new NpgsqlConnectionStringBuilder(_connectionString).Database;
        await using var connection = new NpgsqlConnection(TestPostgres.ServerConnectionString);
        await connection.OpenAsync();
        await using var drop = new NpgsqlCommand($"DROP DATABASE IF EXISTS \"{database}\" WITH (FORCE)", connection);
        await drop.ExecuteNonQueryAsync();
    }
}

/// <summary>How the PostgreSQL catalog sets up its connections (no server needed: the settings only).</summary>
public sealed class PostgresCatalogSettingsTests
{
    [Fact]
    public async Task Connections_PrepareTheCatalogsStatements_UnlessTheConnectionStringSaysOtherwise()
    {
        await using var catalog = new PostgresCatalog("Host=127.0.0.1;Database=intake;Username=intake", TimeProvider.System);
        foreach (var relaxed in new[] { false, true })
        {
            catalog.Settings(relaxed).MaxAutoPrepare.ShouldBe(PostgresCatalog.AutoPreparedStatements);
            catalog.Settings(relaxed).AutoPrepareMinUsages.ShouldBe(2);
        }

        await using var off = new PostgresCatalog("Host=127.0.0.1;Database=intake;Username=intake;Max Auto Prepare=0", TimeProvider.System);
        off.Settings(relaxed: true).MaxAutoPrepare.ShouldBe(0);
        await using var own = new PostgresCatalog("Host=127.0.0.1;Database=intake;Username=intake;Auto Prepare Min Usages=7", TimeProvider.System);
        own.Settings(relaxed: false).AutoPrepareMinUsages.ShouldBe(7);
        own.Settings(relaxed: false).MaxAutoPrepare.ShouldBe(PostgresCatalog.AutoPreparedStatements);
    }
}
