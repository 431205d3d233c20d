using System.Globalization;
using Intake.Core.Errors;
using Intake.Core.Ports;
using Intake.Tests.Shared;
using Intake.Warehouse.Postgres;
using Intake.Warehouse.Tests.Support;
using Npgsql;

namespace Intake.Warehouse.Tests;

/// <summary><c>load.streams</c>: one file's rows through several COPY connections, still exactly once by load id.</summary>
[RequiresServer(typeof(PostgresFactAttribute))]
public sealed class PostgresStreamsTests(PostgresDatabaseFixture database) : IClassFixture<PostgresDatabaseFixture>, IAsyncLifetime
{
    // Enough rows for a couple of dozen batches, so every stream gets some.
    private const int RowCount = 100_000;

    private static readonly ColumnSpec[] Columns =
    [
        new("id", ColumnType.Integer, Nullable: false),
        new("name", ColumnType.Text),
        new("amount", ColumnType.Decimal),
        new("day", ColumnType.Date),
    ];

    private readonly string _table = "s_" + Guid.NewGuid().ToString("N")[..12];
    private string _connectionString = "";
    private PostgresWarehouse? _warehouse;

    private PostgresWarehouse Warehouse => _warehouse!;

    public async Task InitializeAsync()
    {
        _connectionString = await database.ConnectionStringAsync();
        _warehouse = new PostgresWarehouse("wh", _connectionString);
    }

    public async Task DisposeAsync() => await Warehouse.DisposeAsync();

    [PostgresTheory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(4)]
    public async Task Load_InStreams_WritesTheSameRowsAsOneStream_EachStreamInItsOwnTransaction(int streams)
    {
        var result = await LoadAsync(1, streams, File("a.csv", 1, RowCount), File("b.csv", RowCount + 1, 1_000));

        result.ShouldBe(new WarehouseLoadResult(RowCount + 1_000, RowCount + 1_000, 0));
        (await ScalarAsync<string>($"select encode(sha256(convert_to(string_agg(concat_ws('|', id, name, amount, day), ',' order by id), 'UTF8')), 'hex') from {_table} where _intake_load_id = 1"))
            .ShouldBe(Expected(1, RowCount + 1_000));
        (await ScalarAsync<long>($"select rows_written from _intake_ledger where load_id = 1 and table_name = '{_table}'")).ShouldBe(RowCount + 1_000);
        // The rows of the big file came through as many transactions as streams (each COPY connection commits its own).
        var transactions = await ScalarAsync<long>($"select count(distinct xmin::text) from {_table} where id <= {RowCount}");
        if (streams == 1)
        {
            transactions.ShouldBe(1);
        }
        else
        {
            transactions.ShouldBeGreaterThan(1);
            transactions.ShouldBeLessThanOrEqualTo(streams);
        }
    }

    [PostgresFact]
    public async Task Load_InStreams_BadValuesInSeveralParts_RollsBackEveryStream_NamesTheFirstBadRowAsOneStreamWould()
    {
        await LoadAsync(1, 1, File("a.csv", 1, 3));
        var bad = new HashSet<int> { 20_001, 45_000, 90_000 };

        var error = await Should.ThrowAsync<IntakeException>(() => LoadAsync(1, 4, File("big.csv", 1, RowCount, bad), attempt: 2));
        var single = await Should.ThrowAsync<IntakeException>(() => LoadAsync(1, 1, File("big.csv", 1, RowCount, bad), attempt: 2));

        error.Kind.ShouldBe(ErrorKind.Schema);
        error.Message.ShouldBe(single.Message);
        error.Message.ShouldContain("row 20001 (line 20002), column 'amount'");
        (await Warehouse.CountRowsAsync(_table, 1, default)).ShouldBe(3); // the earlier attempt, untouched
        (await ScalarAsync<long>($"select count(*) from {_table}")).ShouldBe(3);

        await LoadAsync(1, 4, File("big.csv", 1, RowCount), attempt: 3);
        (await ScalarAsync<long>($"select count(*) from {_table}")).ShouldBe(RowCount);
    }

    [PostgresFact]
    public async Task Load_InStreams_WhenOneStreamsConnectionIsKilled_RollsBackEverything_AndTheRetryLoadsOnce()
    {
        await LoadAsync(1, 1, File("a.csv", 1, 3));
        // Halfway through, another session terminates one of the COPY backends, as a server would on a crash of one backend.
        var source = File("big.csv", 1, RowCount, onRow: row =>
        {
            if (row == RowCount / 2)
            {
                TerminateOneCopyBackend();
            }
        });

        var error = await Should.ThrowAsync<IntakeException>(() => LoadAsync(1, 4, source, attempt: 2));

        error.Kind.ShouldBe(ErrorKind.Transient);
        (await ScalarAsync<long>($"select count(*) from {_table}")).ShouldBe(3);

        await LoadAsync(1, 4, File("big.csv", 1, RowCount), attempt: 3);
        (await ScalarAsync<long>($"select count(*) from {_table}")).ShouldBe(RowCount);
        (await ScalarAsync<long>($"select count(distinct id) from {_table}")).ShouldBe(RowCount);
    }

    [PostgresFact]
    public async Task Load_InStreams_AfterACrashBetweenTheStreamsCommits_TheRetryReplacesWhatWasLeft()
    {
        // What a SIGKILL between the streams' commits and the load's own leaves: some of the load's rows, no ledger row
        // (only the streamed row the load committed before its streams' rows, which is how the retry knows to look).
        await LoadAsync(1, 4, File("a.csv", 1, 10));
        await ExecuteAsync($"delete from _intake_ledger where load_id = 1 and table_name = '{_table}'");
        await ExecuteAsync($"insert into {_table} select * from {_table} where id <= 5");

        var result = await LoadAsync(1, 4, File("big.csv", 1, RowCount), attempt: 2);

        result.RowsDeletedFromEarlierAttempts.ShouldBe(15);
        (await ScalarAsync<long>($"select count(*) from {_table}")).ShouldBe(RowCount);
        (await ScalarAsync<long>($"select count(distinct id) from {_table}")).ShouldBe(RowCount);
    }

    [PostgresFact]
    public async Task Load_InStreams_ReRunIntoATableWithAUniqueKey_FinishesWithOneCopyOfEachRow()
    {
        await LoadAsync(1, 4, File("big.csv", 1, RowCount));
        await ExecuteAsync($"create unique index on {_table} (id)");

        // The re-run deletes the first attempt's rows in its own transaction; a stream writing the same keys through
        // another connection would wait for that transaction, which waits for the stream.
        await LoadAsync(1, 4, File("big.csv", 1, RowCount), attempt: 2).WaitAsync(TimeSpan.FromMinutes(2));

        (await ScalarAsync<long>($"select count(*) from {_table}")).ShouldBe(RowCount);
    }

    [PostgresFact]
    public async Task Load_InStreams_EveryCopyConnectionCarriesTheAttemptsName_SoATakeoverEndsThemAll()
    {
        var names = new List<string>();
        var source = File("big.csv", 1, RowCount, onRow: row =>
        {
            if (row == RowCount / 2)
            {
                // The reader waits here: the streams take what is queued and then wait for more with their COPY open,
                // so all three show up, however slowly each one started.
                using var connection = new NpgsqlConnection(_connectionString);
                connection.Open();
                for (var i = 0; i < 400 && names.Count < 3; i++)
                {
                    names.Clear();
                    using var command = new NpgsqlCommand("select application_name from pg_stat_activity where datname = current_database() and query ilike 'copy %'", connection);
                    using var reader = command.ExecuteReader();
                    while (reader.Read())
                    {
                        names.Add(reader.GetString(0));
                    }

                    if (names.Count < 3)
                    {
                        Thread.Sleep(50);
                    }
                }
            }
        });

        await LoadAsync(4204, 3, [source], attempt: 2);

        names.Count.ShouldBe(3);
        names.ShouldAllBe(n => n == "intake load 4204 attempt 2 load");
    }

    private Task<WarehouseLoadResult> LoadAsync(long loadId, int streams, params IRowSource[] sources) => LoadAsync(loadId, streams, sources, attempt: 1);

    private Task<WarehouseLoadResult> LoadAsync(long loadId, int streams, IRowSource source, int attempt) => LoadAsync(loadId, streams, [source], attempt);

    private Task<WarehouseLoadResult> LoadAsync(long loadId, int streams, IRowSource[] sources, int attempt) =>
        Warehouse.LoadAsync(
            new WarehouseLoadRequest { Table = _table, LoadId = loadId, Columns = Columns, Step = "load", Attempt = attempt, Streams = streams },
            sources.ToAsyncEnumerable(),
            default);

    private static string Value(int id, int column) => column switch
    {
        0 => id.ToString(CultureInfo.InvariantCulture),
        1 => $"név {id} \"quoted\"",
        2 => (id * 1.25m).ToString(CultureInfo.InvariantCulture),
        _ => new DateOnly(2020, 1, 1).AddDays(id % 1000).ToString("yyyy-MM-dd", CultureInfo.InvariantCulture),
    };

    private static ListRowSource File(string name, int first, int count, IReadOnlySet<int>? bad = null, Action<long>? onRow = null) =>
        new(name, ["id", "name", "amount", "day"], Enumerable.Range(first, count).Select(id => new string?[]
        {
            Value(id, 0), id % 7 == 0 ? null : Value(id, 1), bad?.Contains(id) == true ? "not a number" : Value(id, 2), Value(id, 3),
        }), onRow);

    private static string Expected(int first, int count)
    {
        var text = string.Join(',', Enumerable.Range(first, count).Select(id =>
            string.Join('|', new[] { Value(id, 0), id % 7 == 0 ? null : Value(id, 1), Value(id, 2), Value(id, 3) }.Where(v => v is not null))));
        return Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(text)));
    }

    private void TerminateOneCopyBackend()
    {
        using var connection = new NpgsqlConnection(_connectionString);
        connection.Open();
        using var command = new NpgsqlCommand(
            "select count(pg_terminate_backend(pid)) from (select pid from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid() and query ilike 'copy %' limit 1) p",
            connection);
        ((long)command.ExecuteScalar()!).ShouldBe(1);
    }

    private Task<T?> ScalarAsync<T>(string sql) => Sql.ScalarAsync<T>(new NpgsqlConnection(_connectionString), sql);

    private async Task ExecuteAsync(string sql)
    {
        await using var connection = new NpgsqlConnection(_connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }
}
