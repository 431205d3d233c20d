using System.Collections.Concurrent;
using Intake.Warehouse.Loading;

namespace Intake.Warehouse.Postgres;

/// <summary>
/// The tables this process last saw existing with their <c>_intake_load_id</c> column: a hint, never trusted for a
/// table's columns (a load still reads them, in the same round trip), only to send the delete of a load's earlier rows
/// in that round trip too (<see cref="PostgresSession.DescribeForLoadAsync"/>). A stale hint (the table dropped since)
/// costs that load a second try of its first round trip.
/// </summary>
internal sealed class KnownTables
{
    private readonly ConcurrentDictionary<TableName, bool> _tables = new();

    public bool Contains(TableName table) => _tables.ContainsKey(table);

    /// <summary>Records what a describe just showed: known when it has the load id column, forgotten otherwise.</summary>
    public void Update(TableName table, TableShape? shape)
    {
        if (shape is { HasLoadIdColumn: true })
        {
            _tables[table] = true;
        }
        else
        {
            _tables.TryRemove(table, out _);
        }
    }

    public void Forget(TableName table) => _tables.TryRemove(table, out _);
}
