using Intake.Engine.Configuration;
using Intake.Engine.SourceKinds;
using Intake.Engine.Steps;
using Intake.Sources;

namespace Intake.Engine.Cubic;

/// <summary>
/// Reads a pipeline's top-level <c>cubic:</c> key (one method per sub-key), reporting every problem with the file,
/// line and key. <c>cubic:</c> applies to the source tables of <c>source.tables_from_prefix</c>, so it needs that.
/// </summary>
public static class CubicConfigReader
{
    public const string Key = "cubic";

    /// <summary>The pipeline's <c>cubic:</c> settings; null when it has none.</summary>
    public static CubicConfig? Read(YamlScope pipeline, SourceConfig source, IReadOnlyList<string> steps)
    {
        var s = pipeline.Scope(Key);
        if (!s.Exists)
        {
            return null;
        }

        if (source.Tables is null)
        {
            pipeline.Report(Key, $"needs source.{TablesFromPrefix.Key}: the Cubic settings apply to the tables found under its root");
        }

        var config = new CubicConfig { Ods = ReadOds(s.Scope("ods"), steps), Dmap = ReadDmap(s.Scope("dmap"), steps) };
        s.RejectUnknown();
        return config;
    }

    /// <summary>
    /// The steps the slice adds to a pipeline with <c>cubic.ods</c>: <c>cubic_snapshot</c> before <c>load</c> (it decides
    /// the snapshot, holds change files that came too early, and gives the rows their <c>snapshot</c> column) and
    /// <c>cubic_apply</c> after it. They come with the setting rather than being listed, so they cannot be forgotten.
    /// </summary>
    public static IReadOnlyList<string> WithSteps(IReadOnlyList<string> steps, CubicConfig? cubic)
    {
        if (cubic?.Ods is null || !StepDescriptor.Load.IsIn(steps))
        {
            return steps;
        }

        var list = new List<string>();
        foreach (var step in steps)
        {
            if (step == StepDescriptor.Load.Name)
            {
                list.Add(CubicSlice.Snapshot.Name);
                list.Add(step);
                list.Add(CubicSlice.Apply.Name);
            }
            else if (step != CubicSlice.Snapshot.Name && step != CubicSlice.Apply.Name)
            {
                list.Add(step);
            }
        }

        return list;
    }

    private static OdsConfig? ReadOds(YamlScope s, IReadOnlyList<string> steps)
    {
        if (!s.Exists)
        {
            return null;
        }

        if (!StepDescriptor.Load.IsIn(steps))
        {
            s.Report("tables", "needs the 'load' step: snapshots and change files are loaded into the warehouse");
        }

        var globs = new List<Glob>();
        var patterns = s.StringList("tables");
        if (patterns is null || patterns.Count == 0)
        {
            s.Report("tables", "is required: globs on the base table names that are ODS tables (e.g. [\"cubic__ods_qlik__*\"])");
        }

        foreach (var pattern in patterns ?? [])
        {
            try
            {
                globs.Add(Glob.Parse(pattern));
            }
            catch (ArgumentException e)
            {
                s.Report("tables", $"'{pattern}' is not a valid glob: {e.Message}");
            }
        }

        var keys = ReadKeys(s.Scope("keys"), globs);
        var current = s.String("current", fallback: OdsConfig.DefaultCurrent)!;
        if (!current.Contains("{table}", StringComparison.Ordinal) && keys.Count > 1)
        {
            s.Report("current", $"'{current}' names one table, but {keys.Count} tables have keys: include {{table}}");
        }

        s.RejectUnknown();
        return new OdsConfig { Tables = globs, Keys = keys, Current = current };
    }

    private static DmapConfig? ReadDmap(YamlScope s, IReadOnlyList<string> steps)
    {
        if (!s.Exists)
        {
            return null;
        }

        if (!StepDescriptor.Load.IsIn(steps) && !StepDescriptor.Lake.IsIn(steps))
        {
            s.Report("tables", "needs the 'load' or the 'lake' step: the day goes into the warehouse table or the lake's folders");
        }

        var patterns = s.StringList("tables");
        if (patterns is null || patterns.Count == 0)
        {
            s.Report("tables", "is required: globs on the table names that are DMAP datasets (e.g. [\"cubic__dmap__*\"])");
        }

        var globs = new List<Glob>();
        foreach (var pattern in patterns ?? [])
        {
            try
            {
                globs.Add(Glob.Parse(pattern));
            }
            catch (ArgumentException e)
            {
                s.Report("tables", $"'{pattern}' is not a valid glob: {e.Message}");
            }
        }

        var day = s.String("day_column", fallback: DmapConfig.DefaultDayColumn)!;
        if (day.Length == 0 || day.Length > 63 || !day.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c == '_') || char.IsAsciiDigit(day[0]) || day.StartsWith("_intake", StringComparison.Ordinal))
        {
            s.Report("day_column", $"'{day}' is not a usable column name: lower-case letters, digits and '_', not starting with a digit or '_intake'");
        }

        s.RejectUnknown();
        return new DmapConfig { Tables = globs, DayColumn = day };
    }

    private static Dictionary<string, IReadOnlyList<string>> ReadKeys(YamlScope s, IReadOnlyList<Glob> globs)
    {
        var keys = new Dictionary<string, IReadOnlyList<string>>(StringComparer.Ordinal);
        foreach (var (table, _) in s.Entries.ToList())
        {
            var columns = s.StringList(table) ?? [];
            if (columns.Count == 0)
            {
                s.Report(table, "needs at least one key column");
                continue;
            }

            if (globs.Count > 0 && !globs.Any(g => g.IsMatch(table)))
            {
                s.Report(table, "is not one of the ODS tables (cubic.ods.tables): a key is only used for those");
            }

            keys[table] = columns;
        }

        return keys;
    }
}
