using Intake.Core.Errors;
using Intake.Warehouse.Postgres;
using Intake.Warehouse.Sqlite;

namespace Intake.Warehouse.Tests;

public sealed class WarehouseFactoryTests
{
    [Fact]
    public void Create_ForEachKind_ReturnsThatWarehouse()
    {
        WarehouseFactory.Create("local", "SQLite", Path.Combine(Path.GetTempPath(), "never-created.db")).ShouldBeOfType<SqliteWarehouse>().Name.ShouldBe("local");
        var postgres = WarehouseFactory.Create("dw", "postgres", "Host=127.0.0.1;Database=x").ShouldBeOfType<PostgresWarehouse>();
        postgres.Dispose();
    }

    [Fact]
    public void Create_WithUnknownKindOrBadConnectionString_FailsAsConfig()
    {
        Should.Throw<IntakeException>(() => WarehouseFactory.Create("dw", "oracle", "x")).Kind.ShouldBe(ErrorKind.Config);
        Should.Throw<IntakeException>(() => WarehouseFactory.Create("dw", "postgres", "Nonsense Key=1")).Kind.ShouldBe(ErrorKind.Config);
        Should.Throw<IntakeException>(() => WarehouseFactory.Create("dw", "sqlite", " ")).Kind.ShouldBe(ErrorKind.Config);
    }
}
