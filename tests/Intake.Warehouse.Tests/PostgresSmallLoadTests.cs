using Intake.Core.Errors;
using Intake.Core.Ports;
using Intake.Tests.Shared;
using Intake.Warehouse.Postgres;
using Intake.Warehouse.Tests.Support;
using Npgsql;

namespace Intake.Warehouse.Tests;

/// <summary>
/// Every warehouse compliance test again, each load asking to be committed with other small loads
/// (<see cref="WarehouseLoadRequest.Small"/>): a table's first load goes alone and creates it, every later one is encoded
/// before any round trip and committed through the groups. A small load must behave as any other.
/// </summary>
[RequiresServer(typeof(PostgresFactAttribute))]
public sealed class PostgresSmallLoadComplianceTests(PostgresDatabaseFixture database) : WarehouseComplianceTests, IClassFixture<PostgresDatabaseFixture>
{
    private string _connectionString = "";

    protected override async Task<IWarehouse> CreateWarehouseAsync(TimeProvider clock)
    {
        _connectionString = await database.ConnectionStringAsync();
        return new SmallLoads(new PostgresWarehouse("wh", _connectionString, clock));
    }

    protected override Task<List<string?[]>> RowsAsync(string sql) => Sql.RowsAsync(new NpgsqlConnection(_connectionString), sql);

    protected override Task<T?> ScalarAsync<T>(string sql) where T : default => Sql.ScalarAsync<T>(new NpgsqlConnection(_connectionString), sql);

    protected override Task ExecuteAsync(string sql) => Sql.ExecuteAsync(new NpgsqlConnection(_connectionString), sql);

    /// <summary>
    /// A small load encodes its rows for the table as this process last saw it, before any round trip; the table dropped
    /// since is found only at the commit. That load fails as transient, naming the table (its step is retried, as the
    /// worker retries any transient failure), and its retry creates the table again.
    /// </summary>
    [PostgresFact]
    public override async Task Load_AfterTheTableWasDroppedSinceTheLastLoad_CreatesItAgain()
    {
        await LoadAsync(1, null, Rows("first.csv", 3));
        await LoadAsync(2, null, Rows("second.csv", 2));
        await ExecuteAsync($"drop table {Table}");

        var e = await Should.ThrowAsync<IntakeException>(() => LoadAsync(3, null, Rows("third.csv", 4)));
        e.Kind.ShouldBe(ErrorKind.Transient);
        e.Message.ShouldContain($"Table '{Table}' changed");

        (await LoadAsync(3, null, Rows("third.csv", 4))).ShouldBe(new WarehouseLoadResult(4, 4, 0));
        (await ScalarAsync<long>($"select count(*) from {Table}")).ShouldBe(4);
        (await LoadAsync(3, null, Rows("third.csv", 5), attempt: 2)).ShouldBe(new WarehouseLoadResult(5, 5, 4));
        (await ScalarAsync<long>($"select count(*) from {Table}")).ShouldBe(5);
    }

    /// <summary>The warehouse, with every load marked small.</summary>
    private sealed class SmallLoads(PostgresWarehouse inner) : IWarehouse, IAsyncDisposable
    {
        public string Name => inner.Name;

        public Task<WarehouseLoadResult> LoadAsync(WarehouseLoadRequest request, IAsyncEnumerable<IRowSource> sources, CancellationToken cancellationToken) =>
            inner.LoadAsync(request with { Small = true }, sources, cancellationToken);

        public Task<WarehouseMergeResult> MergeAsync(WarehouseMergeRequest request, CancellationToken cancellationToken) => inner.MergeAsync(request, cancellationToken);

        public Task<WarehouseChangeResult> ApplyChangesAsync(WarehouseChangeRequest request, CancellationToken cancellationToken) => inner.ApplyChangesAsync(request, cancellationToken);

        public Task<IReadOnlyList<WarehouseTableResult>> WriteTablesAsync(WarehouseTablesRequest request, CancellationToken cancellationToken) => inner.WriteTablesAsync(request, cancellationToken);

        public Task<long> CountRowsAsync(string table, long loadId, CancellationToken cancellationToken) => inner.CountRowsAsync(table, loadId, cancellationToken);

        public Task<ReplacedRows?> GetReplacedAsync(string table, long loadId, CancellationToken cancellationToken) => inner.GetReplacedAsync(table, loadId, cancellationToken);

        public ValueTask DisposeAsync() => inner.DisposeAsync();
    }
}

/// <summary>What committing small loads together adds: one transaction for a group, each load still whole or absent.</summary>
[RequiresServer(typeof(PostgresFactAttribute))]
public sealed class PostgresLoadGroupTests(PostgresDatabaseFixture database) : IClassFixture<PostgresDatabaseFixture>, IAsyncLifetime
{
    private readonly string _table = "g_" + Guid.NewGuid().ToString("N")[..12];
    private string _connectionString = "";
    private PostgresWarehouse? _warehouse;

    private PostgresWarehouse Warehouse => _warehouse!;

    public async Task InitializeAsync()
    {
        _connectionString = await database.ConnectionStringAsync();
        _warehouse = new PostgresWarehouse("wh", _connectionString);
    }

    public async Task DisposeAsync() => await Warehouse.DisposeAsync();

    [PostgresFact]
    public async Task SmallLoads_HandedOverWhileAGroupCommits_GoInTheNextGroupInOneTransaction_EachWithItsRowsAndLedgerRow()
    {
        await LoadAsync(1, Rows(1, 3)); // creates the table: a load alone
        await LoadAsync(7, Rows(900, 1)); // a load alone too: the first to see the table this process created
        var loads = await WhileTheTableIsLockedAsync(() => [.. Enumerable.Range(2, 5).Select(id => LoadAsync(id, Rows(id * 100, id)))], 5);

        var results = await Task.WhenAll(loads);

        results.Select(r => r.RowsWritten).ShouldBe([2L, 3, 4, 5, 6]);
        Warehouse.Groups.GroupsCommitted.ShouldBe(1); // the first load went alone (it found no group under way), the other four together
        Warehouse.Groups.LoadsCommittedInGroups.ShouldBe(4);
        (await ScalarAsync<long>($"select count(distinct xmin::text) from {_table} where _intake_load_id between 3 and 6")).ShouldBe(1);
        for (var id = 2; id <= 6; id++)
        {
            (await Warehouse.CountRowsAsync(_table, id, default)).ShouldBe(id);
            (await ScalarAsync<long>($"select rows_written from _intake_ledger where load_id = {id} and table_name = '{_table}'")).ShouldBe(id);
        }
    }

    [PostgresFact]
    public async Task SmallLoads_OneOfAGroupBreaksAUniqueIndex_OnlyThatLoadFails_TheOthersCommit()
    {
        await LoadAsync(1, Rows(1, 3));
        await LoadAsync(6, Rows(900, 1));
        await ExecuteAsync($"create unique index on {_table} (id)");
        var loads = await WhileTheTableIsLockedAsync(() =>
        [
            LoadAsync(2, Rows(100, 2)),
            LoadAsync(3, Rows(200, 2)),
            LoadAsync(4, Rows(2, 2)), // ids 2 and 3: load 1's
            LoadAsync(5, Rows(300, 2)),
        ], 4);

        var failed = await Should.ThrowAsync<IntakeException>(() => loads[2]);

        failed.Kind.ShouldBe(ErrorKind.Schema);
        failed.Message.ShouldContain("23505");
        (await Task.WhenAll(loads[0], loads[1], loads[3])).Select(r => r.RowsWritten).ShouldBe([2L, 2, 2]);
        (await ScalarAsync<long>($"select count(*) from {_table} where _intake_load_id = 4")).ShouldBe(0);
        (await ScalarAsync<long>($"select count(*) from _intake_ledger where load_id = 4 and table_name = '{_table}'")).ShouldBe(0);
        (await ScalarAsync<long>($"select count(*) from {_table}")).ShouldBe(10);
    }

    [PostgresFact]
    public async Task SmallLoad_RunAgainAfterItsRowsCommitted_ReplacesThem()
    {
        await LoadAsync(1, Rows(1, 3));
        await LoadAsync(2, Rows(10, 4));

        // Killed between the warehouse's commit and the catalog's: no step record, so the same attempt number again.
        var again = await LoadAsync(2, Rows(10, 5));

        again.ShouldBe(new WarehouseLoadResult(5, 5, 4));
        (await Warehouse.CountRowsAsync(_table, 2, default)).ShouldBe(5);
    }

    [PostgresFact]
    public async Task SmallLoad_WhoseRowsOutgrowTheBuffer_StreamsTheRestInATransactionOfItsOwn()
    {
        await LoadAsync(1, Rows(1, 3));
        Warehouse.Groups.MaxBufferedBytes = 2_000;

        var result = await LoadAsync(2, Rows(1_000, 300), Rows(5_000, 200));

        result.ShouldBe(new WarehouseLoadResult(500, 500, 0));
        (await ScalarAsync<long>($"select count(distinct id) from {_table} where _intake_load_id = 2")).ShouldBe(500);
        (await ScalarAsync<long>($"select rows_written from _intake_ledger where load_id = 2 and table_name = '{_table}'")).ShouldBe(500);
    }

    [PostgresFact]
    public async Task SmallLoad_AfterAColumnWasAddedThatItsFileWrites_ReadsTheTableAnew()
    {
        await LoadAsync(1, Rows(1, 3));
        await ExecuteAsync($"alter table {_table} add column zip text");

        await LoadAsync(2, ListRowSource.Of("zip.csv", "id,name,zip", ["7", "ann", "007"]));

        (await ScalarAsync<string>($"select zip from {_table} where _intake_load_id = 2")).ShouldBe("007");
    }

    [PostgresFact]
    public async Task SmallLoads_IntoATableThisProcessHasNotSeen_OneGoesFirst_TheOthersWaitForItInsteadOfEachOpeningASession()
    {
        // A warehouse of its own, whose pooled connections are told apart by their name (a session names itself only
        // for its transaction; idle in the pool it shows the connection string's name).
        var name = "intake-first-" + Guid.NewGuid().ToString("N")[..8];
        await using var warehouse = new PostgresWarehouse("wh", new NpgsqlConnectionStringBuilder(_connectionString) { ApplicationName = name }.ConnectionString);

        var results = await Task.WhenAll(Enumerable.Range(1, 12).Select(id => Task.Run(() =>
            warehouse.LoadAsync(new WarehouseLoadRequest { Table = _table, LoadId = id, Step = "load", Small = true }, new[] { (IRowSource)Rows(id * 100, 3) }.ToAsyncEnumerable(), default))));

        results.ShouldAllBe(r => r.RowsWritten == 3);
        (await ScalarAsync<long>($"select count(*) from {_table}")).ShouldBe(36);
        // Twelve loads each alone would have opened twelve connections at once (and queued on the schema lock to create
        // the table); one first, then the others in groups, need a few.
        (await ScalarAsync<long>($"select count(*) from pg_stat_activity where application_name = '{name}'")).ShouldBeLessThanOrEqualTo(4);
        warehouse.Groups.LoadsCommittedInGroups.ShouldBeGreaterThan(0);
    }

    [PostgresFact]
    public async Task Merges_OfOneProcess_WaitTheirTurnWithoutAConnection_WhileAnotherHoldsTheDatabasesMergeLock()
    {
        // Load ids of this test alone: other tests' sessions run beside it on the same server.
        // A merge's session names itself before it asks for the lock: "intake load N attempt 1 merge".
        await using var warehouse = new PostgresWarehouse("wh", _connectionString);
        for (var id = 950_001; id <= 950_005; id++)
        {
            await warehouse.LoadAsync(new WarehouseLoadRequest { Table = _table, LoadId = id, Step = "load" }, new[] { (IRowSource)Rows(id % 1000 * 10, 2) }.ToAsyncEnumerable(), default);
        }

        // Another process's merge (or table creation) holds the lock merges take: the first merge of this process waits
        // for it on the server, the other four wait in the process.
        await using var held = await HoldTheSchemaLockAsync();

        var target = _table + "_app";
        var merges = Enumerable.Range(950_001, 5).Select(id => warehouse.MergeAsync(new WarehouseMergeRequest
        {
            StagingTable = _table, LoadId = id, TargetTable = target, KeyColumns = ["id"], Step = "merge",
            SetupSql = $"create table if not exists {target} (id text primary key, name text)",
        }, default)).ToList();
        var connections = await SessionsOnceOneWaitsAsync("intake load 95000_ attempt 1 merge");
        await held.CloseAsync();

        (await Task.WhenAll(merges)).ShouldAllBe(r => r.RowsInStaging == 2);
        connections.ShouldBe(1);
        (await ScalarAsync<long>($"select count(*) from {target}")).ShouldBe(10);
    }

    [PostgresFact]
    public async Task FirstLoadsOfAProcess_ShareOneCheckOfTheWarehousesMigrations_TheOthersWaitWithoutAConnection()
    {
        // Load ids of this test alone: other tests' sessions run beside it on the same server.
        // A new warehouse object checks the warehouse's own migrations before its first load, under the lock merges and
        // table creations take; held here by another session, so every load of this process waits for that check.
        await using var warehouse = new PostgresWarehouse("wh", _connectionString);
        await using var held = await HoldTheSchemaLockAsync();

        var loads = Enumerable.Range(940_001, 5).Select(id => warehouse.LoadAsync(
            new WarehouseLoadRequest { Table = _table, LoadId = id, Step = "load" }, new[] { (IRowSource)Rows(id % 1000 * 10, 2) }.ToAsyncEnumerable(), default)).ToList();
        var connections = await SessionsOnceOneWaitsAsync("intake load 94000_ attempt 1 load");
        await held.CloseAsync();

        (await Task.WhenAll(loads)).ShouldAllBe(r => r.RowsWritten == 2);
        connections.ShouldBe(1);
    }

    /// <summary>A connection of the test's own, in a transaction holding the lock merges, migrations and table creations take; closing it lets go.</summary>
    private async Task<NpgsqlConnection> HoldTheSchemaLockAsync()
    {
        var connection = new NpgsqlConnection(_connectionString);
        await connection.OpenAsync();
        var transaction = await connection.BeginTransactionAsync();
        await using (var lockAll = new NpgsqlCommand("select pg_advisory_xact_lock(x'496E74616B6501'::bigint)", connection, transaction))
        {
            await lockAll.ExecuteNonQueryAsync();
        }

        return connection;
    }

    /// <summary>The sessions named like <paramref name="name"/> (a LIKE pattern) once one of them waits on a lock, and a moment more.</summary>
    private async Task<long> SessionsOnceOneWaitsAsync(string name)
    {
        var waited = System.Diagnostics.Stopwatch.StartNew();
        while (await ScalarAsync<long>($"select count(*) from pg_stat_activity where application_name like '{name}' and wait_event_type = 'Lock'") == 0
               && waited.Elapsed < TimeSpan.FromSeconds(20))
        {
            await Task.Delay(20);
        }

        await Task.Delay(300); // time enough for the others to connect, had they not waited in the process
        return await ScalarAsync<long>($"select count(*) from pg_stat_activity where application_name like '{name}'");
    }

    /// <summary>Starts the loads while a test transaction keeps the table's COPY waiting, and lets go once all are handed over.</summary>
    private async Task<Task<WarehouseLoadResult>[]> WhileTheTableIsLockedAsync(Func<Task<WarehouseLoadResult>[]> start, int handedOver)
    {
        await using var connection = new NpgsqlConnection(_connectionString);
        await connection.OpenAsync();
        await using var transaction = await connection.BeginTransactionAsync();
        await using (var command = new NpgsqlCommand($"lock table {_table} in share mode", connection, transaction))
        {
            await command.ExecuteNonQueryAsync();
        }

        var loads = start();
        var waited = System.Diagnostics.Stopwatch.StartNew();
        while (Warehouse.Groups.Waiting < handedOver && waited.Elapsed < TimeSpan.FromSeconds(20))
        {
            await Task.Delay(10);
        }

        Warehouse.Groups.Waiting.ShouldBe(handedOver);
        await transaction.RollbackAsync();
        return loads;
    }

    private Task<WarehouseLoadResult> LoadAsync(long loadId, params IRowSource[] sources) =>
        Warehouse.LoadAsync(new WarehouseLoadRequest { Table = _table, LoadId = loadId, Step = "load", Small = true }, sources.ToAsyncEnumerable(), default);

    private static ListRowSource Rows(int from, int count) =>
        new($"{from}.csv", ["id", "name"], Enumerable.Range(from, count).Select(i => new string?[] { i.ToString(System.Globalization.CultureInfo.InvariantCulture), $"n{i}" }));

    private Task<T?> ScalarAsync<T>(string sql) => Sql.ScalarAsync<T>(new NpgsqlConnection(_connectionString), sql);

    private Task ExecuteAsync(string sql) => Sql.ExecuteAsync(new NpgsqlConnection(_connectionString), sql);
}
