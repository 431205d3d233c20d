using System.Globalization;
using Intake.Formats.Tests.Archives;

namespace Intake.Engine.Tests;

/// <summary>
/// Every archive of the corpus through both ways a load reads its original: with a <c>decompress</c> step (expanded
/// into the work area, then loaded) and without (loaded while it is expanded). Both must end the same way, with the
/// kind the corpus expects, and a good archive must give the same rows.
/// </summary>
public sealed class ArchivePathsTests : IAsyncLifetime
{
    private readonly EmbeddedProject _project = new("intake-paths-", maxAttempts: 1);

    public Task InitializeAsync() => Task.CompletedTask;

    // xUnit 2 disposes a test class through IAsyncLifetime, not IAsyncDisposable.
    public Task DisposeAsync() => _project.DisposeAsync().AsTask();

    [Theory]
    [MemberData(nameof(ArchiveCorpus.Labels), MemberType = typeof(ArchiveCorpus))]
    public async Task DecompressAndStreamedPaths_EndTheSameWay(string label)
    {
        var c = ArchiveCorpus.Get(label);
        var bytes = c.Build();
        string limits = c.MaxBytes is null && c.MaxRatio is null
            ? ""
            : $"limits: {{ max_bytes: {c.MaxBytes ?? 10L * 1024 * 1024 * 1024}, max_ratio: {(c.MaxRatio ?? 200).ToString(CultureInfo.InvariantCulture)} }}";
        foreach (var (path, steps) in new[] { ("decompress", "[fetch, decompress, load]"), ("streamed", "[fetch, load]") })
        {
            Directory.CreateDirectory(Path.Combine(_project.Root, path));
            File.WriteAllBytes(Path.Combine(_project.Root, path, c.FileName), bytes);
            _project.Pipeline(path, $$"""
                name: {{path}}
                source: { kind: local, path: ../{{path}}, stable_for: 0s }
                steps: {{steps}}
                csv: { files: ["**/*.csv"] }
                load: { table: {{path}}_rows }
                {{limits}}
                """);
        }

        var runtime = await _project.RunOnceAsync();
        var loads = await runtime.Catalog.ListLoadsAsync(new LoadQuery(), default);

        var decompressed = loads.Single(l => l.Pipeline == "decompress");
        var streamed = loads.Single(l => l.Pipeline == "streamed");
        if (c.Kind is { } kind)
        {
            decompressed.Status.ShouldBe(LoadStatus.Errored, $"decompress path: {decompressed.ErrorMessage}");
            streamed.Status.ShouldBe(LoadStatus.Errored, $"streamed path: {streamed.ErrorMessage}");
            decompressed.ErrorKind.ShouldBe(kind, $"decompress path: {decompressed.ErrorMessage}");
            streamed.ErrorKind.ShouldBe(kind, $"streamed path: {streamed.ErrorMessage}");
            Rows("streamed_rows").ShouldBe(0);
        }
        else
        {
            decompressed.ErrorMessage.ShouldBeNull();
            streamed.ErrorMessage.ShouldBeNull();
            Rows("decompress_rows").ShouldBe(c.Rows);
            Rows("streamed_rows").ShouldBe(c.Rows);
        }
    }

    private long Rows(string table) => _project.Rows(table);
}
