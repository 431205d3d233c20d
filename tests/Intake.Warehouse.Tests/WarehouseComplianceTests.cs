using System.Text.Json;
using Intake.Core.Errors;
using Intake.Core.Ports;
using Intake.Tests.Shared;
using Intake.Warehouse.Tests.Support;

namespace Intake.Warehouse.Tests;

/// <summary>
/// What every warehouse must do, run once per implementation (SQLite, PostgreSQL) so both behave the same.
/// Each test uses its own table; raw SQL here is the subset both dialects share.
/// </summary>
public abstract partial class WarehouseComplianceTests : IAsyncLifetime
{
    private static readonly DateTimeOffset Now = new(2026, 3, 4, 5, 6, 7, TimeSpan.Zero);
    private IWarehouse? _warehouse;

    protected ManualTimeProvider Clock { get; } = new(Now);

    protected IWarehouse Warehouse => _warehouse ?? throw new InvalidOperationException("not initialised");

    /// <summary>A table name no other test uses.</summary>
    protected string Table { get; } = "t_" + Guid.NewGuid().ToString("N")[..12];

    protected abstract Task<IWarehouse> CreateWarehouseAsync(TimeProvider clock);

    /// <summary>The first column of the first row of <paramref name="sql"/>, read as <typeparamref name="T"/>; default for NULL.</summary>
    protected abstract Task<T?> ScalarAsync<T>(string sql);

    /// <summary>Every row of <paramref name="sql"/>, each value as text (NULL as null).</summary>
    protected abstract Task<List<string?[]>> RowsAsync(string sql);

    /// <summary>Runs a statement on a connection of the test's own, as a user changing the table beside Intake.</summary>
    protected abstract Task ExecuteAsync(string sql);

    public async Task InitializeAsync() => _warehouse = await CreateWarehouseAsync(Clock);

    public virtual async Task DisposeAsync()
    {
        if (_warehouse is IAsyncDisposable disposable)
        {
            await disposable.DisposeAsync();
        }
    }

    [WarehouseFact]
    public async Task Load_WithoutDeclaredColumns_CreatesTextColumnsFromHeader()
    {
        var result = await LoadAsync(1, null, ListRowSource.Of("people.csv", "id,name,zip", ["1", "ann", "007"], ["2", "bob", null]));

        result.ShouldBe(new WarehouseLoadResult(2, 2, 0));
        (await ScalarAsync<string>($"select name from {Table} where id = '2'")).ShouldBe("bob");
        // Text columns keep what the file says: a leading zero survives, an empty field is NULL.
        (await ScalarAsync<string>($"select zip from {Table} where id = '1'")).ShouldBe("007");
        (await ScalarAsync<long>($"select count(*) from {Table} where zip is null")).ShouldBe(1);
        (await Warehouse.CountRowsAsync(Table, 1, default)).ShouldBe(2);
    }

    [WarehouseFact]
    public async Task Load_WithDeclaredTypes_StoresTypedValuesAndNulls()
    {
        ColumnSpec[] columns =
        [
            new("k", ColumnType.Text, Nullable: false), new("i", ColumnType.Integer), new("big", ColumnType.BigInt),
            new("amount", ColumnType.Decimal), new("ratio", ColumnType.Double), new("ok", ColumnType.Boolean),
            new("day", ColumnType.Date), new("at", ColumnType.Timestamp), new("at_tz", ColumnType.TimestampTz), new("doc", ColumnType.Json),
        ];
        var source = ListRowSource.Of(
            "typed.csv", "k,i,big,amount,ratio,ok,day,at,at_tz,doc",
            ["a", "-42", "9000000000", "12345678901234567.89", "2.5", "yes", "2024-02-29", "2024-02-29T13:14:15.123", "2024-02-29 13:14:15+02:00", """{"n": [1, 2], "s": "x"}"""],
            ["b", "", null, null, null, null, null, null, null, null]);

        await LoadAsync(1, columns, source);

        var row = $"from {Table} where k = 'a'";
        (await ScalarAsync<int>($"select i {row}")).ShouldBe(-42);
        (await ScalarAsync<long>($"select big {row}")).ShouldBe(9_000_000_000L);
        (await ScalarAsync<decimal>($"select amount {row}")).ShouldBe(12345678901234567.89m);
        (await ScalarAsync<double>($"select ratio {row}")).ShouldBe(2.5);
        (await ScalarAsync<bool>($"select ok {row}")).ShouldBeTrue();
        (await ScalarAsync<DateOnly>($"select day {row}")).ShouldBe(new DateOnly(2024, 2, 29));
        (await ScalarAsync<DateTime>($"select at {row}")).ShouldBe(new DateTime(2024, 2, 29, 13, 14, 15, 123));
        (await ScalarAsync<DateTimeOffset>($"select at_tz {row}")).ShouldBe(new DateTimeOffset(2024, 2, 29, 11, 14, 15, TimeSpan.Zero));
        using (var doc = JsonDocument.Parse((await ScalarAsync<string>($"select doc {row}"))!))
        {
            doc.RootElement.GetProperty("s").GetString().ShouldBe("x");
            doc.RootElement.GetProperty("n").GetArrayLength().ShouldBe(2);
        }

        // Every typed column of row b is NULL, whether the field was empty ("") or missing (null).
        (await ScalarAsync<long>(
            $"select count(*) from {Table} where k = 'b' and i is null and big is null and amount is null and ratio is null and ok is null and day is null and at is null and at_tz is null and doc is null"))
            .ShouldBe(1);
    }

    [WarehouseFact]
    public async Task Load_AcceptsCommonBooleanDateAndTimestampForms()
    {
        ColumnSpec[] columns = [new("k", ColumnType.Text), new("ok", ColumnType.Boolean), new("day", ColumnType.Date), new("at", ColumnType.TimestampTz)];
        var source = ListRowSource.Of(
            "forms.csv", "k,ok,day,at",
            ["a", "t", "2024-01-02", "2024-01-02T03:04:05Z"],
            ["b", "TRUE", "20240102", "2024-01-02 03:04:05"],
            ["c", " yes ", "2024/01/02", "2024-01-02T04:04:05.000+01:00"],
            ["d", "1", "2024-1-2", "2024-01-02 05:04:05+02"],
            ["e", "no", "2024-01-02", "2024-01-02T03:04:05"],
            ["f", "f", "2024-01-02", "2024-01-02T03:04:05Z"],
            ["g", "0", "2024-01-02", "2024-01-02T03:04:05Z"],
            ["h", "False", "2024-01-02", "2024-01-02T03:04:05Z"]);

        await LoadAsync(1, columns, source);

        (await ScalarAsync<string>($"select min(k) || max(k) from {Table} where ok")).ShouldBe("ad");
        (await ScalarAsync<long>($"select count(*) from {Table} where not ok")).ShouldBe(4);
        foreach (var k in "abcdefgh")
        {
            (await ScalarAsync<DateOnly>($"select day from {Table} where k = '{k}'")).ShouldBe(new DateOnly(2024, 1, 2), $"row {k}");
            (await ScalarAsync<DateTimeOffset>($"select at from {Table} where k = '{k}'")).ShouldBe(new DateTimeOffset(2024, 1, 2, 3, 4, 5, TimeSpan.Zero), $"row {k}");
        }
    }

    [WarehouseFact]
    public async Task Load_WhenValueDoesNotFitItsType_FailsAsSchemaNamingTheType()
    {
        (ColumnType Type, string Bad, string Word)[] cases =
        [
            (ColumnType.Integer, "1.5", "integer"), (ColumnType.Integer, "3000000000", "integer"), (ColumnType.BigInt, "1e3", "bigint"),
            (ColumnType.Decimal, "1,5", "decimal"), (ColumnType.Double, "abc", "double"), (ColumnType.Boolean, "maybe", "boolean"),
            (ColumnType.Date, "02/01/2024", "date"), (ColumnType.Date, "2024-02-30", "date"), (ColumnType.Timestamp, "yesterday", "timestamp"),
            (ColumnType.TimestampTz, "2024-01-02T25:00:00Z", "timestamptz"), (ColumnType.Json, "{\"a\":", "json"), (ColumnType.Json, "{} {}", "json"),
        ];
        var loadId = 100;
        foreach (var (type, bad, word) in cases)
        {
            loadId++;
            var load = () => Warehouse.LoadAsync(Request($"{Table}_{loadId}", loadId, [new("v", type)]), Sources(ListRowSource.Of("v.csv", "v", [""], [bad])), default);
            var error = await Should.ThrowAsync<IntakeException>(load, $"{type} '{bad}'");

            error.Kind.ShouldBe(ErrorKind.Schema, $"{type} '{bad}'");
            error.Message.ShouldContain($"cannot be cast to {word}", Case.Sensitive, $"{type} '{bad}'");
            error.Message.ShouldContain("row 2");
        }
    }

    [WarehouseFact]
    public async Task Load_WithDeclaredColumns_MapsHeaderNamesWithoutCase()
    {
        await LoadAsync(1, [new("Price", ColumnType.Decimal), new("Name", ColumnType.Text)], ListRowSource.Of("p.csv", "NAME,price", ["pen", "1.50"]));

        (await ScalarAsync<decimal>($"select \"Price\" from {Table} where \"Name\" = 'pen'")).ShouldBe(1.50m);
    }

    [WarehouseFact]
    public async Task Load_SameLoadIdAgain_ReplacesItsRowsAndLeavesOtherLoadsAlone()
    {
        await LoadAsync(1, null, Rows("first.csv", 3));
        await LoadAsync(2, null, Rows("other.csv", 2));

        var rerun = await LoadAsync(1, null, Rows("first.csv", 4), attempt: 2);

        rerun.ShouldBe(new WarehouseLoadResult(4, 4, 3));
        (await Warehouse.CountRowsAsync(Table, 1, default)).ShouldBe(4);
        (await Warehouse.CountRowsAsync(Table, 2, default)).ShouldBe(2);
        (await ScalarAsync<long>($"select count(*) from {Table}")).ShouldBe(6);
    }

    [WarehouseFact]
    public virtual async Task Load_AfterTheTableWasDroppedSinceTheLastLoad_CreatesItAgain()
    {
        // Two loads first, so that the process has seen the table with its load id column.
        await LoadAsync(1, null, Rows("first.csv", 3));
        await LoadAsync(2, null, Rows("second.csv", 2));
        await ExecuteAsync($"drop table {Table}");

        var result = await LoadAsync(3, null, Rows("third.csv", 4));

        result.ShouldBe(new WarehouseLoadResult(4, 4, 0));
        (await ScalarAsync<long>($"select count(*) from {Table}")).ShouldBe(4);
        (await Warehouse.CountRowsAsync(Table, 3, default)).ShouldBe(4);

        // And the new table is loaded like the old one: a re-run of load 3 replaces its rows.
        (await LoadAsync(3, null, Rows("third.csv", 5), attempt: 2)).ShouldBe(new WarehouseLoadResult(5, 5, 4));
        (await ScalarAsync<long>($"select count(*) from {Table}")).ShouldBe(5);
    }

    [WarehouseFact]
    public async Task Load_AfterTheTableWasMadeAgainWithoutItsLoadIdColumn_FailsAsSchemaSayingSo()
    {
        await LoadAsync(1, null, Rows("first.csv", 3));
        await LoadAsync(2, null, Rows("second.csv", 2));
        await ExecuteAsync($"drop table {Table}");
        await ExecuteAsync($"create table {Table} (id text, name text)");

        var error = await Should.ThrowAsync<IntakeException>(() => LoadAsync(3, null, Rows("third.csv", 4), attempt: 2));

        error.Kind.ShouldBe(ErrorKind.Schema);
        error.Message.ShouldContain("has no _intake_load_id column, so its loads cannot be told apart");
    }

    [WarehouseFact]
    public async Task Load_AfterAColumnWasAddedToTheTable_WritesItFromTheHeader()
    {
        await LoadAsync(1, null, Rows("first.csv", 3));
        await LoadAsync(2, null, Rows("second.csv", 2));
        await ExecuteAsync($"alter table {Table} add column zip text");

        await LoadAsync(3, null, ListRowSource.Of("third.csv", "id,name,zip", ["7", "ann", "007"]));

        (await ScalarAsync<string>($"select zip from {Table} where id = '7'")).ShouldBe("007");
    }

    [WarehouseFact]
    public async Task Load_RecordsLedgerRowWithStepAttemptAndRows()
    {
        await LoadAsync(77, null, Rows("a.csv", 5), attempt: 3, step: "warehouse_load");

        var ledger = $"from _intake_ledger where load_id = 77 and step = 'warehouse_load' and attempt = 3 and table_name = '{Table}'";
        (await ScalarAsync<long>($"select rows_written {ledger}")).ShouldBe(5);
        (await ScalarAsync<DateTimeOffset>($"select committed_at {ledger}")).ShouldBe(Now);
    }

    [WarehouseFact]
    public async Task Load_WhenValueCannotBeCast_FailsAsSchemaNamingRowAndColumn_AndKeepsEarlierAttempt()
    {
        ColumnSpec[] columns = [new("sku", ColumnType.Text), new("qty", ColumnType.Integer)];
        await LoadAsync(7, columns, ListRowSource.Of("stock.csv", "sku,qty", ["a", "1"], ["b", "2"]));

        var failing = ListRowSource.Of("stock.csv", "sku,qty", ["a", "1"], ["b", "2"], ["c", "12x"], ["d", "4"]);
        var error = await Should.ThrowAsync<IntakeException>(() => LoadAsync(7, columns, failing, attempt: 2));

        error.Kind.ShouldBe(ErrorKind.Schema);
        error.Message.ShouldContain("stock.csv");
        error.Message.ShouldContain("row 3");
        error.Message.ShouldContain("line 4");
        error.Message.ShouldContain("'qty'");
        error.Message.ShouldContain("'12x'");
        error.Message.ShouldContain("integer");
        // The failed attempt rolled back whole: the first attempt's rows and ledger row are all there is.
        (await Warehouse.CountRowsAsync(Table, 7, default)).ShouldBe(2);
        (await ScalarAsync<long>($"select count(*) from {Table} where sku in ('c', 'd')")).ShouldBe(0);
        (await ScalarAsync<long>("select count(*) from _intake_ledger where load_id = 7")).ShouldBe(1);
    }

    [WarehouseFact]
    public async Task Load_ValuesWiderThanTheCopyBuffer_AreStoredWhole()
    {
        // Short rows with, now and then, a value of some kilobytes or of more than the whole 64 KiB buffer (two UTF-8
        // bytes a character), and a JSON document as large: each lands at another place in the buffer.
        static string Text(int i) => i % 97 == 0 ? new string('é', 40_000 + i) : i % 13 == 0 ? new string('x', 9_000 + i) : $"v{i}";
        var rows = Enumerable.Range(1, 2_000).Select(i => new string?[]
        {
            i.ToString(System.Globalization.CultureInfo.InvariantCulture), Text(i), i == 1_500 ? $"{{\"k\": \"{new string('z', 150_000)}\"}}" : null,
        });
        await LoadAsync(1, [new("id", ColumnType.Integer), new("v", ColumnType.Text), new("doc", ColumnType.Json)], new ListRowSource("wide.csv", ["id", "v", "doc"], rows));

        (await ScalarAsync<long>($"select count(*) from {Table}")).ShouldBe(2_000);
        (await ScalarAsync<long>($"select sum(length(v)) from {Table}")).ShouldBe(Enumerable.Range(1, 2_000).Sum(i => (long)Text(i).Length));
        (await ScalarAsync<string>($"select v from {Table} where id = 1940")).ShouldBe(Text(1_940));
        using var doc = JsonDocument.Parse((await ScalarAsync<string>($"select doc from {Table} where id = 1500"))!);
        doc.RootElement.GetProperty("k").GetString()!.Length.ShouldBe(150_000);
    }

    [WarehouseFact]
    public async Task Load_CancelledWhileASourceWaitsForData_StopsAndRollsBackWhole()
    {
        await LoadAsync(9, null, Rows("first.csv", 3));

        // The second attempt copies a whole file and part of another, whose data then stops coming.
        var slow = new StallingRowSource(Rows("slow.csv", 500), stallAfter: 200);
        using var cancel = new CancellationTokenSource();
        var load = Warehouse.LoadAsync(Request(Table, 9, null) with { Attempt = 2 }, Sources(Rows("second.csv", 50), slow), cancel.Token);
        await slow.Stalled.Task.WaitAsync(TimeSpan.FromMinutes(1)); // hang guards, not timings: both come at once
        cancel.Cancel();

        await Should.ThrowAsync<OperationCanceledException>(() => load.WaitAsync(TimeSpan.FromMinutes(1)));
        // Nothing of the cancelled attempt: the first attempt's rows and ledger row are all there is.
        (await Warehouse.CountRowsAsync(Table, 9, default)).ShouldBe(3);
        (await ScalarAsync<long>("select count(*) from _intake_ledger where load_id = 9")).ShouldBe(1);
        // And the warehouse takes the next attempt as usual.
        (await LoadAsync(9, null, Rows("third.csv", 4), attempt: 3)).RowsWritten.ShouldBe(4);
    }

    [WarehouseFact]
    public async Task Load_WhenFirstAttemptCannotCast_WritesNothingOfTheLoad()
    {
        var longValue = new string('9', 80) + "z";
        var source = ListRowSource.Of("n.csv", "n", ["1"], [longValue]);

        var error = await Should.ThrowAsync<IntakeException>(() => LoadAsync(8, [new("n", ColumnType.BigInt)], source));

        error.Kind.ShouldBe(ErrorKind.Schema);
        error.Message.ShouldContain("bigint");
        error.Message.ShouldNotContain(longValue);
        (await Warehouse.CountRowsAsync(Table, 8, default)).ShouldBe(0);
    }

    [WarehouseFact]
    public async Task Load_WhenSourceHasUndeclaredColumn_FailsAsSchemaNamingIt()
    {
        var error = await Should.ThrowAsync<IntakeException>(() =>
            LoadAsync(1, [new("a", ColumnType.Text)], ListRowSource.Of("x.csv", "a,surprise", ["1", "2"])));

        error.Kind.ShouldBe(ErrorKind.Schema);
        error.Message.ShouldContain("'surprise'");
        (await Warehouse.CountRowsAsync(Table, 1, default)).ShouldBe(0);
    }

    [WarehouseFact]
    public async Task Load_WhenHeaderHasColumnTheExistingTableLacks_FailsAsSchemaNamingIt()
    {
        await LoadAsync(1, null, ListRowSource.Of("v1.csv", "a,b", ["1", "2"]));

        var error = await Should.ThrowAsync<IntakeException>(() => LoadAsync(2, null, ListRowSource.Of("v2.csv", "a,b,c", ["1", "2", "3"])));

        error.Kind.ShouldBe(ErrorKind.Schema);
        error.Message.ShouldContain("'c'");
        (await Warehouse.CountRowsAsync(Table, 2, default)).ShouldBe(0);
    }

    [WarehouseFact]
    public async Task Load_WhenDeclaredColumnIsMissingFromSource_WritesNullOrFailsWhenNotNullable()
    {
        await LoadAsync(1, [new("a", ColumnType.Text), new("note", ColumnType.Text)], ListRowSource.Of("x.csv", "a", ["1"]));
        (await ScalarAsync<long>($"select count(*) from {Table} where a = '1' and note is null")).ShouldBe(1);

        var error = await Should.ThrowAsync<IntakeException>(() =>
            LoadAsync(2, [new("a", ColumnType.Text), new("note", ColumnType.Text, Nullable: false)], ListRowSource.Of("y.csv", "a", ["1"])));
        error.Kind.ShouldBe(ErrorKind.Schema);
        error.Message.ShouldContain("'note'");
    }

    [WarehouseFact]
    public async Task Load_WhenNonNullableValueIsEmpty_FailsAsSchemaNamingRowAndColumn()
    {
        var error = await Should.ThrowAsync<IntakeException>(() =>
            LoadAsync(1, [new("id", ColumnType.Integer, Nullable: false)], ListRowSource.Of("ids.csv", "id", ["1"], [null])));

        error.Kind.ShouldBe(ErrorKind.Schema);
        error.Message.ShouldContain("row 2");
        error.Message.ShouldContain("'id'");
        (await Warehouse.CountRowsAsync(Table, 1, default)).ShouldBe(0);
    }

    [WarehouseFact]
    public async Task Load_WithInvalidTableName_FailsAsConfig()
    {
        foreach (var name in new[] { "bad-name", "a.b.c", "x; drop table y", "1abc", "", "sch.", "\"quoted\"" })
        {
            var error = await Should.ThrowAsync<IntakeException>(() =>
                Warehouse.LoadAsync(Request(name, 1, null), Sources(ListRowSource.Of("a.csv", "a", ["1"])), default));
            error.Kind.ShouldBe(ErrorKind.Config, $"table name '{name}'");
        }
    }

    [WarehouseFact]
    public async Task Load_ManySources_WritesAllIntoOneTableAndDisposesThem()
    {
        var first = Rows("part1.csv", 3);
        var second = ListRowSource.Of("part2.csv", "name,id", ["x", "100"], ["y", "101"]);

        var result = await LoadAsync(5, null, first, second);

        result.ShouldBe(new WarehouseLoadResult(5, 5, 0));
        (await Warehouse.CountRowsAsync(Table, 5, default)).ShouldBe(5);
        (await ScalarAsync<string>($"select name from {Table} where id = '101'")).ShouldBe("y");
        first.Disposed.ShouldBeTrue();
        second.Disposed.ShouldBeTrue();
    }

    [WarehouseFact]
    public async Task Load_IntoSchemaQualifiedTable_CreatesItAndCountsRows()
    {
        var table = $"staging.{Table}";

        await Warehouse.LoadAsync(Request(table, 3, null), Sources(Rows("a.csv", 2)), default);

        (await Warehouse.CountRowsAsync(table, 3, default)).ShouldBe(2);
        (await Warehouse.CountRowsAsync(Table, 3, default)).ShouldBe(0);
    }

    [WarehouseFact]
    public async Task CountRows_WhenTableDoesNotExist_ReturnsZero()
    {
        (await Warehouse.CountRowsAsync("no_such_table", 1, default)).ShouldBe(0);
    }

    private string Target => Table + "_app";

    private WarehouseMergeRequest Merge(long loadId, string? transform = null) => new()
    {
        StagingTable = Table,
        LoadId = loadId,
        TargetTable = Target,
        KeyColumns = ["id"],
        TransformSql = transform,
        SetupSql = $"create table if not exists {Target} (id bigint primary key, name text, amount decimal)",
        Step = "merge",
    };

    private static readonly ColumnSpec[] MergeColumns = [new("id", ColumnType.BigInt, false), new("name", ColumnType.Text), new("amount", ColumnType.Decimal)];

    [WarehouseFact]
    public async Task Merge_InsertsThenUpdatesByKey_AndRepeatingItChangesNothing()
    {
        await LoadAsync(1, MergeColumns, ListRowSource.Of("a.csv", "id,name,amount", ["1", "one", "1.5"], ["2", "two", "2.5"]));
        await LoadAsync(2, MergeColumns, ListRowSource.Of("b.csv", "id,name,amount", ["2", "TWO", "20"], ["3", "three", "3"]));

        var first = await Warehouse.MergeAsync(Merge(1), default);
        var second = await Warehouse.MergeAsync(Merge(2), default);
        var again = await Warehouse.MergeAsync(Merge(2), default);

        first.ShouldBe(new WarehouseMergeResult(2, 2));
        second.ShouldBe(new WarehouseMergeResult(2, 2));
        again.RowsInStaging.ShouldBe(2);
        (await ScalarAsync<long>($"select count(*) from {Target}")).ShouldBe(3);
        (await ScalarAsync<string>($"select name from {Target} where id = 2")).ShouldBe("TWO");
        (await ScalarAsync<long>($"select count(*) from _intake_ledger where step = 'merge' and load_id = 2")).ShouldBeGreaterThanOrEqualTo(1);
    }

    [WarehouseFact]
    public async Task Merge_WithTransform_WritesWhatTheTransformSelects()
    {
        await LoadAsync(7, MergeColumns, ListRowSource.Of("a.csv", "id,name,amount", ["1", "one", "1.5"], ["2", "two", "-4"]));

        var result = await Warehouse.MergeAsync(Merge(7, "select id, upper(name) as name, amount * 2 as amount from {staging} where _intake_load_id = {load_id} and amount > 0"), default);

        result.ShouldBe(new WarehouseMergeResult(2, 1));
        (await ScalarAsync<string>($"select name from {Target} where id = 1")).ShouldBe("ONE");
        (await ScalarAsync<long>($"select count(*) from {Target}")).ShouldBe(1);
    }

    [WarehouseFact]
    public async Task Merge_WithVersionColumn_AnOlderLoadMergedLater_DoesNotOverwriteNewerRows()
    {
        var setup = $"create table if not exists {Target} (id bigint primary key, name text, amount decimal, version bigint)";
        const string transform = "select id, name, amount, _intake_load_id as version from {staging} where _intake_load_id = {load_id}";
        await LoadAsync(1, MergeColumns, ListRowSource.Of("old.csv", "id,name,amount", ["1", "old", "1"], ["2", "old", "2"]));
        await LoadAsync(2, MergeColumns, ListRowSource.Of("new.csv", "id,name,amount", ["2", "new", "20"]));

        await Warehouse.MergeAsync(Merge(2, transform) with { SetupSql = setup, VersionColumn = "version" }, default);
        var late = await Warehouse.MergeAsync(Merge(1, transform) with { SetupSql = setup, VersionColumn = "version" }, default);

        late.ShouldBe(new WarehouseMergeResult(2, 1, 1)); // id 1 inserted, id 2 left alone and counted as such
        (await ScalarAsync<string>($"select name from {Target} where id = 2")).ShouldBe("new");
        (await ScalarAsync<string>($"select name from {Target} where id = 1")).ShouldBe("old");
    }

    [WarehouseFact]
    public async Task Merge_KeyTwiceInOneLoad_IsIntegrityError_NamingTheKey_AndMergesNothing()
    {
        await LoadAsync(3, MergeColumns, ListRowSource.Of("a.csv", "id,name,amount", ["5", "a", "1"], ["6", "b", "1"], ["5", "c", "1"]));

        var e = await Should.ThrowAsync<IntakeException>(() => Warehouse.MergeAsync(Merge(3), default));

        e.Kind.ShouldBe(ErrorKind.Integrity);
        e.Message.ShouldContain("(id) = (5) occurs 2 times");
        // rolled back whole: not even the setup's table, nor a ledger row, remains
        (await ScalarAsync<long>("select count(*) from _intake_ledger where step = 'merge' and load_id = 3")).ShouldBe(0);
    }

    [WarehouseFact]
    public async Task Merge_TransformWithoutTheKey_IsConfigError()
    {
        await LoadAsync(4, MergeColumns, ListRowSource.Of("a.csv", "id,name,amount", ["1", "a", "1"]));

        var e = await Should.ThrowAsync<IntakeException>(() => Warehouse.MergeAsync(Merge(4, "select name from {staging}"), default));

        e.Kind.ShouldBe(ErrorKind.Config);
        e.Message.ShouldContain("key column(s) id");
    }

    protected Task<WarehouseLoadResult> LoadAsync(long loadId, IReadOnlyList<ColumnSpec>? columns, params IRowSource[] sources) =>
        Warehouse.LoadAsync(Request(Table, loadId, columns), Sources(sources), default);

    protected Task<WarehouseLoadResult> LoadAsync(long loadId, IReadOnlyList<ColumnSpec>? columns, IRowSource source, int attempt, string step = "load") =>
        Warehouse.LoadAsync(Request(Table, loadId, columns) with { Attempt = attempt, Step = step }, Sources(source), default);

    protected static IAsyncEnumerable<IRowSource> Sources(params IRowSource[] sources) => sources.ToAsyncEnumerable();

    protected static WarehouseLoadRequest Request(string table, long loadId, IReadOnlyList<ColumnSpec>? columns) =>
        new() { Table = table, LoadId = loadId, Columns = columns, Step = "load" };

    protected static ListRowSource Rows(string name, int count) =>
        new(name, ["id", "name"], Enumerable.Range(1, count).Select(i => new string?[] { i.ToString(System.Globalization.CultureInfo.InvariantCulture), $"n{i}" }));
}
