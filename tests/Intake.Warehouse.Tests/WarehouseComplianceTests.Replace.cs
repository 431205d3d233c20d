using Intake.Core.Errors;
using Intake.Core.Ports;
using Intake.Warehouse.Tests.Support;

namespace Intake.Warehouse.Tests;

/// <summary>
/// Loads that replace a partition (<see cref="WarehouseLoadRequest.ReplaceWhere"/>): a daily file's day, delivered
/// again with new content, replaces that day's rows in the load's one transaction, and the newest delivery wins in any order.
/// </summary>
public abstract partial class WarehouseComplianceTests
{
    private static readonly DateOnly DayA = new(2022, 3, 4);
    private static readonly DateOnly DayB = new(2022, 3, 5);

    private Task<WarehouseLoadResult> LoadDayAsync(long loadId, DateOnly day, IRowSource source, int attempt = 1, CancellationToken cancellationToken = default) =>
        Warehouse.LoadAsync(DayRequest(loadId, day) with { Attempt = attempt }, Sources(source), cancellationToken);

    private WarehouseLoadRequest DayRequest(long loadId, DateOnly day) =>
        Request(Table, loadId, null) with { Constants = [new ConstantColumn("day", ColumnType.Date, day)], ReplaceWhere = ["day"] };

    private static ListRowSource DayRows(string name, int count, string tag) =>
        new(name, ["id", "name"], Enumerable.Range(1, count).Select(i => new string?[] { i.ToString(System.Globalization.CultureInfo.InvariantCulture), tag }));

    /// <summary>Per day and name: "day name rows load".</summary>
    private async Task<List<string>> DaysAsync() =>
        (await RowsAsync($"select cast(day as varchar(10)), name, count(*), min(_intake_load_id) from {Table} group by day, name order by 1, 2"))
        .Select(r => string.Join(' ', r)).ToList();

    [WarehouseFact]
    public async Task Load_ReplacingByDay_ADayDeliveredAgain_ReplacesThatDaysRowsOnly_AndSaysWhoseRows()
    {
        await LoadDayAsync(1, DayA, DayRows("20220304.csv", 3, "old"));
        await LoadDayAsync(2, DayB, DayRows("20220305.csv", 2, "other"));

        var again = await LoadDayAsync(3, DayA, DayRows("20220304.csv", 4, "new"));

        (again.RowsRead, again.RowsWritten).ShouldBe((4L, 4L));
        again.Replaced.ShouldBe([new ReplacedRows(1, 3, "day=2022-03-04", 3)]);
        again.Superseded.ShouldBeNull();
        (await DaysAsync()).ShouldBe(["2022-03-04 new 4 3", "2022-03-05 other 2 2"]);
        // The ledger keeps each load's own row; the replaced load's rows are accounted for, not lost.
        (await Warehouse.GetReplacedAsync(Table, 1, default)).ShouldBe(new ReplacedRows(1, 3, "day=2022-03-04", 3));
        (await Warehouse.GetReplacedAsync(Table, 2, default)).ShouldBeNull();
        (await Warehouse.GetReplacedAsync(Table, 3, default)).ShouldBeNull();
        (await ScalarAsync<long>($"select rows_written from _intake_ledger where load_id = 1 and table_name = '{Table}'")).ShouldBe(3);
    }

    [WarehouseFact]
    public async Task Load_ReplacingByDay_RetryOfTheNewLoad_KeepsOnlyItsRows()
    {
        await LoadDayAsync(1, DayA, DayRows("a.csv", 3, "old"));
        await LoadDayAsync(2, DayA, DayRows("a.csv", 4, "new"));

        var retry = await LoadDayAsync(2, DayA, DayRows("a.csv", 4, "new"), attempt: 2);

        retry.RowsDeletedFromEarlierAttempts.ShouldBe(4);
        (await DaysAsync()).ShouldBe(["2022-03-04 new 4 2"]);
        (await Warehouse.GetReplacedAsync(Table, 1, default)).ShouldBe(new ReplacedRows(1, 2, "day=2022-03-04", 3));
    }

    [WarehouseFact]
    public async Task Load_ReplacingByDay_AnOlderDeliveryLoadedAfterTheNewerOne_IsSuperseded_AndTheNewerRowsStay()
    {
        await LoadDayAsync(5, DayA, DayRows("a.csv", 2, "newer"));
        await LoadDayAsync(2, DayB, DayRows("b.csv", 1, "other"));

        // A re-drive of the older delivery: its rows are read and checked as ever, and given up at once.
        var redriven = await LoadDayAsync(4, DayA, DayRows("a.csv", 3, "older"));

        (redriven.RowsRead, redriven.RowsWritten).ShouldBe((3L, 3L));
        redriven.Superseded.ShouldBe(new ReplacedRows(4, 5, "day=2022-03-04", 3));
        redriven.Replaced.ShouldBeEmpty();
        (await DaysAsync()).ShouldBe(["2022-03-04 newer 2 5", "2022-03-05 other 1 2"]);
        (await Warehouse.GetReplacedAsync(Table, 4, default)).ShouldBe(new ReplacedRows(4, 5, "day=2022-03-04", 3));
    }

    [WarehouseFact]
    public async Task Load_ReplacingByDay_AnEmptyNewerDelivery_StillWins()
    {
        await LoadDayAsync(1, DayA, DayRows("a.csv", 3, "first"));
        await LoadDayAsync(3, DayA, ListRowSource.Of("a.csv", "id,name"));

        var redriven = await LoadDayAsync(2, DayA, DayRows("a.csv", 2, "second"));

        redriven.Superseded!.ReplacedBy.ShouldBe(3);
        (await ScalarAsync<long>($"select count(*) from {Table}")).ShouldBe(0);
    }

    [WarehouseFact]
    public async Task Load_ReplacingByDay_TwoDeliveriesOfADayAtOnce_TheNewerWins_WhicheverCommitsFirst()
    {
        await LoadDayAsync(1, DayA, DayRows("a.csv", 3, "first"));

        // The newer load stalls half-way through its rows, holding the day; the older one starts meanwhile.
        var newerRows = new GatedRowSource(DayRows("a.csv", 50, "newer"), 20);
        var newer = LoadDayAsync(11, DayA, newerRows);
        await newerRows.Stalled.Task.WaitAsync(TimeSpan.FromMinutes(1));
        var older = Task.Run(() => LoadDayAsync(10, DayA, DayRows("a.csv", 7, "older")));
        await Task.Delay(300); // lets the older load reach the day's lock: it must wait there, whatever this delay
        newerRows.Release();
        await Task.WhenAll(newer, older).WaitAsync(TimeSpan.FromMinutes(1));

        (await DaysAsync()).ShouldBe(["2022-03-04 newer 50 11"]);
        (await older).Superseded!.ReplacedBy.ShouldBe(11);

        // And the other way round: the older load holds the day first; the newer one waits, then replaces it.
        var olderRows = new GatedRowSource(DayRows("b.csv", 30, "older"), 10);
        var first = LoadDayAsync(20, DayB, olderRows);
        await olderRows.Stalled.Task.WaitAsync(TimeSpan.FromMinutes(1));
        var second = Task.Run(() => LoadDayAsync(21, DayB, DayRows("b.csv", 5, "newer")));
        await Task.Delay(300);
        olderRows.Release();
        await Task.WhenAll(first, second).WaitAsync(TimeSpan.FromMinutes(1));

        (await DaysAsync()).ShouldBe(["2022-03-04 newer 50 11", "2022-03-05 newer 5 21"]);
        (await second).Replaced.ShouldBe([new ReplacedRows(20, 21, "day=2022-03-05", 30)]);
    }

    [WarehouseFact]
    public async Task Load_ReplacingByDay_WhenTheNewRowsCannotBeCast_KeepsTheOldDayWhole()
    {
        await LoadDayAsync(1, DayA, DayRows("a.csv", 3, "old"));
        var bad = ListRowSource.Of("a.csv", "id,name", ["1", "x"], ["2", "y"]);

        await Should.ThrowAsync<IntakeException>(() => Warehouse.LoadAsync(
            DayRequest(2, DayA) with { Columns = [new("id", ColumnType.Integer), new("name", ColumnType.Integer)] }, Sources(bad), default));

        (await DaysAsync()).ShouldBe(["2022-03-04 old 3 1"]);
        (await Warehouse.GetReplacedAsync(Table, 1, default)).ShouldBeNull();
    }

    [WarehouseFact]
    public async Task Load_WhenTheFileHasAColumnNamedLikeAConstant_FailsAsSchemaNamingIt()
    {
        var error = await Should.ThrowAsync<IntakeException>(() => LoadDayAsync(1, DayA, ListRowSource.Of("20220304.csv", "day,n", ["2022-03-04", "1"])));

        error.Kind.ShouldBe(ErrorKind.Schema);
        error.Message.ShouldContain("'20220304.csv' has a column 'day'");
        error.Message.ShouldContain("cubic.dmap.day_column");
    }

    /// <summary>A source that stops after some rows until released.</summary>
    private sealed class GatedRowSource(ListRowSource rows, long stallAfter) : IRowSource
    {
        private readonly TaskCompletionSource _gate = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public TaskCompletionSource Stalled { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public string SourceName => rows.SourceName;

        public IReadOnlyList<string> Columns => rows.Columns;

        public int FieldCount => rows.FieldCount;

        public long RowNumber => rows.RowNumber;

        public long LineNumber => rows.LineNumber;

        public void Release() => _gate.TrySetResult();

        public async ValueTask<bool> ReadAsync(CancellationToken cancellationToken)
        {
            if (rows.RowNumber == stallAfter)
            {
                Stalled.TrySetResult();
                await _gate.Task.WaitAsync(cancellationToken);
            }

            return await rows.ReadAsync(cancellationToken);
        }

        public string? GetString(int ordinal) => rows.GetString(ordinal);

        public void Dispose() => rows.Dispose();

        public ValueTask DisposeAsync() => rows.DisposeAsync();
    }
}
