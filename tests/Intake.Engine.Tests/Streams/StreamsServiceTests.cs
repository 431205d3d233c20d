using System.Globalization;
using System.Text;
using Intake.Core.Model;
using Intake.Engine.Configuration;
using Intake.Engine.Runtime;
using Intake.Engine.Scheduling;
using Intake.Engine.Streams;
using Intake.Engine.Tests.Support;
using Microsoft.Data.Sqlite;

namespace Intake.Engine.Tests.Streams;

/// <summary>A stream of an embedded project, through its pipeline into the warehouse, across a crash between writing a batch and forgetting it.</summary>
public sealed class StreamsServiceTests
{
    private static StreamRecords Records(params int[] ids)
    {
        var problems = new List<string>();
        return StreamRecords.Parse(Encoding.UTF8.GetBytes(string.Concat(ids.Select(i => $"{{\"id\":{i}}}\n"))), problems)!;
    }

    private static EmbeddedProject Project()
    {
        var project = new EmbeddedProject("intake-streams-");
        File.AppendAllText(Path.Combine(project.Root, "intake.yaml"), "\nstreams:\n  clicks: { pipeline: p, prefix: kafka/sample/ }\n");
        project.Pipeline("p", """
            name: p
            source: { kind: local, path: ../in, stable_for: 0s }
            format: ndjson
            ndjson: { files: ["**/*.json"] }
            steps: [fetch, load]
            load: { table: events, columns: { id: bigint not null } }
            """);
        return project;
    }

    private static async Task DrainAsync(IntakeRuntime runtime, Func<StreamsService, Task>? append = null)
    {
        await using var streams = new StreamsService(runtime, StreamsService.DiscoverWith(new PipelineRuns(runtime)));
        await streams.StartAsync();
        if (append is not null)
        {
            await append(streams);
        }

        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await streams.Find("clicks")!.DrainAsync(timeout.Token);
    }

    [Fact]
    public async Task ABatchWrittenAgainAfterACrash_IsSeen_AndItsRecordsAreLoadedOnce()
    {
        await using var project = Project();
        var config = ConfigLoader.Load(Path.Combine(project.Root, "intake.yaml"));
        await using (var runtime = await IntakeRuntime.OpenAsync(config))
        {
            await DrainAsync(runtime, streams => streams.AppendAsync("clicks", Records(1, 2, 3), default));
        }

        // Killed after the batch was written into the source but before the spool forgot it: the sealed file is still there.
        var batch = Directory.GetFiles(project.In("kafka/sample")).ShouldHaveSingleItem();
        var id = Guid.ParseExact(Path.GetFileNameWithoutExtension(batch), "N");
        var sealedAt = new DateTimeOffset(File.GetLastWriteTimeUtc(batch)).ToUnixTimeMilliseconds();
        var spool = config.Streams[0].SpoolDirectory;
        File.Copy(batch, Path.Combine(spool, $"sealed-{sealedAt.ToString(CultureInfo.InvariantCulture)}-{id:N}.ndjson"));

        var loads = await project.RunAsync("p", runtime => DrainAsync(runtime));

        Directory.GetFiles(project.In("kafka/sample")).ShouldBe([batch]);
        StreamSpool.ListSealed(spool).ShouldBeEmpty();
        var load = loads.ShouldHaveSingleItem();
        load.Status.ShouldBe(LoadStatus.Archived);
        load.SourceKey.ShouldBe($"kafka/sample/{id:N}.json");
        using var connection = new SqliteConnection($"Data Source={Path.Combine(project.Root, ".intake", "warehouse.db")};Pooling=false");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT id FROM events ORDER BY id";
        using var reader = command.ExecuteReader();
        var ids = new List<long>();
        while (reader.Read())
        {
            ids.Add(reader.GetInt64(0));
        }

        ids.ShouldBe([1, 2, 3]);
    }
}
