using Intake.Engine.Configuration;
using Intake.Engine.Streams;

namespace Intake.Engine.Tests.Streams;

/// <summary><c>streams:</c> in intake.yaml: defaults, every key, and each setting that could never work reported at start with its line and key.</summary>
public sealed class StreamsConfigTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("intake-streams-config-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private const string Intake = """
        catalog: { kind: sqlite, path: .intake/catalog.db }
        stores:
          local: { kind: local, root: .intake/store }
        warehouses:
          main: { kind: sqlite, path: .intake/wh.db }
        """;

    private const string Events = """
        name: events
        customer: acme
        source: { kind: local, path: ../incoming }
        format: ndjson
        ndjson: { files: ["**/*.json"] }
        steps: [fetch, load]
        load: { table: events }
        """;

    private IntakeConfig Load(string streams, string pipeline = Events)
    {
        File.WriteAllText(Path.Combine(_dir, "intake.yaml"), Intake + "\n" + streams);
        Directory.CreateDirectory(Path.Combine(_dir, "pipelines"));
        File.WriteAllText(Path.Combine(_dir, "pipelines", "events.yaml"), pipeline);
        return ConfigLoader.Load(Path.Combine(_dir, "intake.yaml"));
    }

    private IReadOnlyList<ConfigError> Errors(string streams, string pipeline = Events) =>
        Should.Throw<ConfigException>(() => Load(streams, pipeline)).Errors;

    [Fact]
    public void Stream_WithOnlyItsPipeline_TakesTheDesignsDefaults()
    {
        var stream = Load("streams:\n  clicks: { pipeline: events }\n").Streams.ShouldHaveSingleItem();

        stream.Name.ShouldBe("clicks");
        stream.Pipeline.ShouldBe("events");
        stream.Prefix.ShouldBe("");
        stream.MaxRecords.ShouldBe(10_000);
        stream.MaxAge.ShouldBe(TimeSpan.FromHours(1));
        stream.MaxRequestBytes.ShouldBe(16L * 1024 * 1024);
        stream.SpoolDirectory.ShouldBe(Path.Combine(_dir, ".intake", "streams", "clicks"));
        stream.KeyFor(Guid.Parse("0190f0f0-0000-7000-8000-000000000001")).ShouldBe("0190f0f0000070008000000000000001.json");
    }

    [Fact]
    public void Stream_EveryKey_ReachesTheConfiguration()
    {
        var stream = Load("""
            streams:
              clicks:
                pipeline: events
                prefix: kafka/sample
                max_records: 500
                max_age: 90s
                max_request_bytes: 2MiB
                spool: /var/spool/intake-clicks
            """).Streams.ShouldHaveSingleItem();

        stream.Prefix.ShouldBe("kafka/sample/");
        stream.MaxRecords.ShouldBe(500);
        stream.MaxAge.ShouldBe(TimeSpan.FromSeconds(90));
        stream.MaxRequestBytes.ShouldBe(2L * 1024 * 1024);
        stream.SpoolDirectory.ShouldBe("/var/spool/intake-clicks");
        stream.KeyFor(Guid.Empty).ShouldBe("kafka/sample/00000000000000000000000000000000.json");
    }

    [Fact]
    public void Streams_None_IsAnEmptyList() => Load("").Streams.ShouldBeEmpty();

    [Fact]
    public void Stream_BadSettings_AreEachReportedWithLineAndKey()
    {
        var errors = Errors("""
            streams:
              clicks:
                pipeline: nope
                prefix: /abs/../x
                max_records: 0
                max_age: 10ms
                max_request_bytes: 10
                colour: red
              9lives: { pipeline: events }
            """);

        errors.ShouldContain(e => e.File == "intake.yaml" && e.Line == 8 && e.Key == "streams.clicks.pipeline" && e.Reason == "no pipeline named 'nope' (pipelines: events)");
        errors.ShouldContain(e => e.Line == 9 && e.Key == "streams.clicks.prefix" && e.Reason.Contains("not a folder path"));
        errors.ShouldContain(e => e.Line == 10 && e.Key == "streams.clicks.max_records" && e.Reason.Contains("between 1 and 10000000"));
        errors.ShouldContain(e => e.Line == 11 && e.Key == "streams.clicks.max_age" && e.Reason.Contains("at least 1s"));
        errors.ShouldContain(e => e.Line == 12 && e.Key == "streams.clicks.max_request_bytes" && e.Reason.Contains("between 1KiB and 1GiB"));
        errors.ShouldContain(e => e.Line == 13 && e.Key == "streams.clicks.colour" && e.Reason.Contains("unknown key"));
        errors.ShouldContain(e => e.Line == 14 && e.Key == "streams.9lives" && e.Reason.Contains("not a valid stream name"));
    }

    [Fact]
    public void Stream_OfAPipelineReadingCsv_IsReported()
    {
        var error = Errors("streams:\n  clicks: { pipeline: events }\n", Events.Replace("format: ndjson\nndjson: { files: [\"**/*.json\"] }\n", "", StringComparison.Ordinal))
            .ShouldHaveSingleItem();

        error.Key.ShouldBe("streams.clicks.pipeline");
        error.Reason.ShouldContain("reads csv files; batch files are NDJSON");
    }

    [Fact]
    public void Stream_OfAPipelineWhoseNdjsonFilesSkipJson_IsReported()
    {
        var error = Errors("streams:\n  clicks: { pipeline: events }\n", Events.Replace("ndjson: { files: [\"**/*.json\"] }\n", "", StringComparison.Ordinal))
            .ShouldHaveSingleItem();

        error.Reason.ShouldContain("add '**/*.json' to its ndjson.files");
    }

    [Fact]
    public void Stream_WhosePrefixThePipelineExcludes_IsReportedOnThePrefix()
    {
        var error = Errors("streams:\n  clicks: { pipeline: events, prefix: kafka/sample/ }\n", Events.Replace("path: ../incoming }", "path: ../incoming, include: [\"daily/**\"] }", StringComparison.Ordinal))
            .ShouldHaveSingleItem();

        error.Key.ShouldBe("streams.clicks.prefix");
        error.Reason.ShouldContain("would never be listed by pipeline 'events'");
    }

    [Fact]
    public void Stream_OfAnHttpPipeline_IsReported()
    {
        var error = Errors("streams:\n  clicks: { pipeline: events }\n", """
            name: events
            source:
              kind: http
              url: http://127.0.0.1:1/events
              events: [click]
            steps: [pull, load]
            load: { table: events }
            """).ShouldHaveSingleItem();

        error.Key.ShouldBe("streams.clicks.pipeline");
        error.Reason.ShouldContain("a stream's batches are files written into a pipeline's source");
    }

    [Fact]
    public void Streams_SharingASpool_AreReported()
    {
        var error = Errors("""
            streams:
              a: { pipeline: events, spool: .intake/s }
              b: { pipeline: events, spool: .intake/s }
            """).ShouldHaveSingleItem();

        error.Key.ShouldBe("streams.b.spool");
        error.Reason.ShouldContain("is the spool of stream 'a' too");
    }
}
