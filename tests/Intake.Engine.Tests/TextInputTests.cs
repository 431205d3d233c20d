using System.IO.Compression;
using System.Text;

namespace Intake.Engine.Tests;

/// <summary>
/// Text inputs that used to be changed or lost silently: bytes that are not text in the declared encoding, CSV files
/// with a header and no rows, Windows code pages, NDJSON data files and the work area kept for inspection. Each test
/// runs a whole pipeline (local folder → SQLite) and checks what a user sees: the load's status, kind and message,
/// and the warehouse table.
/// </summary>
public sealed class TextInputTests : IAsyncLifetime
{
    private readonly EmbeddedProject _project = new("intake-text-");
    private IntakeRuntime? _runtime;

    public Task InitializeAsync() => Task.CompletedTask;

    // xUnit 2 disposes a test class through IAsyncLifetime, not IAsyncDisposable.
    public Task DisposeAsync() => _project.DisposeAsync().AsTask();

    // ---- harness ------------------------------------------------------------------------------------------------

    private const string Fetch = "[fetch, validate, archive, load]";
    private const string Decompress = "[fetch, decompress, validate, archive, load]";

    private void Pipeline(bool decompress, string extra = "")
    {
        _project.Pipeline("p", $"""
            name: p
            source: {"{"} kind: local, path: ../in, stable_for: 0s {"}"}
            steps: {(decompress ? Decompress : Fetch)}
            load: {"{"} table: rows {"}"}
            {extra}
            """);
    }

    public enum Container { Plain, Gzip, Zip }

    /// <summary>Puts <paramref name="data"/> in the inbox as a plain file, a gzip or (with <paramref name="others"/>) a zip; returns the name the messages use.</summary>
    private string Input(Container container, string name, byte[] data, params (string Name, byte[] Data)[] others)
    {
        switch (container)
        {
            case Container.Plain:
                File.WriteAllBytes(In(name), data);
                return name;
            case Container.Gzip:
                EmbeddedProject.WriteGzip(In(name + ".gz"), data);
                return $"{name}.gz!{name}";
            default:
                using (var zip = ZipFile.Open(In("batch.zip"), ZipArchiveMode.Create))
                {
                    foreach (var (entryName, bytes) in others.Append((name, data)))
                    {
                        using var s = zip.CreateEntry(entryName).Open();
                        s.Write(bytes);
                    }
                }

                return $"batch.zip!{name}";
        }
    }

    private string In(string name) => _project.In(name);

    private async Task<Load> RunOneAsync()
    {
        _runtime = await _project.RunOnceAsync();
        return (await _runtime.Catalog.ListLoadsAsync(new LoadQuery(), default)).ShouldHaveSingleItem();
    }

    /// <summary>Rows in the table (0 when it was never created).</summary>
    private long Rows(string table = "rows") => _project.Rows(table);

    private List<string?> Column(string sql)
    {
        using var c = _project.OpenWarehouse();
        using var cmd = c.CreateCommand();
        cmd.CommandText = sql;
        using var r = cmd.ExecuteReader();
        var values = new List<string?>();
        while (r.Read())
        {
            values.Add(r.IsDBNull(0) ? null : r.GetValue(0).ToString());
        }

        return values;
    }

    private static string ShouldBeFailure(Load load, ErrorKind kind)
    {
        load.Status.ShouldBe(LoadStatus.Errored, load.ErrorMessage);
        load.ErrorKind.ShouldBe(kind, load.ErrorMessage);
        // Messages are for people: no exception type names.
        load.ErrorMessage.ShouldNotBeNull().ShouldNotContain("Exception");
        return load.ErrorMessage;
    }

    // ---- 1. bytes that are not text in the declared encoding -------------------------------------------------------

    /// <summary>Line 7 (record 6) holds 0xFF 0xFE, which UTF-8 never has, at byte offset 34.</summary>
    private static byte[] CsvWithInvalidUtf8OnLine7() =>
    [
        .. "id,name\n1,a\n2,b\n3,c\n4,d\n5,e\n6,bad "u8, 0xFF, 0xFE, .. " bytes\n7,g\n"u8,
    ];

    [Theory]
    [InlineData(Container.Plain, false)]
    [InlineData(Container.Plain, true)]
    [InlineData(Container.Gzip, false)]
    [InlineData(Container.Gzip, true)]
    [InlineData(Container.Zip, false)]
    [InlineData(Container.Zip, true)]
    public async Task InvalidUtf8_FailsAsFormatNamingFileLineRecordOffsetAndBytes_AndLoadsNothing(Container container, bool decompress)
    {
        Pipeline(decompress);
        var name = Input(container, "bad.csv", CsvWithInvalidUtf8OnLine7(), ("good.csv", "id,name\n10,x\n11,y\n"u8.ToArray()));

        var load = await RunOneAsync();

        var message = ShouldBeFailure(load, ErrorKind.Format);
        message.ShouldContain($"{name}: line 7 (record 6), byte offset 34: byte 0xFF is not valid utf-8");
        message.ShouldNotContain("bad.csv!bad.csv");
        Rows().ShouldBe(0); // nor the good file's rows: one load, one transaction
    }

    [Fact]
    public async Task InvalidUtf8_InAnNdjsonDataFile_FailsAsFormatNamingLineRecordAndOffset()
    {
        Pipeline(decompress: false, "format: ndjson");
        File.WriteAllBytes(In("events.ndjson"), [.. "{\"id\":1,\"name\":\"ok\"}\n{\"id\":2,\"name\":\"bad "u8, 0xC3, 0x28, .. "\"}\n"u8]);

        var load = await RunOneAsync();

        var message = ShouldBeFailure(load, ErrorKind.Format);
        message.ShouldContain("events.ndjson: line 2 (record 2), byte offset 41: byte 0xC3 is not valid UTF-8");
        Rows().ShouldBe(0);
    }

    // ---- 3. a header and no rows ---------------------------------------------------------------------------------

    [Theory]
    [InlineData(Container.Plain, false)]
    [InlineData(Container.Plain, true)]
    [InlineData(Container.Gzip, false)]
    [InlineData(Container.Gzip, true)]
    public async Task HeaderOnlyCsv_EndsEmptyLikeAZeroByteFile(Container container, bool decompress)
    {
        Pipeline(decompress);
        var name = Input(container, "day.csv", "id,name\r\n"u8.ToArray());

        var load = await RunOneAsync();

        var message = ShouldBeFailure(load, ErrorKind.Empty);
        message.ShouldContain($"{name} has a header and no rows");
        message.ShouldContain("csv.allow_empty");
        Rows().ShouldBe(0);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task ZipWhoseEveryCsvIsHeaderOnly_EndsEmpty(bool decompress)
    {
        Pipeline(decompress);
        Input(Container.Zip, "b.csv", "id,name\n"u8.ToArray(), ("a.csv", "id,name\n\n"u8.ToArray()));

        var load = await RunOneAsync();

        var message = ShouldBeFailure(load, ErrorKind.Empty);
        message.ShouldContain("batch.zip: every data file has a header and no rows");
        message.ShouldContain("batch.zip!a.csv");
        message.ShouldContain("batch.zip!b.csv");
    }

    [Fact]
    public async Task ZipWithOneHeaderOnlyCsv_LoadsTheOthers()
    {
        Pipeline(decompress: false);
        Input(Container.Zip, "b.csv", "id,name\n"u8.ToArray(), ("a.csv", "id,name\n1,x\n"u8.ToArray()));

        var load = await RunOneAsync();

        load.Status.ShouldBe(LoadStatus.Archived, load.ErrorMessage);
        Rows().ShouldBe(1);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task HeaderOnlyCsv_WithAllowEmpty_IsArchivedWithZeroRows(bool decompress)
    {
        Pipeline(decompress, "csv: { allow_empty: true }");
        Input(Container.Plain, "day.csv", "id,name\n"u8.ToArray());

        var load = await RunOneAsync();

        load.Status.ShouldBe(LoadStatus.Archived, load.ErrorMessage);
        var steps = await _runtime!.Catalog.GetStepsAsync(load.Id, default);
        steps.Single(s => s.Step == "load").RowsOut.ShouldBe(0);
        Column("SELECT name FROM pragma_table_info('rows') WHERE name NOT LIKE '\\_%' ESCAPE '\\'").ShouldBe(["id", "name"]);
    }

    // ---- 8. encodings --------------------------------------------------------------------------------------------

    [Theory]
    [InlineData("windows-1252", false)]
    [InlineData("cp1252", true)]
    [InlineData("windows1252", false)]
    public async Task Windows1252File_LoadsTheEuroSign(string encoding, bool decompress)
    {
        Pipeline(decompress, $"csv: {{ encoding: {encoding} }}");
        Input(Container.Plain, "prices.csv", [.. "id,price,note\n1,"u8, 0x80, .. " 5,caf"u8, 0xE9, 0x20, 0x96, .. " ok\n"u8]);

        var load = await RunOneAsync();

        load.Status.ShouldBe(LoadStatus.Archived, load.ErrorMessage);
        Column("SELECT price || '|' || note FROM rows").ShouldBe(["€ 5|café – ok"]);
    }

    [Theory]
    [InlineData("latin1")]
    [InlineData("iso-8859-1")]
    public async Task Latin1DeclaredOnAWindows1252File_FailsAsFormatSuggestingWindows1252(string encoding)
    {
        Pipeline(decompress: false, $"csv: {{ encoding: {encoding} }}");
        Input(Container.Plain, "prices.csv", [.. "id,price\n1,caf"u8, 0xE9, .. "\n2,"u8, 0x80, .. " 5\n"u8]);

        var load = await RunOneAsync();

        var message = ShouldBeFailure(load, ErrorKind.Format);
        message.ShouldContain("prices.csv: line 3 (record 2), byte offset 18: byte 0x80 is the control character U+0080 in iso-8859-1");
        message.ShouldContain("csv.encoding: windows-1252");
        Rows().ShouldBe(0);
    }

    [Fact]
    public async Task ShiftJisFile_LoadsItsText()
    {
        Pipeline(decompress: false, "csv: { encoding: shift_jis }");
        // 東京 in Shift_JIS
        Input(Container.Plain, "cities.csv", [.. "id,city\n1,"u8, 0x93, 0x8C, 0x8B, 0x9E, .. "\n"u8]);

        var load = await RunOneAsync();

        load.Status.ShouldBe(LoadStatus.Archived, load.ErrorMessage);
        Column("SELECT city FROM rows").ShouldBe(["東京"]);
    }

    [Fact]
    public async Task Utf16File_WithAnUnpairedSurrogate_FailsAtItsOffset()
    {
        Pipeline(decompress: false, "csv: { encoding: utf-16 }");
        var good = Encoding.Unicode.GetBytes("id,name\n1,a\n2,");
        Input(Container.Plain, "u16.csv", [.. good, 0x00, 0xD8, .. Encoding.Unicode.GetBytes("x\n")]);

        var load = await RunOneAsync();

        var message = ShouldBeFailure(load, ErrorKind.Format);
        message.ShouldContain($"u16.csv: line 3 (record 2), byte offset {good.Length}: bytes 0x00 0xD8 are not valid utf-16");
    }

    // ---- 9b. NDJSON data files -----------------------------------------------------------------------------------

    [Theory]
    [InlineData(Container.Plain, false)]
    [InlineData(Container.Gzip, true)]
    [InlineData(Container.Gzip, false)]
    [InlineData(Container.Zip, true)]
    public async Task NdjsonDataFiles_LoadIntoTheTable_Flattened(Container container, bool decompress)
    {
        Pipeline(decompress, "format: ndjson\nndjson: { flatten: true }");
        Input(container, "events.jsonl",
            """
            {"id": 1, "customer": {"name": "Zoë", "address": {"city": "Oslo"}}, "tags": ["a", "b"]}

            {"id": 2, "amount": 12.50, "ok": true}
            """u8.ToArray(),
            ("more.ndjson", "{\"id\": 3, \"customer\": {\"name\": null}}\r\n"u8.ToArray()));

        var load = await RunOneAsync();

        load.Status.ShouldBe(LoadStatus.Archived, load.ErrorMessage);
        var expected = container == Container.Zip ? 3 : 2;
        Rows().ShouldBe(expected);
        Column("""SELECT "customer.address.city" FROM rows WHERE id = '1'""").ShouldBe(["Oslo"]);
        Column("""SELECT "customer.name" || '|' || tags FROM rows WHERE id = '1'""").ShouldBe(["Zoë|[\"a\",\"b\"]"]);
        Column("""SELECT amount || '|' || ok FROM rows WHERE id = '2'""").ShouldBe(["12.50|true"]);
    }

    [Fact]
    public async Task NdjsonDataFile_WithABadLine_FailsAsFormatNamingFileLineAndReason()
    {
        Pipeline(decompress: true, "format: ndjson");
        Input(Container.Gzip, "events.ndjson", "{\"id\": 1}\n{\"id\": 2,}\n"u8.ToArray());

        var load = await RunOneAsync();

        var message = ShouldBeFailure(load, ErrorKind.Format);
        message.ShouldContain("events.ndjson.gz!events.ndjson: line 2 (record 2), byte offset 1");
        message.ShouldContain(": not valid JSON: ");
        Rows().ShouldBe(0);
    }

    [Fact]
    public async Task NdjsonDataFile_WithoutRecords_EndsEmpty()
    {
        Pipeline(decompress: false, "format: ndjson");
        Input(Container.Plain, "events.ndjson", "\n\n"u8.ToArray());

        var load = await RunOneAsync();

        var message = ShouldBeFailure(load, ErrorKind.Empty);
        message.ShouldContain("ndjson.allow_empty");
    }

    // ---- 10. keep_work -------------------------------------------------------------------------------------------

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task KeepWork_LeavesTheExpandedFilesAfterASuccessfulLoad_AndSaysWhere(bool keep)
    {
        Pipeline(decompress: true, keep ? "keep_work: true" : "");
        Input(Container.Zip, "b.csv", "id,name\n2,y\n"u8.ToArray(), ("a.csv", "id,name\n1,x\n"u8.ToArray()));

        var load = await RunOneAsync();

        load.Status.ShouldBe(LoadStatus.Archived, load.ErrorMessage);
        var work = Path.Combine(_project.Stored("work"), "loads", load.Id.ToString(System.Globalization.CultureInfo.InvariantCulture));
        var steps = await _runtime!.Catalog.GetStepsAsync(load.Id, default);
        if (!keep)
        {
            Directory.Exists(work).ShouldBeFalse();
            return;
        }

        Directory.GetFiles(work).Select(Path.GetFileName).Order(StringComparer.Ordinal).ShouldBe(["a.csv", "b.csv"]);
        File.ReadAllText(Path.Combine(work, "b.csv")).ShouldBe("id,name\n2,y\n");
        steps.Single(s => s.Step == "decompress").Outputs.Order(StringComparer.Ordinal).ShouldBe([$"work:loads/{load.Id}/a.csv", $"work:loads/{load.Id}/b.csv"]);
        steps.Single(s => s.Step == "load").Message.ShouldNotBeNull().ShouldContain(Path.Combine("work", "loads", load.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)));
    }

    // ---- 6. CSV messages -----------------------------------------------------------------------------------------

    [Fact]
    public async Task CsvError_InAPlainFile_NamesTheFileOnceWithLineAndRecord()
    {
        Pipeline(decompress: false);
        Input(Container.Plain, "a.csv", "id,note\n1,\"two\nlines\"\n2,x,extra\n"u8.ToArray());

        var load = await RunOneAsync();

        var message = ShouldBeFailure(load, ErrorKind.Format);
        message.ShouldBe("a.csv: line 4 (record 2): expected 2 fields, found 3");
    }
}
