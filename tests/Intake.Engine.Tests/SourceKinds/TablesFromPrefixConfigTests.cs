using Intake.Engine.Configuration;
using Intake.Engine.SourceKinds;

namespace Intake.Engine.Tests.SourceKinds;

/// <summary>
/// <c>source.tables_from_prefix</c> as the configuration reads it: one reader for every file kind, problems reported
/// with their file, line and key, and the load step's table named per source table (<c>{table}</c>).
/// </summary>
public sealed class TablesFromPrefixConfigTests : IDisposable
{
    private static readonly string[] FileSources =
    [
        "  kind: local\n  path: in",
        "  kind: ftp\n  host: h\n  user: u",
        "  kind: sftp\n  host: h\n  user: u\n  key_file: k\n  known_hosts: kh",
        "  kind: s3\n  url: http://127.0.0.1:1\n  bucket: b\n  access_key: a\n  secret_key: s",
    ];

    private readonly string _dir = Directory.CreateTempSubdirectory("intake-tables-config-").FullName;

    public TablesFromPrefixConfigTests()
    {
        File.WriteAllText(Path.Combine(_dir, "intake.yaml"), "catalog: { kind: sqlite, path: c.db }\nwarehouses: { main: { kind: sqlite, path: w.db } }\n");
        Directory.CreateDirectory(Path.Combine(_dir, "pipelines"));
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private PipelineConfig Load(string source, string steps = "[fetch, load]", string more = "")
    {
        File.WriteAllText(Path.Combine(_dir, "pipelines", "p.yaml"), $"name: p\nsource:\n{source}\nsteps: {steps}\n{more}\n");
        return ConfigLoader.Load(Path.Combine(_dir, "intake.yaml")).Pipelines.ShouldHaveSingleItem();
    }

    private IReadOnlyList<ConfigError> Refused(string source, string steps = "[fetch, load]", string more = "")
    {
        File.WriteAllText(Path.Combine(_dir, "pipelines", "p.yaml"), $"name: p\nsource:\n{source}\nsteps: {steps}\n{more}\n");
        return Should.Throw<ConfigException>(() => ConfigLoader.Load(Path.Combine(_dir, "intake.yaml"))).Errors;
    }

    [Fact]
    public void EveryFileKind_ReadsTablesFromPrefix_IntoTheSourceConfig()
    {
        foreach (var source in FileSources)
        {
            var tables = Load(source + "\n  tables_from_prefix: { root: cubic/, depth: 3, include: [\"cubic__ods_*\"], exclude: [\"*__ct\"] }").Source.Tables.ShouldNotBeNull(source);

            tables.Root.ShouldBe("cubic/");
            tables.Depth.ShouldBe(3);
            tables.Include.ShouldBe(["cubic__ods_*"]);
            tables.Exclude.ShouldBe(["*__ct"]);
        }
    }

    [Fact]
    public void WithoutTablesFromPrefix_TheSourceIsOneTable()
    {
        var p = Load(FileSources[0], more: "load: { table: orders }");

        p.Source.Tables.ShouldBeNull();
        p.Load!.Table.ShouldBe("orders");
        p.Load.IsPerTable.ShouldBeFalse();
    }

    [Fact]
    public void LoadTable_Omitted_DefaultsToOneWarehouseTablePerSourceTable()
    {
        Load(FileSources[0] + "\n  tables_from_prefix: { root: cubic/ }").Load!.Table.ShouldBe("{table}");
        Load(FileSources[0] + "\n  tables_from_prefix: {}", more: "load: { warehouse: main }").Load!.Table.ShouldBe("{table}");

        var raw = Load(FileSources[3] + "\n  tables_from_prefix: { root: cubic/ }", more: "load: { table: \"raw.{table}\" }").Load!;
        raw.IsPerTable.ShouldBeTrue();
        raw.TableFor("cubic__dmap__agg_sample").ShouldBe("raw.cubic__dmap__agg_sample");
    }

    [Fact]
    public void TablePlaceholder_WithoutTablesFromPrefix_IsRefusedNamingTheKey()
    {
        var error = Refused(FileSources[0], more: "load:\n  table: \"raw.{table}\"").ShouldHaveSingleItem();

        (error.File, error.Line, error.Key).ShouldBe((Path.Combine("pipelines", "p.yaml"), 7, "load.table"));
        error.Reason.ShouldBe("'raw.{table}' names a warehouse table per source table, but the source has no tables_from_prefix: add source.tables_from_prefix, or name one table");
    }

    [Fact]
    public void OtherPlaceholders_AndMergeTargetsPerTableWithoutTables_AreRefused()
    {
        Refused(FileSources[0] + "\n  tables_from_prefix: {}", more: "load: { table: \"{name}\" }").ShouldHaveSingleItem().Reason
            .ShouldStartWith("'{name}': the only placeholder a table name takes is {table}");
        Refused(FileSources[0], steps: "[fetch, load, merge]", more: "load: { table: t }\nmerge: { target: \"app.{table}\", key: [id] }").ShouldHaveSingleItem().Key
            .ShouldBe("merge.target");
        Load(FileSources[0] + "\n  tables_from_prefix: {}", steps: "[fetch, load, merge]", more: "merge: { target: \"app.{table}\", key: [id] }").Merge!.Target.ShouldBe("app.{table}");
    }

    [Fact]
    public void Problems_AreReportedAtOnce_WithTheirLineAndKey()
    {
        var errors = Refused(FileSources[0] + """

              tables_from_prefix:
                root: /cubic/
                includ: ["x"]
                exclude: ["a//b"]
            """);

        errors.Select(e => (e.Line, e.Key)).Order().ShouldBe([(6, "source.tables_from_prefix.root"), (7, "source.tables_from_prefix.includ"), (8, "source.tables_from_prefix.exclude")]);
        errors.Single(e => e.Key.EndsWith("root", StringComparison.Ordinal)).Reason.ShouldContain("the root is a folder relative to the source");
        errors.Single(e => e.Key.EndsWith("exclude", StringComparison.Ordinal)).Reason.ShouldContain("a//b");
    }

    [Fact]
    public void Depth_ThatDoesNotReachBelowTheRoot_IsRefused()
    {
        var error = Refused(FileSources[3] + "\n  tables_from_prefix: { root: cubic/ods_qlik/, depth: 2 }").ShouldHaveSingleItem();

        error.Key.ShouldBe("source.tables_from_prefix.depth");
        error.Reason.ShouldContain("must be at least 3");
        Refused(FileSources[3] + "\n  tables_from_prefix: { depth: 0 }").ShouldHaveSingleItem().Key.ShouldBe("source.tables_from_prefix.depth");
    }

    [Fact]
    public void TablesFromPrefix_OnAKindThatListsNoFiles_IsRefusedNamingTheKindsThatDo()
    {
        var error = Refused("  kind: http\n  url: http://127.0.0.1:1/x\n  tables_from_prefix: {}", steps: "[pull]").Single(e => e.Key == "source.tables_from_prefix");

        error.Reason.ShouldBe("is only for sources that list files (local, ftp, sftp, s3); source.kind: http reads an HTTP API");
    }
}
