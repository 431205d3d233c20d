using System.Globalization;
using Intake.Core.Ports;
using Intake.Warehouse.Tests.Support;

namespace Intake.Warehouse.Tests;

/// <summary>Constant columns on a load, and change logs applied to a current-state table.</summary>
public abstract partial class WarehouseComplianceTests
{
    private string ChangeTable => Table + "_ct";

    private string CurrentTable => Table + "_cur";

    [WarehouseFact]
    public async Task Load_WithConstants_WritesTheValueOnEveryRowOfThatLoadOnly()
    {
        var first = new DateTimeOffset(2022, 3, 4, 13, 45, 56, TimeSpan.Zero);
        await Warehouse.LoadAsync(Request(Table, 1, null) with { Constants = [new ConstantColumn("snapshot", ColumnType.TimestampTz, first)] }, Sources(Rows("LOAD1.csv", 3)), default);
        // An existing table without the column gets it.
        var other = ListRowSource.Of("x.csv", "id,name", ["9", "z"]);
        await Warehouse.LoadAsync(Request(Table + "_b", 1, null), Sources(ListRowSource.Of("x.csv", "id,name", ["1", "a"])), default);
        await Warehouse.LoadAsync(Request(Table + "_b", 2, null) with { Constants = [new ConstantColumn("day", ColumnType.Date, new DateOnly(2022, 3, 4))] }, Sources(other), default);

        (await ScalarAsync<long>($"select count(*) from {Table} where snapshot is not null")).ShouldBe(3);
        (await ScalarAsync<DateTimeOffset>($"select snapshot from {Table} where id = '2'")).ShouldBe(first);
        (await ScalarAsync<string>($"select name from {Table}_b where day is null")).ShouldBe("a");
        (await ScalarAsync<DateOnly>($"select day from {Table}_b where id = '9'")).ShouldBe(new DateOnly(2022, 3, 4));
    }

    [WarehouseFact]
    public async Task ApplyChanges_SnapshotThenAThousandRandomChangeFiles_CurrentTableEqualsTheSource()
    {
        var random = new Random(12);
        var source = new SortedDictionary<int, string>();
        var seq = 0L;
        string Seq() => (++seq).ToString("D20", CultureInfo.InvariantCulture);
        for (var k = 0; k < 150; k++)
        {
            source[k] = "v" + random.Next(1000).ToString(CultureInfo.InvariantCulture);
        }

        await Warehouse.LoadAsync(
            Request(Table, 1, null) with { Constants = [new ConstantColumn("snapshot", ColumnType.TimestampTz, DateTimeOffset.UnixEpoch)] },
            Sources(new ListRowSource("LOAD1.csv", ["id", "val"], source.Select(p => new string?[] { Key(p.Key), p.Value }).ToList())),
            default);

        var files = new List<(long Load, ListRowSource Rows)>();
        for (var f = 0; f < 1000; f++)
        {
            var rows = new List<string?[]>();
            for (var r = random.Next(1, 8); r > 0; r--)
            {
                var k = random.Next(300); // half the keys start absent; keys repeat within and across files
                if (source.TryGetValue(k, out var before) && random.Next(3) == 0)
                {
                    rows.Add([Seq(), "D", Key(k), before]);
                    source.Remove(k);
                }
                else if (source.TryGetValue(k, out before))
                {
                    var after = "v" + random.Next(1000).ToString(CultureInfo.InvariantCulture);
                    rows.Add([Seq(), "B", Key(k), before]); // the before-image, ignored
                    rows.Add([Seq(), "U", Key(k), after]);
                    source[k] = after;
                }
                else
                {
                    var value = "v" + random.Next(1000).ToString(CultureInfo.InvariantCulture);
                    rows.Add([Seq(), "I", Key(k), value]);
                    source[k] = value;
                }
            }

            files.Add((1000 + f, new ListRowSource($"{f:D5}.csv", ["header__change_seq", "header__change_oper", "id", "val"], rows)));
        }

        foreach (var (load, rows) in files)
        {
            await Warehouse.LoadAsync(Request(ChangeTable, load, null), Sources(rows), default);
        }

        // Applied in a shuffled order: the sequence guard and the tombstones make the order irrelevant.
        foreach (var (load, _) in files.OrderBy(_ => random.Next()))
        {
            (await Warehouse.ApplyChangesAsync(Change(load), default)).Outcome.ShouldBe(ChangeOutcome.Applied);
        }

        var current = await RowsAsync($"select id, val from {CurrentTable} order by id");
        current.Select(r => $"{r[0]}={r[1]}").ShouldBe(source.Select(p => $"{Key(p.Key)}={p.Value}"));
    }

    [WarehouseFact]
    public async Task ApplyChanges_Redrive_ChangesNothing()
    {
        await LoadSnapshotAsync(1, ["1", "a"], ["2", "b"]);
        await LoadChangeAsync(10, ["0001", "U", "1", "a2"], ["0002", "D", "2", "b"], ["0003", "I", "3", "c"]);
        (await Warehouse.ApplyChangesAsync(Change(10), default)).ShouldBe(new WarehouseChangeResult(ChangeOutcome.Applied, true, 3));
        // A later change, then the first one again (a re-drive): nothing moves back.
        await LoadChangeAsync(11, ["0004", "U", "1", "a3"]);
        await Warehouse.ApplyChangesAsync(Change(11), default);

        (await Warehouse.ApplyChangesAsync(Change(10) with { Attempt = 2 }, default)).ShouldBe(new WarehouseChangeResult(ChangeOutcome.AlreadyApplied, false, 0));

        (await RowsAsync($"select id, val from {CurrentTable} order by id")).Select(r => $"{r[0]}={r[1]}").ShouldBe(["1=a3", "3=c"]);
    }

    [WarehouseFact]
    public async Task ApplyChanges_ANewGeneration_RebuildsFromItsRowsAndOlderChangesAreSuperseded()
    {
        await LoadSnapshotAsync(1, ["1", "a"]);
        await LoadChangeAsync(10, ["0001", "I", "2", "b"]);
        await Warehouse.ApplyChangesAsync(Change(10), default);
        await LoadSnapshotAsync(2, ["7", "x"], ["8", "y"]);
        await LoadChangeAsync(11, ["0005", "D", "7", "x"]);

        var applied = await Warehouse.ApplyChangesAsync(Change(11) with { Generation = "g2", BaseLoadIds = [2] }, default);
        var late = await Warehouse.ApplyChangesAsync(Change(10), default);

        applied.ShouldBe(new WarehouseChangeResult(ChangeOutcome.Applied, true, 1));
        late.Outcome.ShouldBe(ChangeOutcome.Superseded);
        (await RowsAsync($"select id, val from {CurrentTable} order by id")).Select(r => $"{r[0]}={r[1]}").ShouldBe(["8=y"]);
    }

    [WarehouseFact]
    public async Task ApplyChanges_WithoutAChangeTable_BuildsTheStartingState()
    {
        await LoadSnapshotAsync(1, ["1", "a"], ["2", "b"]);

        var built = await Warehouse.ApplyChangesAsync(Change(1) with { ChangeTable = null }, default);

        built.ShouldBe(new WarehouseChangeResult(ChangeOutcome.Built, true, 0));
        (await ScalarAsync<long>($"select count(*) from {CurrentTable}")).ShouldBe(2);
    }

    private static string Key(int k) => k.ToString("D4", CultureInfo.InvariantCulture);

    private WarehouseChangeRequest Change(long load) => new()
    {
        Target = CurrentTable,
        KeyColumns = ["id"],
        Generation = "g1",
        BaseTable = Table,
        BaseLoadIds = [1],
        ExcludedColumns = ["snapshot"],
        ChangeTable = ChangeTable,
        LoadId = load,
        SequenceColumn = "header__change_seq",
        OperationColumn = "header__change_oper",
        Step = "apply",
    };

    private Task LoadSnapshotAsync(long load, params string?[][] rows) =>
        Warehouse.LoadAsync(
            Request(Table, load, null) with { Constants = [new ConstantColumn("snapshot", ColumnType.TimestampTz, DateTimeOffset.UnixEpoch.AddDays(load))] },
            Sources(new ListRowSource("LOAD1.csv", ["id", "val"], rows)),
            default);

    private Task LoadChangeAsync(long load, params string?[][] rows) =>
        Warehouse.LoadAsync(Request(ChangeTable, load, null), Sources(new ListRowSource("c.csv", ["header__change_seq", "header__change_oper", "id", "val"], rows)), default);
}
