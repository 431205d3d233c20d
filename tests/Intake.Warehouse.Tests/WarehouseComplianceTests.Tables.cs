using Intake.Core.Errors;
using Intake.Core.Ports;
using Intake.Warehouse.Tests.Support;

namespace Intake.Warehouse.Tests;

/// <summary>One load's rows into several tables in one transaction (a parsing module's output): append and upsert.</summary>
public abstract partial class WarehouseComplianceTests
{
    private string Second => Table + "_two";

    private static WarehouseTableWrite Write(string table, IRowSource source, TableWriteMode mode = TableWriteMode.Append, IReadOnlyList<string>? key = null) =>
        new() { Table = table, Mode = mode, Key = key ?? [], Sources = Sources(source) };

    private Task<IReadOnlyList<WarehouseTableResult>> WriteTablesAsync(long loadId, int attempt, params WarehouseTableWrite[] tables) =>
        Warehouse.WriteTablesAsync(new WarehouseTablesRequest { LoadId = loadId, Step = "module", Attempt = attempt, Tables = tables }, default);

    [WarehouseFact]
    public async Task WriteTables_TwoTables_WritesBothWithALedgerRowEach_AndARerunReplacesTheLoadsRows()
    {
        await WriteTablesAsync(1, 1, Write(Table, Rows("a.csv", 3)), Write(Second, ListRowSource.Of("b.csv", "k,v", ["x", "1"])));
        var rerun = await WriteTablesAsync(1, 2, Write(Table, Rows("a.csv", 3)), Write(Second, ListRowSource.Of("b.csv", "k,v", ["x", "1"])));

        rerun.Select(r => (r.Table, r.RowsWritten, r.RowsDeletedFromEarlierAttempts)).ShouldBe([(Table, 3L, 3L), (Second, 1L, 1L)]);
        (await ScalarAsync<long>($"select count(*) from {Table}")).ShouldBe(3);
        (await ScalarAsync<long>($"select count(*) from {Second}")).ShouldBe(1);
        (await ScalarAsync<long>($"select rows_written from _intake_ledger where load_id = 1 and step = 'module' and attempt = 2 and table_name = '{Second}'")).ShouldBe(1);
    }

    [WarehouseFact]
    public async Task WriteTables_WhenTheSecondTableFails_LeavesTheFirstAsItWas()
    {
        await WriteTablesAsync(1, 1, Write(Table, Rows("a.csv", 2)));
        var typed = new WarehouseTableWrite { Table = Second, Columns = [new("k", ColumnType.Text), new("v", ColumnType.Integer)], Sources = Sources(ListRowSource.Of("b.csv", "k,v", ["y", "2"], ["z", "two"])) };

        var error = await Should.ThrowAsync<IntakeException>(() => WriteTablesAsync(2, 1, Write(Table, Rows("c.csv", 5)), typed));

        error.Kind.ShouldBe(ErrorKind.Schema);
        error.Message.ShouldContain("b.csv");
        error.Message.ShouldContain("row 2");
        (await ScalarAsync<long>($"select count(*) from {Table}")).ShouldBe(2);
        (await ScalarAsync<long>($"select count(*) from _intake_ledger where load_id = 2 and table_name = '{Table}'")).ShouldBe(0);
    }

    [WarehouseFact]
    public async Task WriteTables_Upsert_ANewerLoadReplacesRowsWithItsKeys_AndAnOlderLoadReDrivenNeverOverwritesThem()
    {
        string[] key = ["grid", "day"];
        await WriteTablesAsync(1, 1, Write(Table, ListRowSource.Of("r1.csv", "grid,day,used", ["g1", "2023-01-13", "10"], ["g2", "2023-01-13", "20"]), TableWriteMode.Upsert, key));

        // The report of g1 for that day is delivered again, corrected: it replaces the first one's row.
        var second = await WriteTablesAsync(2, 1, Write(Table, ListRowSource.Of("r2.csv", "grid,day,used", ["g1", "2023-01-13", "11"], ["g1", "2023-01-14", "12"]), TableWriteMode.Upsert, key));
        second.Single().RowsReplaced.ShouldBe(1);

        // Load 1 is re-driven: its g1 row is older than load 2's and is dropped; its g2 row stays (no newer one).
        var redrive = await WriteTablesAsync(1, 2, Write(Table, ListRowSource.Of("r1.csv", "grid,day,used", ["g1", "2023-01-13", "10"], ["g2", "2023-01-13", "20"]), TableWriteMode.Upsert, key));

        redrive.Single().RowsKeptNewer.ShouldBe(1);
        redrive.Single().RowsWritten.ShouldBe(1);
        (await RowsAsync($"select grid, day, used from {Table} order by grid, day")).ShouldBe(
            [["g1", "2023-01-13", "11"], ["g1", "2023-01-14", "12"], ["g2", "2023-01-13", "20"]]);
    }

    [WarehouseFact]
    public async Task WriteTables_Upsert_AKeyTwiceInOneLoad_FailsAsIntegrityNamingTheKey_AndWritesNothing()
    {
        var error = await Should.ThrowAsync<IntakeException>(() => WriteTablesAsync(
            1, 1, Write(Second, Rows("a.csv", 1)), Write(Table, ListRowSource.Of("r.csv", "grid,used", ["g1", "1"], ["g1", "2"]), TableWriteMode.Upsert, ["grid"])));

        error.Kind.ShouldBe(ErrorKind.Integrity);
        error.Message.ShouldContain("(grid) = (g1) occurs 2 times");
        (await Warehouse.CountRowsAsync(Second, 1, default)).ShouldBe(0);
    }

    [WarehouseFact]
    public async Task WriteTables_Upsert_WithConstantColumnInTheKey_MatchesOnIt()
    {
        WarehouseTableWrite For(string grid, string used) => Write(Table, ListRowSource.Of("r.csv", "day,used", ["2023-01-13", used]), TableWriteMode.Upsert, ["grid", "day"])
            with { Constants = [new ConstantColumn("grid", ColumnType.Text, grid)] };

        await WriteTablesAsync(1, 1, For("g1", "1"));
        await WriteTablesAsync(2, 1, For("g2", "2"));
        await WriteTablesAsync(3, 1, For("g1", "3"));

        (await RowsAsync($"select grid, used from {Table} order by grid")).ShouldBe([["g1", "3"], ["g2", "2"]]);
    }
}
