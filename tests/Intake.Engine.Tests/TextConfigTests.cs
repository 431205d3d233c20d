namespace Intake.Engine.Tests;

/// <summary>The pipeline keys for text inputs: csv.encoding, csv.allow_empty, format and ndjson, keep_work.</summary>
public sealed class TextConfigTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("intake-text-config-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Write(string pipelineTail)
    {
        File.WriteAllText(Path.Combine(_dir, "intake.yaml"), """
            catalog: { kind: sqlite, path: .intake/catalog.db }
            warehouses: { main: { kind: sqlite, path: .intake/wh.db } }
            """);
        Directory.CreateDirectory(Path.Combine(_dir, "pipelines"));
        File.WriteAllText(Path.Combine(_dir, "pipelines", "p.yaml"), """
            name: p
            source: { kind: local, path: ../in }
            steps: [fetch, decompress, validate, archive, load]
            load: { table: t }

            """ + pipelineTail);
        return Path.Combine(_dir, "intake.yaml");
    }

    [Theory]
    [InlineData("utf-8", 65001)]
    [InlineData("windows-1252", 1252)]
    [InlineData("cp1252", 1252)]
    [InlineData("Windows1252", 1252)]
    [InlineData("win-1252", 1252)]
    [InlineData("iso-8859-15", 28605)]
    [InlineData("iso8859_15", 28605)]
    [InlineData("latin-9", 28605)]
    [InlineData("shift_jis", 932)]
    [InlineData("cp932", 932)]
    [InlineData("latin1", 28591)]
    [InlineData("latin-1", 28591)]
    [InlineData("utf8", 65001)]
    [InlineData("UTF-16LE", 1200)]
    [InlineData("ibm850", 850)]
    [InlineData("koi8-r", 20866)]
    public void Load_AnyEncodingDotNetKnows_OrACodePageAlias_IsAccepted(string name, int codePage)
    {
        var config = ConfigLoader.Load(Write($"csv:\n  encoding: {name}\n"));

        config.Pipelines.ShouldHaveSingleItem().Csv.Encoding.ShouldBe(name);
        TextEncodings.Get(name).CodePage.ShouldBe(codePage);
    }

    [Theory]
    [InlineData("windows-1525", "windows-1252")]
    [InlineData("utf-9", "utf-8")]
    [InlineData("shiftjis", "shift_jis")]
    public void Load_UnknownEncoding_IsAConfigErrorWithLineKeyAndCloseMatches(string name, string suggested)
    {
        var file = Write($"csv:\n  delimiter: \";\"\n  encoding: {name}\n");

        var e = Should.Throw<ConfigException>(() => ConfigLoader.Load(file));

        var error = e.Errors.ShouldHaveSingleItem();
        (error.File, error.Line, error.Key).ShouldBe((Path.Combine("pipelines", "p.yaml"), 7, "csv.encoding"));
        error.Reason.ShouldContain($"'{name}' is not an encoding name; did you mean {suggested}");
        e.Message.ShouldContain("pipelines/p.yaml:7: csv.encoding: ");
    }

    [Fact]
    public void Load_NewKeys_HaveSafeDefaults()
    {
        var p = ConfigLoader.Load(Write("")).Pipelines.ShouldHaveSingleItem();

        p.Csv.AllowEmpty.ShouldBeFalse();
        p.KeepWork.ShouldBeFalse();
        p.Format.ShouldBe("csv");
        p.Ndjson.Files.ShouldBe(["**/*.ndjson", "**/*.jsonl"]);
        p.Ndjson.Flatten.ShouldBeFalse();
    }

    [Fact]
    public void Load_NewKeys_AreRead()
    {
        var p = ConfigLoader.Load(Write("keep_work: true\nformat: ndjson\nndjson: { files: [\"**/*.json\"], flatten: true, allow_empty: yes }\n")).Pipelines.ShouldHaveSingleItem();

        (p.KeepWork, p.Format, p.Ndjson.Flatten, p.Ndjson.AllowEmpty).ShouldBe((true, "ndjson", true, true));
        p.Ndjson.Files.ShouldBe(["**/*.json"]);
    }

    [Theory]
    [InlineData("format: xml\n", "format", "'xml' is not a data file format (csv, ndjson)")]
    [InlineData("ndjson: { flatten: true }\n", "ndjson", "format is not ndjson")]
    [InlineData("format: ndjson\ncsv: { allow_empty: true }\n", "csv", "format is ndjson")]
    [InlineData("csv: { allow_empty: maybe }\n", "csv.allow_empty", "not true or false")]
    public void Load_TextKeysThatCannotWork_AreConfigErrors(string tail, string key, string reason)
    {
        var e = Should.Throw<ConfigException>(() => ConfigLoader.Load(Write(tail)));

        e.Errors.ShouldContain(x => x.Key == key && x.Reason.Contains(reason), e.Message);
    }

    [Fact]
    public void Load_KeepWorkWithoutDecompress_IsAConfigError()
    {
        var file = Write("keep_work: true\n");
        File.WriteAllText(Path.Combine(_dir, "pipelines", "p.yaml"), File.ReadAllText(Path.Combine(_dir, "pipelines", "p.yaml")).Replace("decompress, ", "", StringComparison.Ordinal));

        var e = Should.Throw<ConfigException>(() => ConfigLoader.Load(file));

        e.Errors.ShouldHaveSingleItem().Key.ShouldBe("keep_work");
    }
}
