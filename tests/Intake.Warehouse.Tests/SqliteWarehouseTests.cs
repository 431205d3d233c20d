using Intake.Core.Errors;
using Intake.Core.Ports;
using Intake.Tests.Shared;
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

    protected override Task ExecuteAsync(string sql) => Sql.ExecuteAsync(new SqliteConnection($"Data Source={DatabasePath}"), sql);

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
    public async Task ManyLoadsAtOnceFromOneProcess_WithAShortBusyTimeout_NoneFailsAsBusy_AndEachLoadsItsRowsOnce()
    {
        // A process's workers load into the same file at once. Each load's transaction holds the file's write lock, so the
        // others must wait; they queue in the process and none waits for the lock itself, however short its busy timeout.
        await using var warehouse = new SqliteWarehouse("wh", DatabasePath, Clock, busyTimeout: TimeSpan.FromSeconds(1));
        const int loads = 16, rows = 4000;
        var results = await Task.WhenAll(Enumerable.Range(1, loads).Select(id => Task.Run(() =>
            warehouse.LoadAsync(Request(Table, id, null), Sources(Rows($"f{id}.csv", rows)), default))));

        results.Select(r => r.RowsWritten).ShouldAllBe(n => n == rows);
        (await ScalarAsync<long>($"select count(*) from {Table}")).ShouldBe(loads * rows);
        (await ScalarAsync<long>($"select count(distinct {SqlIdentifier.LoadIdColumn}) from {Table}")).ShouldBe(loads);
        (await ScalarAsync<long>($"select count(*) from {SqlIdentifier.LedgerTable}")).ShouldBe(loads);
    }

    [Fact]
    public async Task Load_WhileAnotherLoadOfTheSameProcessHoldsTheFile_WaitsItsTurn_InsteadOfFailingAsBusy()
    {
        // Loads of one process queue for the file among themselves: a long load (here one whose input stalls) makes the
        // next one wait, not fail as busy after the busy timeout (which is for other processes' writers).
        var busyTimeout = TimeSpan.FromSeconds(1);
        await using var warehouse = new SqliteWarehouse("wh", DatabasePath, Clock, busyTimeout);
        await warehouse.LoadAsync(Request(Table, 1, null), Sources(Rows("a.csv", 3)), default); // the table exists
        using var stop = new CancellationTokenSource();
        var stalling = new StallingRowSource(Rows("long.csv", 5), stallAfter: 2);
        var first = warehouse.LoadAsync(Request(Table, 2, null), Sources(stalling), stop.Token);
        await stalling.Stalled.Task; // load 2's transaction holds the file's write lock

        var second = Task.Run(() => warehouse.LoadAsync(Request(Table, 3, null), Sources(Rows("b.csv", 4)), default));
        // Well past the busy timeout: a load waiting on SQLite's lock would have failed by now.
        (await Task.WhenAny(second, Task.Delay(busyTimeout * 4))).ShouldNotBe(second);

        await stop.CancelAsync(); // load 2 ends, rolled back
        await Should.ThrowAsync<OperationCanceledException>(() => first);
        (await second).RowsWritten.ShouldBe(4);
        (await RowsAsync($"select {SqlIdentifier.LoadIdColumn}, count(*) from {Table} group by 1 order by 1"))
            .Select(r => $"{r[0]}:{r[1]}").ShouldBe(["1:3", "3:4"]);
    }

    [Fact]
    public async Task LoadsAfterTheFirst_ParseNoStatementAgain()
    {
        await using var warehouse = new SqliteWarehouse("wh", DatabasePath, Clock);
        await warehouse.LoadAsync(Request(Table, 1, null), Sources(Rows("a.csv", 3)), default);
        await warehouse.LoadAsync(Request(Table, 2, null), Sources(Rows("b.csv", 3)), default);
        var prepared = warehouse.StatementsPrepared;
        for (var id = 3; id <= 12; id++)
        {
            await warehouse.LoadAsync(Request(Table, id, null), Sources(Rows($"f{id}.csv", 3)), default);
        }

        // The ledger check and row, the delete of an earlier attempt, the insert, the table's description: all reused.
        warehouse.StatementsPrepared.ShouldBe(prepared);
        (await ScalarAsync<long>($"select count(*) from {Table}")).ShouldBe(12 * 3);
    }

    [Fact]
    public async Task AfterDispose_NoFileOfTheWarehouseIsStillOpen()
    {
        var warehouse = new SqliteWarehouse("wh", DatabasePath, Clock);
        await warehouse.LoadAsync(Request(Table, 1, null), Sources(Rows("a.csv", 3)), default);
        OpenFiles.Under(_directory).ShouldNotBeEmpty(); // the writer's connection, kept for the next load
        await warehouse.DisposeAsync();
        OpenFiles.Under(_directory).ShouldBeEmpty();
    }

    [Fact]
    public async Task Load_WithDecimalBeyondDoublePrecision_KeepsEveryDigit()
    {
        await LoadAsync(1, [new("amount", ColumnType.Decimal)], ListRowSource.Of("d.csv", "amount", ["1234567890123456789.123456789"]));

        (await ScalarAsync<string>($"select amount from {Table}")).ShouldBe("1234567890123456789.123456789");
    }
}
