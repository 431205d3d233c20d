using Intake.Core.Errors;
using Intake.Core.Ports;
using Intake.Tests.Shared;
using Intake.Warehouse.Postgres;
using Intake.Warehouse.Sqlite;
using Intake.Warehouse.Tests.Support;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace Intake.Warehouse.Tests;

/// <summary>
/// The warehouse's own tables (the ledger) come from versioned migrations recorded in <c>_intake_warehouse_migrations</c>.
/// Each test starts from an empty database of its own; the suite runs once per implementation.
/// </summary>
public abstract class WarehouseMigrationTests : IAsyncLifetime
{
    private readonly List<IAsyncDisposable> _opened = [];

    protected ManualTimeProvider Clock { get; } = new(new DateTimeOffset(2026, 3, 4, 5, 6, 7, TimeSpan.Zero));

    /// <summary>The statement that created the ledger before it was versioned, as Intake ran it until then.</summary>
    protected abstract string LedgerDdlBeforeMigrations { get; }

    /// <summary>A new warehouse object, remembering nothing, on this test's database.</summary>
    protected abstract IAsyncDisposable Create();

    protected abstract Task ExecuteAsync(string sql);

    protected abstract Task<T?> ScalarAsync<T>(string sql);

    public virtual Task InitializeAsync() => Task.CompletedTask;

    public virtual async Task DisposeAsync()
    {
        foreach (var warehouse in _opened)
        {
            await warehouse.DisposeAsync();
        }
    }

    [WarehouseFact]
    public async Task Load_IntoWarehouseWhoseLedgerPredatesMigrations_RecordsVersionAndKeepsTheLedger()
    {
        await ExecuteAsync(LedgerDdlBeforeMigrations);
        await ExecuteAsync("insert into _intake_ledger (load_id, step, attempt, table_name, rows_written, committed_at) values (5, 'load', 1, 'old', 10, '2026-01-02 03:04:05+00')");

        await LoadAsync(Open(), "fresh", 6);

        (await ScalarAsync<string>("select name from _intake_warehouse_migrations where version = 1")).ShouldBe("0001_ledger.sql");
        (await ScalarAsync<long>("select rows_written from _intake_ledger where load_id = 5 and table_name = 'old'")).ShouldBe(10);
        (await ScalarAsync<long>("select rows_written from _intake_ledger where load_id = 6 and table_name = 'fresh'")).ShouldBe(1);
    }

    [WarehouseFact]
    public async Task Load_FromSeveralWarehousesOnAnEmptyDatabaseAtOnce_RecordsEachVersionOnce()
    {
        // Four warehouse objects (as four processes would) migrate the same empty database at once.
        var warehouses = Enumerable.Range(0, 4).Select(_ => Open()).ToList();

        await Task.WhenAll(warehouses.Select((w, i) => Task.Run(() => LoadAsync(w, $"t{i}", i + 1))));

        (await ScalarAsync<long>("select count(*) from _intake_warehouse_migrations")).ShouldBe(3); // 0001_ledger, 0002_partitions, 0003_streamed
        (await ScalarAsync<long>("select count(*) from _intake_ledger")).ShouldBe(4);
    }

    [WarehouseFact]
    public async Task Load_WhenTheWarehouseHasANewerVersion_FailsAsConfigAndWritesNothing()
    {
        await LoadAsync(Open(), "before", 1);
        await ExecuteAsync("insert into _intake_warehouse_migrations (version, name, applied_at) values (999, '0999_future.sql', '2030-01-01 00:00:00+00')");

        var error = await Should.ThrowAsync<IntakeException>(() => LoadAsync(Open(), "after", 2));

        error.Kind.ShouldBe(ErrorKind.Config);
        error.Message.ShouldContain("warehouse 'wh' has schema version 999, newer than this Intake knows");
        (await ScalarAsync<long>("select count(*) from _intake_ledger where load_id = 2")).ShouldBe(0);
    }

    private IWarehouse Open()
    {
        var warehouse = Create();
        _opened.Add(warehouse);
        return (IWarehouse)warehouse;
    }

    private static Task<WarehouseLoadResult> LoadAsync(IWarehouse warehouse, string table, long loadId) =>
        warehouse.LoadAsync(new WarehouseLoadRequest { Table = table, LoadId = loadId, Step = "load" }, new IRowSource[] { ListRowSource.Of("a.csv", "id", ["1"]) }.ToAsyncEnumerable(), default);
}

public sealed class SqliteWarehouseMigrationTests : WarehouseMigrationTests
{
    private readonly string _directory = Directory.CreateTempSubdirectory("intake-whm-").FullName;

    private string ConnectionString => $"Data Source={Path.Combine(_directory, "warehouse.db")}";

    protected override string LedgerDdlBeforeMigrations => """
        CREATE TABLE IF NOT EXISTS _intake_ledger (
            load_id INTEGER NOT NULL,
            step TEXT NOT NULL,
            attempt INTEGER NOT NULL,
            table_name TEXT NOT NULL,
            rows_written INTEGER NOT NULL,
            committed_at TEXT NOT NULL,
            PRIMARY KEY (load_id, step, attempt, table_name))
        """;

    protected override IAsyncDisposable Create() => new SqliteWarehouse("wh", Path.Combine(_directory, "warehouse.db"), Clock);

    protected override Task ExecuteAsync(string sql) => Sql.ExecuteAsync(new SqliteConnection(ConnectionString), sql);

    protected override Task<T?> ScalarAsync<T>(string sql) where T : default => Sql.ScalarAsync<T>(new SqliteConnection(ConnectionString), sql);

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        SqliteConnection.ClearAllPools();
        Directory.Delete(_directory, recursive: true);
    }
}

[RequiresServer(typeof(PostgresFactAttribute))]
public sealed class PostgresWarehouseMigrationTests : WarehouseMigrationTests
{
    private string _connectionString = "";

    protected override string LedgerDdlBeforeMigrations => """
        create table if not exists _intake_ledger (
            load_id bigint not null,
            step text not null,
            attempt integer not null,
            table_name text not null,
            rows_written bigint not null,
            committed_at timestamptz not null,
            primary key (load_id, step, attempt, table_name))
        """;

    protected override IAsyncDisposable Create() => new PostgresWarehouse("wh", _connectionString, Clock);

    protected override Task ExecuteAsync(string sql) => Sql.ExecuteAsync(new NpgsqlConnection(_connectionString), sql);

    protected override Task<T?> ScalarAsync<T>(string sql) where T : default => Sql.ScalarAsync<T>(new NpgsqlConnection(_connectionString), sql);

    // A database of its own per test, created only where PostgreSQL answers (the tests are skipped otherwise).
    public override async Task InitializeAsync()
    {
        if (TestPostgres.IsReachable)
        {
            _connectionString = await TestPostgres.CreateDatabaseAsync("whm");
        }
    }
}
