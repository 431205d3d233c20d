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
