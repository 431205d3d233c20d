using Intake.Core.Ports;

namespace Intake.Engine.Tests;

public sealed class ConfigLoaderTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("intake-config-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Write(string relative, string text)
    {
        var path = Path.Combine(_dir, relative);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, text);
        return path;
    }

    private const string MinimalIntake = """
        catalog:
          kind: sqlite
          path: .intake/catalog.db
        stores:
          local: { kind: local, root: .intake/store }
        warehouses:
          main: { kind: sqlite, path: .intake/wh.db }
        """;

    private const string MinimalPipeline = """
        name: sales
        customer: acme
        source:
          kind: local
          path: ../incoming
        steps: [fetch, decompress, validate, archive, load]
        load:
          table: sales
          columns:
            id: bigint not null
            amount: decimal
        """;

    [Fact]
    public void Load_ValidConfiguration_ResolvesPathsAndDefaults()
    {
        var file = Write("intake.yaml", MinimalIntake);
        Write("pipelines/sales.yaml", MinimalPipeline);

        var config = ConfigLoader.Load(file);

        config.Catalog.Connection.ShouldBe(Path.Combine(_dir, ".intake/catalog.db"));
        var p = config.Pipelines.ShouldHaveSingleItem();
        p.Customer.ShouldBe("acme");
        p.Source.Path.ShouldBe(Path.Combine(_dir, "incoming"));
        p.Load!.Warehouse.ShouldBe("main");
        p.Load.Columns.ShouldBe([new ColumnSpec("id", ColumnType.BigInt, false), new ColumnSpec("amount", ColumnType.Decimal, true)]);
        p.KeyTemplate.ShouldBe("{customer}/{category}/{type}/{group}/{received:yyyyMMdd_HHmmss}/{name}");
    }

    [Fact]
    public void Load_StreamsOnAPostgresWarehouse_IsRead_AndOneByDefault()
    {
        var file = Write("intake.yaml", MinimalIntake.Replace("main: { kind: sqlite, path: .intake/wh.db }", "main: { kind: postgres, connection: \"Host=db\" }", StringComparison.Ordinal));
        Write("pipelines/sales.yaml", MinimalPipeline + "\n  streams: 4");
        Write("pipelines/other.yaml", MinimalPipeline.Replace("name: sales", "name: other", StringComparison.Ordinal));

        var pipelines = ConfigLoader.Load(file).Pipelines.ToDictionary(p => p.Name);

        pipelines["sales"].Load!.Streams.ShouldBe(4);
        pipelines["other"].Load!.Streams.ShouldBe(1);
    }

    [Theory]
    [InlineData("0")]
    [InlineData("-2")]
    [InlineData("two")]
    [InlineData("1.5")]
    [InlineData("65")]
    public void Load_StreamsNotAWholeNumberFrom1To64_IsRefusedNamingTheKey(string value)
    {
        var file = Write("intake.yaml", MinimalIntake.Replace("main: { kind: sqlite, path: .intake/wh.db }", "main: { kind: postgres, connection: \"Host=db\" }", StringComparison.Ordinal));
        Write("pipelines/sales.yaml", MinimalPipeline + $"\n  streams: {value}");

        var e = Should.Throw<ConfigException>(() => ConfigLoader.Load(file));

        e.Errors.ShouldContain(x => x.Key == "load.streams" && x.Line == 12 && x.Reason.Contains($"'{value}' is not a whole number between 1 and 64"));
    }

    [Fact]
    public void Load_StreamsOnASqliteWarehouse_IsRefused_SayingItNeedsPostgres()
    {
        var file = Write("intake.yaml", MinimalIntake);
        Write("pipelines/sales.yaml", MinimalPipeline + "\n  streams: 2");

        var e = Should.Throw<ConfigException>(() => ConfigLoader.Load(file));

        e.Errors.ShouldContain(x => x.Key == "load.streams" && x.Reason.Contains("warehouse 'main' is sqlite") && x.Reason.Contains("need a PostgreSQL warehouse"));
    }

    [Fact]
    public void Load_CustomerUnset_IsDefault()
    {
        var file = Write("intake.yaml", MinimalIntake);
        Write("pipelines/sales.yaml", MinimalPipeline.Replace("customer: acme\n", "", StringComparison.Ordinal));

        ConfigLoader.Load(file).Pipelines[0].Customer.ShouldBe("default");
    }

    [Fact]
    public void Load_SeveralProblems_ReportsEachWithFileLineAndKey()
    {
        var file = Write("intake.yaml", MinimalIntake);
        Write("pipelines/sales.yaml", """
            name: sales
            source:
              kind: local
              path: ../incoming
              stable_for: soon
            steps: [fetch, load, decompress]
            load:
              table: sales
              warehous: main
            """);

        var e = Should.Throw<ConfigException>(() => ConfigLoader.Load(file));

        e.Errors.ShouldContain(x => x.File == Path.Combine("pipelines", "sales.yaml") && x.Line == 5 && x.Key == "source.stable_for" && x.Reason.Contains("not a duration"));
        e.Errors.ShouldContain(x => x.Key == "steps" && x.Reason.Contains("'decompress' is out of order"));
        e.Errors.ShouldContain(x => x.Line == 9 && x.Key == "load.warehous" && x.Reason.Contains("unknown key"));
        e.Message.ShouldContain("sales.yaml:5: source.stable_for");
    }

    [Theory]
    [InlineData("[fetch, decompress, validate, load, archive]")]
    [InlineData("[fetch, archive, decompress, validate, load]")]
    public void Load_ArchiveAnywhereInTheSteps_IsAccepted_ForItRunsAtTheArchiveStage(string steps)
    {
        var file = Write("intake.yaml", MinimalIntake);
        Write("pipelines/sales.yaml", MinimalPipeline.Replace("[fetch, decompress, validate, archive, load]", steps, StringComparison.Ordinal));

        ConfigLoader.Load(file).Pipelines.ShouldHaveSingleItem().Steps.ShouldContain("archive");
    }

    [Theory]
    [InlineData(null, 1024L * 1024)]
    [InlineData("0", 0L)]
    [InlineData("64KiB", 64L * 1024)]
    public void Load_SmallLoadsUpTo_IsASize_OneMebibyteUnlessSet(string? value, long expected)
    {
        var file = Write("intake.yaml", MinimalIntake + (value is null ? "" : $"\ndefaults:\n  small_loads_up_to: {value}\n"));
        Write("pipelines/sales.yaml", MinimalPipeline);

        ConfigLoader.Load(file).Defaults.SmallLoadsUpTo.ShouldBe(expected);
    }

    [Fact]
    public void Load_SmallLoadsUpToNotASize_NamesTheKeyAndTheValue()
    {
        var file = Write("intake.yaml", MinimalIntake + "\ndefaults:\n  small_loads_up_to: small\n");
        Write("pipelines/sales.yaml", MinimalPipeline);

        var e = Should.Throw<ConfigException>(() => ConfigLoader.Load(file));

        var error = e.Errors.ShouldHaveSingleItem();
        error.Key.ShouldBe("defaults.small_loads_up_to");
        error.Reason.ShouldContain("'small' is not a size");
    }

    [Theory]
    [InlineData("", null)]
    [InlineData("  small_load_workers: 0\n", 0)]
    [InlineData("  small_load_workers: 12\n", 12)]
    [InlineData("  small_load_workers: 12\n  small_loads_up_to: 0\n", 0)]
    [InlineData("  small_loads_up_to: 0\n", 0)]
    public void Load_SmallLoadWorkers_ThreePerProcessorUnlessSet_NoneWithoutSmallLoads(string yaml, int? expected)
    {
        var file = Write("intake.yaml", MinimalIntake + "\ndefaults:\n" + yaml);
        Write("pipelines/sales.yaml", MinimalPipeline);

        var defaults = ConfigLoader.Load(file).Defaults;

        defaults.SmallLoadLanes().ShouldBe(expected ?? Math.Min(16, 3 * Environment.ProcessorCount));
        defaults.SmallLoadLanes(overridden: 1).ShouldBe(1);
    }

    [Theory]
    [InlineData("", 4)]
    [InlineData("  small_load_batch: 1\n", 1)]
    [InlineData("  small_load_batch: 16\n", 16)]
    public void Load_SmallLoadBatch_FourUnlessSet(string yaml, int expected)
    {
        var file = Write("intake.yaml", MinimalIntake + "\ndefaults:\n" + yaml);
        Write("pipelines/sales.yaml", MinimalPipeline);

        ConfigLoader.Load(file).Defaults.SmallLoadBatch.ShouldBe(expected);
    }

    [Theory]
    [InlineData("0")]
    [InlineData("65")]
    public void Load_SmallLoadBatchOutOfRange_NamesTheKey(string value)
    {
        var file = Write("intake.yaml", MinimalIntake + $"\ndefaults:\n  small_load_batch: {value}\n");
        Write("pipelines/sales.yaml", MinimalPipeline);

        var e = Should.Throw<ConfigException>(() => ConfigLoader.Load(file));

        e.Errors.ShouldHaveSingleItem().Key.ShouldBe("defaults.small_load_batch");
    }

    [Fact]
    public void Load_SmallLoadWorkersOutOfRange_NamesTheKey()
    {
        var file = Write("intake.yaml", MinimalIntake + "\ndefaults:\n  small_load_workers: -1\n");
        Write("pipelines/sales.yaml", MinimalPipeline);

        var e = Should.Throw<ConfigException>(() => ConfigLoader.Load(file));

        e.Errors.ShouldHaveSingleItem().Key.ShouldBe("defaults.small_load_workers");
    }

    [Fact]
    public void Load_ArchiveTwice_IsRefused()
    {
        var file = Write("intake.yaml", MinimalIntake);
        Write("pipelines/sales.yaml", MinimalPipeline.Replace("[fetch, decompress, validate, archive, load]", "[fetch, archive, load, archive]", StringComparison.Ordinal));

        var e = Should.Throw<ConfigException>(() => ConfigLoader.Load(file));

        e.Errors.ShouldHaveSingleItem().Reason.ShouldBe("'archive' is repeated; list it once");
    }

    [Fact]
    public void Load_UnknownWarehouse_NamesTheOnesThatExist()
    {
        var file = Write("intake.yaml", MinimalIntake);
        Write("pipelines/sales.yaml", MinimalPipeline.Replace("table: sales", "table: sales\n  warehouse: dwh", StringComparison.Ordinal));

        var e = Should.Throw<ConfigException>(() => ConfigLoader.Load(file));

        e.Errors.ShouldHaveSingleItem().Reason.ShouldBe("no warehouse named 'dwh' (warehouses: main)");
    }

    [Fact]
    public void Load_VariablesFromDotEnv_AreSubstituted_AndMissingOnesAreNamed()
    {
        // block style: inside a flow mapping ({ ... }) YAML itself would read the braces of ${...}
        var file = Write("intake.yaml", MinimalIntake.Replace("main: { kind: sqlite, path: .intake/wh.db }", "main:\n    kind: sqlite\n    path: ${WH_PATH}", StringComparison.Ordinal));
        Write("pipelines/sales.yaml", MinimalPipeline.Replace("table: sales", "table: ${TABLE_NAME_NOT_SET_ANYWHERE}", StringComparison.Ordinal));
        Write(".env", "# comment\nexport WH_PATH='data/wh.db'\n");

        var e = Should.Throw<ConfigException>(() => ConfigLoader.Load(file));
        e.Errors.ShouldHaveSingleItem().Reason.ShouldContain("TABLE_NAME_NOT_SET_ANYWHERE is not set");

        Write("pipelines/sales.yaml", MinimalPipeline);
        ConfigLoader.Load(file).Warehouses["main"].Connection.ShouldBe(Path.Combine(_dir, "data/wh.db"));
    }

    [Fact]
    public void Load_YamlSyntaxError_NamesFileAndLine()
    {
        var file = Write("intake.yaml", "catalog:\n  kind: sqlite\n   path: [oops\n");

        var e = Should.Throw<ConfigException>(() => ConfigLoader.Load(file));

        e.Errors.ShouldHaveSingleItem().Line.ShouldBe(3);
        e.Errors[0].File.ShouldBe("intake.yaml");
    }

    [Fact]
    public void Load_KeyTemplateWithAnUnknownPlaceholder_IsReportedAtStart()
    {
        var file = Write("intake.yaml", MinimalIntake);
        Write("pipelines/sales.yaml", MinimalPipeline + "\nkey_template: \"{customer}/{colour}/{name}\"\n");

        var e = Should.Throw<ConfigException>(() => ConfigLoader.Load(file));

        var error = e.Errors.ShouldHaveSingleItem();
        error.Key.ShouldBe("key_template");
        error.Reason.ShouldContain("colour");
    }

    [Fact]
    public void Load_ManifestEntryWithoutTheDecompressStep_IsReported()
    {
        var file = Write("intake.yaml", MinimalIntake);
        Write("pipelines/sales.yaml", MinimalPipeline.Replace("decompress, ", "", StringComparison.Ordinal) + "\nvalidate: { manifest_entry: \"**/*.meta.json\" }\n");

        var e = Should.Throw<ConfigException>(() => ConfigLoader.Load(file));

        var error = e.Errors.ShouldHaveSingleItem();
        error.Key.ShouldBe("validate.manifest_entry");
        error.Reason.ShouldContain("decompress");
    }

    [Fact]
    public void Load_PipelineWithASyntaxError_IsOneProblem_NamedByItsPathInTheProject()
    {
        var file = Write("intake.yaml", MinimalIntake);
        Write("pipelines/sales.yaml", "name: sales\nsource: [oops\n");

        var e = Should.Throw<ConfigException>(() => ConfigLoader.Load(file));

        var error = e.Errors.ShouldHaveSingleItem();
        error.File.ShouldBe(Path.Combine("pipelines", "sales.yaml"));
        error.Key.ShouldBe("(syntax)");
    }

    [Fact]
    public void Load_MissingFile_SaysHowToCreateOne() =>
        Should.Throw<ConfigException>(() => ConfigLoader.Load(Path.Combine(_dir, "intake.yaml"))).Message.ShouldContain("intake init");

    [Theory]
    [InlineData("500ms", 500)]
    [InlineData("30s", 30_000)]
    [InlineData("2m", 120_000)]
    [InlineData("1h", 3_600_000)]
    public void Durations_Parse(string text, int ms)
    {
        Units.TryParseDuration(text, out var value).ShouldBeTrue();
        value.TotalMilliseconds.ShouldBe(ms);
    }

    [Theory]
    [InlineData("10GiB", 10L * 1024 * 1024 * 1024)]
    [InlineData("64KiB", 65536L)]
    [InlineData("1MB", 1_000_000L)]
    [InlineData("512", 512L)]
    public void Sizes_Parse(string text, long bytes)
    {
        Units.TryParseSize(text, out var value).ShouldBeTrue();
        value.ShouldBe(bytes);
    }
}
