using Intake.Engine.Configuration;

namespace Intake.Engine.Tests.Cubic;

/// <summary><c>cubic.ods</c> as the configuration reads it: its settings, the steps it adds, and problems with file, line and key.</summary>
public sealed class CubicConfigTests : IDisposable
{
    private const string Source = "  kind: local\n  path: in\n  tables_from_prefix: { root: cubic/, depth: 3 }";
    private readonly string _dir = Directory.CreateTempSubdirectory("intake-cubic-config-").FullName;

    public CubicConfigTests()
    {
        File.WriteAllText(Path.Combine(_dir, "intake.yaml"), "catalog: { kind: sqlite, path: c.db }\nwarehouses: { main: { kind: sqlite, path: w.db } }\n");
        Directory.CreateDirectory(Path.Combine(_dir, "pipelines"));
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Write(string cubic, string source = Source, string steps = "[fetch, load]")
    {
        var file = Path.Combine(_dir, "pipelines", "p.yaml");
        File.WriteAllText(file, $"name: p\nsource:\n{source}\nsteps: {steps}\ncubic:\n{cubic}\n");
        return file;
    }

    private PipelineConfig Load(string cubic, string steps = "[fetch, load]")
    {
        Write(cubic, steps: steps);
        return ConfigLoader.Load(Path.Combine(_dir, "intake.yaml")).Pipelines.ShouldHaveSingleItem();
    }

    private IReadOnlyList<ConfigError> Refused(string cubic, string source = Source, string steps = "[fetch, load]")
    {
        Write(cubic, source, steps);
        return Should.Throw<ConfigException>(() => ConfigLoader.Load(Path.Combine(_dir, "intake.yaml"))).Errors;
    }

    [Fact]
    public void Ods_ReadsTablesKeysAndCurrent_AndAddsItsStepsAroundLoad()
    {
        var p = Load("  ods:\n    tables: [\"cubic__ods_qlik__*\"]\n    keys: { cubic__ods_qlik__edw_sample: [sample_id, line] }", "[fetch, decompress, load]");

        var ods = p.Cubic.ShouldNotBeNull().Ods.ShouldNotBeNull();
        ods.Covers("cubic__ods_qlik__edw_sample").ShouldBeTrue();
        ods.Covers("cubic__dmap__agg").ShouldBeFalse();
        ods.Keys["cubic__ods_qlik__edw_sample"].ShouldBe(["sample_id", "line"]);
        ods.CurrentTableOf("cubic__ods_qlik__edw_sample").ShouldBe("cubic__ods_qlik__edw_sample__current");
        ods.CurrentTableOf("cubic__ods_qlik__other").ShouldBeNull(); // no key: no current-state table
        p.Steps.ShouldBe(["fetch", "decompress", "cubic_snapshot", "load", "cubic_apply"]);
    }

    [Fact]
    public void Ods_CurrentNamesTheCurrentStateTable()
    {
        var p = Load("  ods:\n    tables: [\"cubic__ods_*\"]\n    keys: { cubic__ods_a: [id] }\n    current: \"state_{table}\"");

        p.Cubic!.Ods!.CurrentTableOf("cubic__ods_a").ShouldBe("state_cubic__ods_a");
    }

    [Fact]
    public void Problems_AreReportedAtOnce_WithFileLineAndKey()
    {
        var errors = Refused("  ods:\n    keys: { cubic__dmap__x: [], other: [id] }\n    colour: red\n  extra: 1", source: "  kind: local\n  path: in");

        var found = errors.Select(e => (e.Key, e.Reason)).ToList();
        found.ShouldContain(("cubic", "needs source.tables_from_prefix: the Cubic settings apply to the tables found under its root"));
        found.ShouldContain(("cubic.ods.tables", "is required: globs on the base table names that are ODS tables (e.g. [\"cubic__ods_qlik__*\"])"));
        found.ShouldContain(("cubic.ods.keys.cubic__dmap__x", "needs at least one key column"));
        found.ShouldContain(("cubic.ods.colour", "unknown key (known keys here: current, keys, tables)"));
        found.ShouldContain(("cubic.extra", "unknown key (known keys here: dmap, ods)"));
        errors.Where(e => e.Key.StartsWith("cubic", StringComparison.Ordinal)).ShouldAllBe(e => e.File.EndsWith("p.yaml", StringComparison.Ordinal) && e.Line > 0);
    }

    [Fact]
    public void Ods_KeyOfATableNotCovered_IsRefused()
    {
        var error = Refused("  ods:\n    tables: [\"cubic__ods_*\"]\n    keys: { cubic__dmap__x: [id] }").ShouldHaveSingleItem();

        (error.Key, error.Reason).ShouldBe(("cubic.ods.keys.cubic__dmap__x", "is not one of the ODS tables (cubic.ods.tables): a key is only used for those"));
    }

    [Fact]
    public void Dmap_ReadsTablesAndTheDayColumn_WithDayAsTheDefault()
    {
        var p = Load("  dmap:\n    tables: [\"cubic__dmap__*\"]");

        var dmap = p.Cubic.ShouldNotBeNull().Dmap.ShouldNotBeNull();
        dmap.Covers("cubic__dmap__agg_sample").ShouldBeTrue();
        dmap.Covers("cubic__ods_qlik__edw_sample").ShouldBeFalse();
        dmap.DayColumn.ShouldBe("day");
        p.Steps.ShouldBe(["fetch", "load"]); // no steps of its own: the day comes with the load step's constant columns
        Load("  dmap: { tables: [\"cubic__dmap__*\"], day_column: service_date }").Cubic!.Dmap!.DayColumn.ShouldBe("service_date");
    }

    [Fact]
    public void Dmap_Problems_AreReportedWithFileLineAndKey()
    {
        var errors = Refused("  dmap:\n    day_column: \"Service Date\"\n    every: day", steps: "[fetch]");

        var found = errors.Select(e => (e.Key, e.Reason)).ToList();

        found.ShouldContain(("cubic.dmap.tables", "is required: globs on the table names that are DMAP datasets (e.g. [\"cubic__dmap__*\"])"));
        found.ShouldContain(("cubic.dmap.tables", "needs the 'load' or the 'lake' step: the day goes into the warehouse table or the lake's folders"));
        found.ShouldContain(("cubic.dmap.day_column", "'Service Date' is not a usable column name: lower-case letters, digits and '_', not starting with a digit or '_intake'"));
        found.ShouldContain(("cubic.dmap.every", "unknown key (known keys here: day_column, tables)"));
        errors.ShouldAllBe(e => e.File.EndsWith("p.yaml", StringComparison.Ordinal) && e.Line > 0);
    }
}
