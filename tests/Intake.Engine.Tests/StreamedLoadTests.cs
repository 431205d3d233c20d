using System.IO.Compression;
using System.Text;

namespace Intake.Engine.Tests;

/// <summary>A pipeline without a decompress step: the load step reads the data out of the original as it expands it.</summary>
public sealed class StreamedLoadTests : IAsyncLifetime
{
    private readonly EmbeddedProject _project = new("intake-streamed-");
    private IntakeRuntime _runtime = null!;

    public StreamedLoadTests()
    {
        _project.Pipeline("p", """
            name: p
            source: { kind: local, path: ../in, stable_for: 0s }
            steps: [fetch, validate, archive, load]
            validate: { manifest: "{name}.manifest.json" }
            csv: { files: ["**/*.csv"] }
            load: { table: rows }
            """);
    }

    public Task InitializeAsync() => Task.CompletedTask;

    // xUnit 2 disposes a test class through IAsyncLifetime, not IAsyncDisposable.
    public Task DisposeAsync() => _project.DisposeAsync().AsTask();

    private string In(string name) => _project.In(name);

    private async Task<List<Load>> RunAsync()
    {
        _runtime = await _project.RunOnceAsync();
        return [.. await _runtime.Catalog.ListLoadsAsync(new LoadQuery(), default)];
    }

    private long Rows() => _project.Rows();

    [Fact]
    public async Task ZipWithSeveralCsvs_IsLoadedEntryByEntry_WithoutExpandingItIntoTheWorkArea()
    {
        using (var zip = ZipFile.Open(In("batch.zip"), ZipArchiveMode.Create))
        {
            foreach (var (name, text) in new[] { ("jan.csv", "id,name\n1,a\n2,b\n"), ("notes.md", "not data"), ("sub/feb.csv", "id,name\n3,c\n") })
            {
                using var w = new StreamWriter(zip.CreateEntry(name).Open());
                w.Write(text);
            }
        }

        var load = (await RunAsync()).ShouldHaveSingleItem();

        load.Status.ShouldBe(LoadStatus.Archived, load.ErrorMessage);
        Rows().ShouldBe(3);
        var steps = await _runtime.Catalog.GetStepsAsync(load.Id, default);
        steps.Select(s => s.Step).ShouldNotContain("decompress");
        steps.Single(s => s.Step == "load").RowsOut.ShouldBe(3);
        // Nothing was ever written to the work area: the store never created it.
        Directory.Exists(_project.Stored("work")).ShouldBeFalse();
    }

    [Fact]
    public async Task TruncatedGzip_FailsTheLoadStepAsIntegrity_LoadsNoRow_AndKeepsTheOriginal()
    {
        var text = new StringBuilder("id,name\n");
        for (var i = 0; i < 50_000; i++)
        {
            text.Append(i).Append(",name").Append(i).Append('\n');
        }

        EmbeddedProject.WriteGzip(In("big.csv.gz"), text.ToString());
        var bytes = File.ReadAllBytes(In("big.csv.gz"));
        File.WriteAllBytes(In("big.csv.gz"), bytes[..(bytes.Length * 2 / 3)]);

        var load = (await RunAsync()).ShouldHaveSingleItem();

        load.Status.ShouldBe(LoadStatus.Errored);
        load.ErrorKind.ShouldBe(ErrorKind.Integrity); // damaged in transit, not a wrong format: send it again
        load.ErrorMessage!.ShouldContain("big.csv.gz");
        load.ErrorMessage!.ShouldContain("truncated");
        var steps = await _runtime.Catalog.GetStepsAsync(load.Id, default);
        steps.Last(s => s.Step == "load").Outcome.ShouldBe(StepOutcome.Failed);
        // The failed COPY rolled back: not one of the rows read before the cut is in the table.
        Rows().ShouldBe(0);
        Directory.EnumerateFiles(_project.Stored("error"), "big.csv.gz", SearchOption.AllDirectories).ShouldHaveSingleItem();
    }

    [Fact]
    public async Task BadRowEarlyInABigFile_StopsTheReadAhead_AndFailsAsFormatNamingTheLine()
    {
        // The reader stops while decompression is still blocks ahead; the load must end (not hang) with the row's error.
        var text = new StringBuilder("id,name\n1,a\n2,b,extra\n");
        for (var i = 3; i < 400_000; i++)
        {
            text.Append(i).Append(",name").Append(i).Append('\n');
        }

        EmbeddedProject.WriteGzip(In("bad.csv.gz"), text.ToString());

        var load = (await RunAsync()).ShouldHaveSingleItem();

        load.Status.ShouldBe(LoadStatus.Errored);
        load.ErrorKind.ShouldBe(ErrorKind.Format);
        load.ErrorMessage!.ShouldContain("bad.csv.gz!bad.csv: line 3 (record 2): expected 2 fields, found 3");
        Rows().ShouldBe(0);
    }

    [Fact]
    public async Task SidecarManifestRows_AreCountedOutOfTheOriginal_AndAMismatchFailsAsIntegrity()
    {
        EmbeddedProject.WriteGzip(In("good.csv.gz"), "id,name\n1,a\n2,b\n");
        File.WriteAllText(In("good.csv.gz.manifest.json"), """{"rows": 2}""");
        EmbeddedProject.WriteGzip(In("short.csv.gz"), "id,name\n3,c\n");
        File.WriteAllText(In("short.csv.gz.manifest.json"), """{"rows": 5}""");

        var loads = await RunAsync();

        loads.Single(l => l.SourceKey == "good.csv.gz").Status.ShouldBe(LoadStatus.Archived);
        var bad = loads.Single(l => l.SourceKey == "short.csv.gz");
        bad.Status.ShouldBe(LoadStatus.Errored);
        bad.ErrorKind.ShouldBe(ErrorKind.Integrity);
        bad.ErrorMessage!.ShouldContain("1 data rows, manifest says 5");
        Rows().ShouldBe(2);
    }
}
