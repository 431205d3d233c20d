using System.Data.Common;
using System.Globalization;
using Intake.Tests.Shared;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace Intake.Engine.Tests.Cubic;

/// <summary>The ODS scenarios on the embedded default: SQLite catalog and warehouse.</summary>
public sealed class SqliteOdsTests : OdsScenarios
{
    protected override Task<(string Catalog, string Warehouse)> DatabasesAsync() =>
        Task.FromResult(("{ kind: sqlite, path: .intake/catalog.db }", "{ kind: sqlite, path: .intake/warehouse.db }"));

    protected override DbConnection OpenWarehouse() => new SqliteConnection($"Data Source={Path.Combine(Root, ".intake", "warehouse.db")};Pooling=False");

    protected override Task<List<string?[]>> QueryAsync(string sql) => OdsQuery.RowsAsync(OpenWarehouse(), sql);

    [Fact]
    public Task ChangeFileBeforeItsSnapshot_IsHeld_ThenReleasedByItself_AndApplied() => ChangeFileBeforeItsSnapshot_IsHeld_ThenReleasedByItself_AndAppliedAsync();

    [Fact]
    public Task NewLoadSeries_IsANewSnapshot_AndRebuildsTheCurrentTable() => NewLoadSeries_IsANewSnapshot_AndRebuildsTheCurrentTableAsync();

    [Fact]
    public Task HeldLoadWhoseSnapshotIsLoaded_IsReleasedByTheSweeper_ButAnOperatorsHoldIsNot() => HeldLoadWhoseSnapshotIsLoaded_IsReleasedByTheSweeper_ButAnOperatorsHoldIsNotAsync();
}

/// <summary>The ODS scenarios on PostgreSQL: catalog and warehouse.</summary>
public sealed class PostgresOdsTests : OdsScenarios
{
    private string _warehouse = "";

    protected override async Task<(string Catalog, string Warehouse)> DatabasesAsync()
    {
        var catalog = await TestPostgres.CreateDatabaseAsync("cat");
        _warehouse = await TestPostgres.CreateDatabaseAsync("wh");
        return ($"{{ kind: postgres, connection: \"{catalog}\" }}", $"{{ kind: postgres, connection: \"{_warehouse}\" }}");
    }

    protected override DbConnection OpenWarehouse() => new NpgsqlConnection(_warehouse);

    protected override Task<List<string?[]>> QueryAsync(string sql) => OdsQuery.RowsAsync(OpenWarehouse(), sql);

    [PostgresFact]
    public Task ChangeFileBeforeItsSnapshot_IsHeld_ThenReleasedByItself_AndApplied() => ChangeFileBeforeItsSnapshot_IsHeld_ThenReleasedByItself_AndAppliedAsync();

    [PostgresFact]
    public Task NewLoadSeries_IsANewSnapshot_AndRebuildsTheCurrentTable() => NewLoadSeries_IsANewSnapshot_AndRebuildsTheCurrentTableAsync();

    [PostgresFact]
    public Task HeldLoadWhoseSnapshotIsLoaded_IsReleasedByTheSweeper_ButAnOperatorsHoldIsNot() => HeldLoadWhoseSnapshotIsLoaded_IsReleasedByTheSweeper_ButAnOperatorsHoldIsNotAsync();
}

internal static class OdsQuery
{
    public static async Task<List<string?[]>> RowsAsync(DbConnection connection, string sql)
    {
        await using (connection)
        {
            await connection.OpenAsync();
            await using var command = connection.CreateCommand();
            command.CommandText = sql;
            await using var reader = await command.ExecuteReaderAsync();
            var rows = new List<string?[]>();
            while (await reader.ReadAsync())
            {
                rows.Add([.. Enumerable.Range(0, reader.FieldCount).Select(i => reader.IsDBNull(i) ? null : Convert.ToString(reader.GetValue(i), CultureInfo.InvariantCulture))]);
            }

            return rows;
        }
    }
}
