using System.Collections.Concurrent;
using Intake.Warehouse.Loading;

namespace Intake.Warehouse.Postgres;

/// <summary>
/// The tables this process last saw existing with their <c>_intake_load_id</c> column, with the columns it saw: a hint,
/// never trusted on its own. A load still reads the table's columns in its first round trip; the hint lets it send the
/// delete of its earlier rows in that round trip too (<see cref="PostgresSession.DescribeForLoadAsync"/>), and lets a
/// small load encode its rows before any round trip (<see cref="LoadGroups"/>), checked against that read before they
/// are sent. A stale hint (the table dropped or changed since) costs that load a second try.
/// </summary>
internal sealed class KnownTables
{
    private readonly ConcurrentDictionary<TableName, TableShape> _tables = new();

    public bool Contains(TableName table) => _tables.ContainsKey(table);

    /// <summary>The columns last seen, or null when the table is not known to have its load id column.</summary>
    public TableShape? Shape(TableName table) => _tables.GetValueOrDefault(table);

    /// <summary>Records what a describe just showed: known when it has the load id column, forgotten otherwise.</summary>
    public void Update(TableName table, TableShape? shape)
    {
        if (shape is { HasLoadIdColumn: true })
        {
            _tables[table] = shape;
        }
        else
        {
            _tables.TryRemove(table, out _);
        }
    }

    public void Forget(TableName table) => _tables.TryRemove(table, out _);
}
