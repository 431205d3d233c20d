using Intake.Sources;

namespace Intake.Engine.Cubic;

/// <summary>A pipeline's <c>cubic:</c> settings: the parts of the Cubic design it applies to its source tables.</summary>
public sealed record CubicConfig
{
    /// <summary><c>cubic.ods</c>: tables delivered as ODS snapshots (<c>LOAD…</c> files) with change files (<c>&lt;table&gt;__ct</c>); null when none.</summary>
    public OdsConfig? Ods { get; init; }

    /// <summary><c>cubic.dmap</c>: tables delivered as daily files (<c>&lt;yyyymmdd&gt;.csv[.gz]</c>); null when none.</summary>
    public DmapConfig? Dmap { get; init; }
}

/// <summary>
/// <c>cubic.dmap</c>: which source tables are DMAP datasets, delivered a day per file. Each load's rows get the file's
/// day in a column, and a day delivered again (same key, new content: a new load) replaces that day's rows.
/// </summary>
public sealed record DmapConfig
{
    /// <summary>The default name of the day column.</summary>
    public const string DefaultDayColumn = "day";

    /// <summary>Globs on table names (<c>cubic__dmap__*</c>).</summary>
    public required IReadOnlyList<Glob> Tables { get; init; }

    /// <summary>The column (type date) that holds each row's day; also the lake partition's name.</summary>
    public string DayColumn { get; init; } = DefaultDayColumn;

    /// <summary>Whether a source table is one of these DMAP datasets.</summary>
    public bool Covers(string table) => Tables.Any(g => g.IsMatch(table));
}

/// <summary>
/// <c>cubic.ods</c>: which source tables are ODS tables, and which of them get a current-state table. A change table
/// (<c>&lt;base&gt;__ct</c>) belongs to its base table, so the globs name base tables.
/// </summary>
public sealed record OdsConfig
{
    /// <summary>The default name of a current-state table: the base table's name with <c>__current</c>.</summary>
    public const string DefaultCurrent = "{table}__current";

    /// <summary>Globs on base table names (<c>cubic__ods_qlik__*</c>).</summary>
    public required IReadOnlyList<Glob> Tables { get; init; }

    /// <summary>Base table → its key columns: these tables get a current-state table maintained from their change files.</summary>
    public IReadOnlyDictionary<string, IReadOnlyList<string>> Keys { get; init; } = new Dictionary<string, IReadOnlyList<string>>();

    /// <summary>The current-state table's name; <c>{table}</c> is the base table.</summary>
    public string Current { get; init; } = DefaultCurrent;

    /// <summary>Whether a base table is one of these ODS tables.</summary>
    public bool Covers(string baseTable) => Tables.Any(g => g.IsMatch(baseTable));

    /// <summary>The current-state table of a base table with a declared key; null for a table without a key.</summary>
    public string? CurrentTableOf(string baseTable) =>
        Keys.ContainsKey(baseTable) ? Current.Replace("{table}", baseTable, StringComparison.Ordinal) : null;
}
