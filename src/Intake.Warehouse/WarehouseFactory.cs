using Intake.Core.Errors;
using Intake.Core.Ports;
using Intake.Warehouse.Postgres;
using Intake.Warehouse.Sqlite;

namespace Intake.Warehouse;

/// <summary>Builds a warehouse from its configuration entry (<c>kind: sqlite | postgres</c>), so hosts need not know the types.</summary>
public static class WarehouseFactory
{
    /// <param name="name">The warehouse's name in the configuration.</param>
    /// <param name="kind"><c>sqlite</c> or <c>postgres</c> (also <c>postgresql</c>), in any case.</param>
    /// <param name="connectionOrPath">The database file for SQLite; the connection string for PostgreSQL.</param>
    /// <param name="timeProvider">The clock for ledger rows; the system clock when null.</param>
    public static IWarehouse Create(string name, string kind, string connectionOrPath, TimeProvider? timeProvider = null)
    {
        if (string.IsNullOrWhiteSpace(connectionOrPath))
        {
            throw IntakeException.Config($"Warehouse '{name}': the {kind} connection (or path) is empty.");
        }

        return kind?.Trim().ToLowerInvariant() switch
        {
            "sqlite" => new SqliteWarehouse(name, connectionOrPath, timeProvider),
            "postgres" or "postgresql" => new PostgresWarehouse(name, connectionOrPath, timeProvider),
            _ => throw IntakeException.Config($"Warehouse '{name}': unknown kind '{kind}'; use 'sqlite' or 'postgres'."),
        };
    }
}
