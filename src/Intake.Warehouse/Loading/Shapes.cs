using Intake.Core.Ports;

namespace Intake.Warehouse.Loading;

/// <summary>A column of a table that exists already, as the database describes it.</summary>
/// <param name="Type">The Intake type the column stores; null when Intake has no cast for the database's type.</param>
/// <param name="StoreType">The database's own type name (json and jsonb differ on the wire, for example).</param>
internal sealed record ExistingColumn(string Name, ColumnType? Type, string StoreType, bool Nullable, bool HasDefault);

/// <summary>An existing table: its columns other than <c>_intake_load_id</c>.</summary>
internal sealed record TableShape(IReadOnlyList<ExistingColumn> Columns, bool HasLoadIdColumn)
{
    /// <summary>Whether both describe the same columns, in the same order (a record compares its list by reference).</summary>
    public bool SameAs(TableShape? other) =>
        other is not null && HasLoadIdColumn == other.HasLoadIdColumn && Columns.SequenceEqual(other.Columns);
}

/// <summary>A column rows are written to, with the type values are cast to.</summary>
/// <param name="Writable">False for an existing column of a type Intake has no cast for; loading it is a schema error.</param>
internal sealed record TargetColumn(string Name, ColumnType Type, string? StoreType, bool Nullable, bool HasDefault, bool Writable = true);

/// <summary>How one source's fields go to the table: the written columns, in order, and each one's field ordinal.</summary>
internal sealed record CopyPlan(IReadOnlyList<TargetColumn> Columns, IReadOnlyList<int> Ordinals)
{
    public int MaxOrdinal { get; } = Ordinals.Count == 0 ? -1 : Ordinals.Max();
}

/// <summary>Rows read from a source and rows the database acknowledged.</summary>
internal readonly record struct CopyCount(long Read, long Written);
