using System.Globalization;
using Intake.Core.Errors;
using Intake.Core.Model;
using Intake.Engine.Configuration;
using Intake.Engine.Runtime;
using Intake.Formats.Tests.Archives;
using Microsoft.Data.Sqlite;

namespace Intake.Engine.Tests;

/// <summary>
/// Every archive of the corpus through both ways a load reads its original: with a <c>decompress</c> step (expanded
/// into the work area, then loaded) and without (loaded while it is expanded). Both must end the same way, with the
/// kind the corpus expects, and a good archive must give the same rows.
/// </summary>
public sealed class ArchivePathsTests : IAsyncLifetime
{
    private readonly string _dir = Directory.CreateTempSubdirectory("intake-paths-").FullName;
    private IntakeRuntime? _runtime;

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        if (_runtime is not null)
        {
            await _runtime.DisposeAsync();
        }

        SqliteConnection.ClearAllPools();
        Directory.Delete(_dir, recursive: true);
    }

    [Theory]
    [MemberData(nameof(ArchiveCorpus.Labels), MemberType = typeof(ArchiveCorpus))]
    public async Task DecompressAndStreamedPaths_EndTheSameWay(string label)
    {
        var c = ArchiveCorpus.Get(label);
        var bytes = c.Build();
        string limits = c.MaxBytes is null && c.MaxRatio is null
            ? ""
            : $"limits: {{ max_bytes: {c.MaxBytes ?? 10L * 1024 * 1024 * 1024}, max_ratio: {(c.MaxRatio ?? 200).ToString(CultureInfo.InvariantCulture)} }}";
        File.WriteAllText(Path.Combine(_dir, "intake.yaml"), """
            catalog: { kind: sqlite, path: .intake/catalog.db }
            stores: { local: { kind: local, root: .intake/store } }
            warehouses: { main: { kind: sqlite, path: .intake/warehouse.db } }
            defaults:
              retry: { max_attempts: 1, base_delay: 1ms, max_delay: 5ms }
            """);
        Directory.CreateDirectory(Path.Combine(_dir, "pipelines"));
        foreach (var (path, steps) in new[] { ("decompress", "[fetch, decompress, load]"), ("streamed", "[fetch, load]") })
        {
            Directory.CreateDirectory(Path.Combine(_dir, path));
            File.WriteAllBytes(Path.Combine(_dir, path, c.FileName), bytes);
            File.WriteAllText(Path.Combine(_dir, "pipelines", path + ".yaml"), $$"""
                name: {{path}}
                source: { kind: local, path: ../{{path}}, stable_for: 0s }
                steps: {{steps}}
                csv: { files: ["**/*.csv"] }
                load: { table: {{path}}_rows }
                {{limits}}
                """);
        }

        _runtime = await IntakeRuntime.OpenAsync(ConfigLoader.Load(Path.Combine(_dir, "intake.yaml")));
        await new Runner(_runtime).RunAsync(new RunOptions { Once = true, Workers = 1 }, default);
        var loads = await _runtime.Catalog.ListLoadsAsync(new LoadQuery(), default);

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

    private long Rows(string table)
    {
        using var connection = new SqliteConnection($"Data Source={Path.Combine(_dir, ".intake", "warehouse.db")};Pooling=false");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = $"SELECT count(*) FROM sqlite_master WHERE name = '{table}'";
        if ((long)command.ExecuteScalar()! == 0)
        {
            return 0;
        }

        command.CommandText = $"SELECT count(*) FROM {table}";
        return (long)command.ExecuteScalar()!;
    }
}
