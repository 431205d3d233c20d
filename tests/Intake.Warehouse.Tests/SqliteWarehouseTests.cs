using Intake.Core.Errors;
using Intake.Core.Ports;
using Intake.Warehouse.Sqlite;
using Intake.Warehouse.Tests.Support;
using Microsoft.Data.Sqlite;

namespace Intake.Warehouse.Tests;

public sealed class SqliteWarehouseTests : WarehouseComplianceTests
{
    private readonly string _directory = Directory.CreateTempSubdirectory("intake-wh-").FullName;

    private string DatabasePath => Path.Combine(_directory, "sub", "warehouse.db");

    protected override Task<IWarehouse> CreateWarehouseAsync(TimeProvider clock) =>
        Task.FromResult<IWarehouse>(new SqliteWarehouse("wh", DatabasePath, clock));

    protected override Task<List<string?[]>> RowsAsync(string sql) => Sql.RowsAsync(new SqliteConnection($"Data Source={DatabasePath}"), sql);

    protected override Task<T?> ScalarAsync<T>(string sql) where T : default => Sql.ScalarAsync<T>(new SqliteConnection($"Data Source={DatabasePath}"), sql);

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        SqliteConnection.ClearAllPools();
        Directory.Delete(_directory, recursive: true);
    }

    [Fact]
    public async Task Load_WhenAnotherWriterHoldsTheDatabase_FailsAsTransient()
    {
        await LoadAsync(1, null, Rows("a.csv", 1));
        var warehouse = new SqliteWarehouse("wh", DatabasePath, Clock, busyTimeout: TimeSpan.FromSeconds(1));
        await using var other = new SqliteConnection($"Data Source={DatabasePath}");
        await other.OpenAsync();
        await using var lockTransaction = other.BeginTransaction(deferred: false);

        var error = await Should.ThrowAsync<IntakeException>(() =>
            warehouse.LoadAsync(Request(Table, 2, null), Sources(Rows("b.csv", 1)), default));

        error.Kind.ShouldBe(ErrorKind.Transient);
    }

    [Fact]
    public async Task Load_WithDecimalBeyondDoublePrecision_KeepsEveryDigit()
    {
        await LoadAsync(1, [new("amount", ColumnType.Decimal)], ListRowSource.Of("d.csv", "amount", ["1234567890123456789.123456789"]));

        (await ScalarAsync<string>($"select amount from {Table}")).ShouldBe("1234567890123456789.123456789");
    }
}
