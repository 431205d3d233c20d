using Intake.Core.Errors;
using Intake.Core.Ports;
using Intake.Tests.Shared;
using Intake.Warehouse.Postgres;
using Intake.Warehouse.Tests.Support;
using Npgsql;

namespace Intake.Warehouse.Tests;

/// <summary>One database for the whole class, created on first use (never when every test is skipped).</summary>
public sealed class PostgresDatabaseFixture
{
    private readonly Lazy<Task<string>> _database = new(() => TestPostgres.CreateDatabaseAsync("wh"));

    public Task<string> ConnectionStringAsync() => _database.Value;
}

[RequiresServer(typeof(PostgresFactAttribute))]
public sealed class PostgresWarehouseTests(PostgresDatabaseFixture database) : WarehouseComplianceTests, IClassFixture<PostgresDatabaseFixture>
{
    private string _connectionString = "";

    protected override async Task<IWarehouse> CreateWarehouseAsync(TimeProvider clock)
    {
        _connectionString = await database.ConnectionStringAsync();
        return new PostgresWarehouse("wh", _connectionString, clock);
    }

    protected override Task<List<string?[]>> RowsAsync(string sql) => Sql.RowsAsync(new NpgsqlConnection(_connectionString), sql);

    protected override Task<T?> ScalarAsync<T>(string sql) where T : default => Sql.ScalarAsync<T>(new NpgsqlConnection(_connectionString), sql);

    protected override Task ExecuteAsync(string sql) => Sql.ExecuteAsync(new NpgsqlConnection(_connectionString), sql);

    [PostgresTheory]
    [InlineData("0")]
    [InlineData("0.00")]
    [InlineData("-1.5")]
    [InlineData("-0.5")]
    [InlineData("0.0001")]
    [InlineData("0.00000001")]
    [InlineData("10000")]
    [InlineData("12345678.9")]
    [InlineData("100000000.0001")]
    [InlineData("1234567890123456789.123456789")]
    [InlineData("79228162514264337593543950335")]
    [InlineData("-79228162514264337593543950335")]
    public async Task Load_Decimal_IsEncodedExactlyInBinaryCopy(string value)
    {
        await LoadAsync(1, [new("amount", ColumnType.Decimal)], ListRowSource.Of("d.csv", "amount", [value]));

        (await ScalarAsync<string>($"select amount::text from {Table}")).ShouldBe(value);
    }

    [PostgresTheory]
    [InlineData("0.00", "0.00")]
    [InlineData("-0.00", "0.00")]
    [InlineData("007.50", "7.50")]
    [InlineData("-0.0000000000000000000000000001", "-0.0000000000000000000000000001")]
    [InlineData("9999999999999999999999999999", "9999999999999999999999999999")]
    [InlineData("1e3", "1000")]
    [InlineData(" 12.5 ", "12.5")]
    public async Task Load_Decimal_InAnyAcceptedFormStoresItsValueAndScale(string value, string stored)
    {
        await LoadAsync(1, [new("amount", ColumnType.Decimal)], ListRowSource.Of("d.csv", "amount", [value]));

        (await ScalarAsync<string>($"select amount::text from {Table}")).ShouldBe(stored);
    }

    [PostgresTheory]
    [InlineData("2024-01-02 03:04:05", "2024-01-02 03:04:05", "2024-01-02 03:04:05+00")]
    [InlineData("2024-01-02T03:04:05.123456", "2024-01-02 03:04:05.123456", "2024-01-02 03:04:05.123456+00")]
    [InlineData("2024-01-02 03:04:05.1", "2024-01-02 03:04:05.1", "2024-01-02 03:04:05.1+00")]
    [InlineData("1999-12-31 23:59:59.999999Z", "1999-12-31 23:59:59.999999", "1999-12-31 23:59:59.999999+00")]
    [InlineData("1969-07-20 20:17:40", "1969-07-20 20:17:40", "1969-07-20 20:17:40+00")]
    [InlineData("2024-01-02 03:04:05+02:00", "2024-01-02 01:04:05", "2024-01-02 01:04:05+00")]
    [InlineData("2024-01-02T03:04:05.5-05:30", "2024-01-02 08:34:05.5", "2024-01-02 08:34:05.5+00")]
    public async Task Load_Timestamp_StoresTheInstantWritten(string value, string timestamp, string timestampTz)
    {
        await LoadAsync(1, [new("at", ColumnType.Timestamp), new("at_tz", ColumnType.TimestampTz)], ListRowSource.Of("t.csv", "at,at_tz", [value, value]));

        (await ScalarAsync<string>($"select at::text from {Table}")).ShouldBe(timestamp);
        (await ScalarAsync<string>($"select (at_tz at time zone 'UTC')::text || '+00' from {Table}")).ShouldBe(timestampTz);
    }

    [PostgresTheory]
    [InlineData("0.1", "0.1")]
    [InlineData("-0.5", "-0.5")]
    [InlineData("123.456", "123.456")]
    [InlineData("0.123456789012345", "0.123456789012345")]
    [InlineData("1e-3", "0.001")]
    public async Task Load_Double_StoresTheNearestDouble(string value, string stored)
    {
        await LoadAsync(1, [new("ratio", ColumnType.Double)], ListRowSource.Of("r.csv", "ratio", [value]));

        (await ScalarAsync<string>($"select ratio::text from {Table}")).ShouldBe(stored);
    }

    [PostgresFact]
    public async Task Load_FirstAttemptOfALoad_DoesNotReadTheRowsAlreadyInTheTable()
    {
        // Load ids no other test of this class uses: the ledger is shared by the class's database, and any ledger row
        // of a load (in any table) makes its next attempt look for earlier rows.
        const long first = 910_001, second = 910_002;
        await LoadAsync(first, null, Rows("first.csv", 500));
        var before = await TableReadsAfterAsync(inserted: 500);

        var result = await LoadAsync(second, null, Rows("second.csv", 3));

        result.RowsDeletedFromEarlierAttempts.ShouldBe(0);
        // A scan for the load's earlier rows would read the 500 rows of the first load (its BRIN index is of no use
        // on a table this small): a first attempt, with no ledger row of the load anywhere, reads none.
        (await TableReadsAfterAsync(inserted: 503)).ShouldBe(before);

        // A second attempt has a ledger row: it still finds and replaces the first one's rows.
        var rerun = await LoadAsync(second, null, Rows("second.csv", 4), attempt: 2);
        rerun.RowsDeletedFromEarlierAttempts.ShouldBe(3);
        (await Warehouse.CountRowsAsync(Table, second, default)).ShouldBe(4);
    }

    /// <summary>
    /// The rows the server has read from the table by scans, once the statistics show <paramref name="inserted"/> rows
    /// inserted: a backend reports its counts some time after its transaction, scans and inserts together.
    /// </summary>
    private async Task<long> TableReadsAfterAsync(long inserted)
    {
        // Up to 30 s: an idle backend reports its counts within 10 s of its last transaction.
        for (var wait = 0; ; wait++)
        {
            var row = (await RowsAsync($"select n_tup_ins, seq_tup_read + coalesce(idx_tup_fetch, 0) from pg_stat_user_tables where relid = '{Table}'::regclass")).Single();
            if (long.Parse(row[0]!, System.Globalization.CultureInfo.InvariantCulture) == inserted)
            {
                return long.Parse(row[1]!, System.Globalization.CultureInfo.InvariantCulture);
            }

            wait.ShouldBeLessThan(300, $"the statistics still do not show {inserted} rows inserted");
            await Task.Delay(100);
        }
    }

    [PostgresFact]
    public async Task Load_WhenServerDropsTheConnectionMidCopy_FailsAsTransientAndKeepsEarlierAttempt()
    {
        await LoadAsync(1, null, Rows("a.csv", 3));
        // At row 10 another session terminates the backend running the COPY, like a server restart would.
        var source = new ListRowSource(
            "big.csv", ["id", "name"], Enumerable.Range(1, 300_000).Select(i => new string?[] { "x", new string('y', 40) }),
            onRow: row =>
            {
                if (row == 10)
                {
                    TerminateCopyBackend();
                }
            });

        var error = await Should.ThrowAsync<IntakeException>(() => LoadAsync(1, null, source, attempt: 2));

        error.Kind.ShouldBe(ErrorKind.Transient);
        (await Warehouse.CountRowsAsync(Table, 1, default)).ShouldBe(3);
    }

    [PostgresFact]
    public async Task Load_IntoExistingTableWithOtherTypeThanDeclared_FailsAsSchemaNamingTheColumn()
    {
        await LoadAsync(1, null, ListRowSource.Of("a.csv", "qty", ["1"]));

        var error = await Should.ThrowAsync<IntakeException>(() => LoadAsync(2, [new("qty", ColumnType.Integer)], ListRowSource.Of("b.csv", "qty", ["2"])));

        error.Kind.ShouldBe(ErrorKind.Schema);
        error.Message.ShouldContain("'qty'");
    }

    [PostgresFact]
    public async Task Merge_WhenAKilledWorkersBackendStillHoldsTheLock_EndsThatBackendAndMerges()
    {
        ColumnSpec[] columns = [new("id", ColumnType.BigInt, false), new("name", ColumnType.Text)];
        await LoadAsync(4201, columns, ListRowSource.Of("a.csv", "id,name", ["1", "one"], ["2", "two"]));
        // Attempt 1 of load 42's merge, as a worker killed in the middle of it leaves it: its backend still runs a
        // statement (here a long sleep) inside the transaction that holds the merge lock.
        await using var stale = await OpenAsAsync("intake load 4201 attempt 1 merge");
        await using (var take = new NpgsqlCommand("begin; select pg_advisory_xact_lock(x'496E74616B6501'::bigint)", stale))
        {
            await take.ExecuteNonQueryAsync();
        }

        var stalePid = stale.ProcessID;
        var running = new NpgsqlCommand("select pg_sleep(3600)", stale) { CommandTimeout = 0 }.ExecuteNonQueryAsync();
        // Another load's session, and another program's, are left alone.
        await using var otherLoad = await OpenAsAsync("intake load 4202 attempt 1 merge");
        await using var otherProgram = await OpenAsAsync("psql");

        // Without ending the stale backend this would wait for its statement: the guard only keeps a failure from hanging the run.
        using var guard = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        var target = Table + "_app";
        var result = await Warehouse.MergeAsync(
            new WarehouseMergeRequest
            {
                StagingTable = Table, LoadId = 4201, TargetTable = target, KeyColumns = ["id"], Step = "merge", Attempt = 2,
                SetupSql = $"create table if not exists {target} (id bigint primary key, name text)",
            },
            guard.Token);

        result.RowsMerged.ShouldBe(2);
        (await ScalarAsync<long>($"select count(*) from {target}")).ShouldBe(2);
        (await Should.ThrowAsync<PostgresException>(() => running)).SqlState.ShouldBe(PostgresErrorCodes.AdminShutdown);
        var alive = await BackendsAfterAsync(stalePid);
        alive.ShouldNotContain(stalePid);
        alive.ShouldContain(otherLoad.ProcessID);
        alive.ShouldContain(otherProgram.ProcessID);
    }

    [PostgresFact]
    public async Task Load_TakenOverFromAKilledWorker_EndsItsBackendStillHoldingTheTable()
    {
        await LoadAsync(4301, null, Rows("a.csv", 3));
        await LoadAsync(4302, null, Rows("b.csv", 2));
        // Attempt 1 of load 4301, as a killed worker leaves it: its backend still runs a statement (a long sleep here)
        // in a transaction that holds the table.
        await using var stale = await OpenAsAsync("intake load 4301 attempt 1 load");
        await using (var take = new NpgsqlCommand($"begin; lock table {Table} in access exclusive mode", stale))
        {
            await take.ExecuteNonQueryAsync();
        }

        var stalePid = stale.ProcessID;
        var running = new NpgsqlCommand("select pg_sleep(3600)", stale) { CommandTimeout = 0 }.ExecuteNonQueryAsync();

        try
        {
            // Without ending the stale backend this would wait for its statement: the guard only keeps a failure from hanging the run.
            using var guard = new CancellationTokenSource(TimeSpan.FromMinutes(1));
            var result = await Warehouse.LoadAsync(Request(Table, 4301, null) with { Attempt = 2 }, Sources(Rows("a.csv", 4)), guard.Token);

            result.ShouldBe(new WarehouseLoadResult(4, 4, 3));
            (await Should.ThrowAsync<PostgresException>(() => running)).SqlState.ShouldBe(PostgresErrorCodes.AdminShutdown);
            (await BackendsAfterAsync(stalePid)).ShouldNotContain(stalePid);
        }
        finally
        {
            // On failure, the sleeping backend would keep the test (disposing its connection) for an hour.
            await ScalarAsync<bool>($"select pg_terminate_backend({stalePid}) from pg_stat_activity where pid = {stalePid}");
        }
    }

    [PostgresFact]
    public async Task Merge_WhoseSetupChangesTheSession_LeavesLaterLoadsOnThatConnectionUnchanged()
    {
        // One connection per pool, so a load after the merge would get the merge's connection if the two shared a pool.
        await using var warehouse = new PostgresWarehouse("wh", _connectionString + ";Maximum Pool Size=1", Clock);
        ColumnSpec[] columns = [new("id", ColumnType.BigInt, false), new("name", ColumnType.Text)];
        await warehouse.LoadAsync(Request(Table, 4401, columns), Sources(ListRowSource.Of("a.csv", "id,name", ["1", "one"])), default);
        var target = Table + "_app";
        await warehouse.MergeAsync(
            new WarehouseMergeRequest
            {
                StagingTable = Table, LoadId = 4401, TargetTable = target, KeyColumns = ["id"], Step = "merge", Attempt = 1,
                // A pipeline's setup may change its session: here new tables would go to another schema from now on.
                SetupSql = $"create schema if not exists wh_elsewhere; set search_path = wh_elsewhere, public; create table if not exists public.{target} (id bigint primary key, name text)",
            },
            default);

        var next = Table + "_next";
        await warehouse.LoadAsync(Request(next, 4402, null), Sources(Rows("b.csv", 2)), default);

        (await ScalarAsync<string>($"select to_regclass('public.{next}')::text")).ShouldBe(next);
    }

    [PostgresFact]
    public async Task Load_WhileRunning_ShowsItsLoadAttemptAndStepInPgStatActivity()
    {
        var seen = "";
        var source = new ListRowSource("a.csv", ["id"], Enumerable.Range(1, 20).Select(i => new string?[] { "x" }), onRow: row =>
        {
            if (row == 10)
            {
                using var connection = new NpgsqlConnection(_connectionString);
                connection.Open();
                using var command = new NpgsqlCommand("select application_name from pg_stat_activity where datname = current_database() and query ilike 'copy %'", connection);
                seen = (string)command.ExecuteScalar()!;
            }
        });

        await LoadAsync(4203, null, source, attempt: 3);

        seen.ShouldBe("intake load 4203 attempt 3 load");
    }

    private async Task<NpgsqlConnection> OpenAsAsync(string applicationName)
    {
        var connection = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(_connectionString) { ApplicationName = applicationName, Pooling = false }.ConnectionString);
        await connection.OpenAsync();
        return connection;
    }

    /// <summary>The process ids of this database's backends, once <paramref name="ended"/> has gone (an ended backend leaves a moment after releasing its locks).</summary>
    private async Task<List<int>> BackendsAfterAsync(int ended)
    {
        for (var i = 0; ; i++)
        {
            var rows = await RowsAsync("select pid from pg_stat_activity where datname = current_database()");
            var pids = rows.Select(r => int.Parse(r[0]!, System.Globalization.CultureInfo.InvariantCulture)).ToList();
            if (!pids.Contains(ended) || i == 100)
            {
                return pids;
            }

            await Task.Delay(100);
        }
    }

    private void TerminateCopyBackend()
    {
        using var connection = new NpgsqlConnection(_connectionString);
        connection.Open();
        using var command = new NpgsqlCommand(
            "select count(pg_terminate_backend(pid)) from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid() and query ilike 'copy %'",
            connection);
        ((long)command.ExecuteScalar()!).ShouldBe(1);
    }
}

/// <summary>PostgreSQL behaviour that needs no server (and so no database per test).</summary>
public sealed class PostgresWarehouseWithoutServerTests
{
    [Fact]
    public async Task Load_WhenServerIsUnreachable_FailsAsTransient()
    {
        // Port 1 on loopback: nothing listens there, the connection is refused at once.
        await using var warehouse = new PostgresWarehouse("wh", "Host=127.0.0.1;Port=1;Username=x;Database=x;Timeout=5");

        var error = await Should.ThrowAsync<IntakeException>(() => warehouse.LoadAsync(new WarehouseLoadRequest { Table = "t", LoadId = 1, Step = "load" }, new[] { ListRowSource.Of("a.csv", "a", ["1"]) }.ToAsyncEnumerable(), default));

        error.Kind.ShouldBe(ErrorKind.Transient);
    }
}
