using Intake.Sources.Http;

namespace Intake.Engine.Tests;

/// <summary>Reading <c>source.kind: http</c>: what a user gets wrong is reported with its file, line and key.</summary>
public sealed class HttpConfigTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("intake-httpcfg-").FullName;

    public HttpConfigTests()
    {
        File.WriteAllText(Path.Combine(_dir, "intake.yaml"), "catalog: { kind: sqlite, path: c.db }\n");
        Directory.CreateDirectory(Path.Combine(_dir, "pipelines"));
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private IntakeConfig Load(string source, string steps = "[pull]", string dotEnv = "TOKEN=abc\n")
    {
        File.WriteAllText(Path.Combine(_dir, ".env"), dotEnv);
        File.WriteAllText(Path.Combine(_dir, "pipelines", "api.yaml"), $"""
            name: api
            source:
              kind: http
              url: https://api.example.com/v1/events
            {source}
            steps: {steps}
            """);
        return ConfigLoader.Load(Path.Combine(_dir, "intake.yaml"));
    }

    [Fact]
    public void Load_AFullHttpSource_ReadsEveryKey()
    {
        var config = Load("""
              method: post
              headers: { Content-Type: application/json }
              body: '{"type": "{event}"}'
              auth: { bearer: "${TOKEN}" }
              events: [charge, refund]
              page_size: 50
              page_size_min: 10
              page_size_max: 100
              records: result.items
              pagination: { style: next_link, next_link: paging.next, has_more: paging.more }
              parallel: 4
              roll_every: 5000
              checkpoint_interval: 250ms
              flatten: true
              day: today
              request_timeout: 10s
              retry: { max_attempts: 3, base_delay: 200ms, max_delay: 2s }
            """);

        var http = config.Pipelines[0].Source.Http.ShouldNotBeNull();
        http.Method.ShouldBe("POST");
        http.AuthHeader.ShouldBe("Authorization");
        http.AuthValue.ShouldBe("Bearer abc");
        http.Events.ShouldBe(["charge", "refund"]);
        http.Pagination.ShouldBe(PaginationStyle.NextLink);
        http.NextLinkPath.ShouldBe("paging.next");
        http.RecordsPath.ShouldBe("result.items");
        (http.Parallel, http.RollEvery, http.Flatten, http.Day, http.MaxAttempts).ShouldBe((4, 5000, true, "today", 3));
        http.KeyTemplate.ShouldBe("{event}/date={day}/part-{n}.ndjson.gz");
        http.CheckpointInterval.ShouldBe(TimeSpan.FromMilliseconds(250));
        config.Pipelines[0].Schedule.ShouldNotBeNull().Expression.ShouldBe("0 7 * * *");
    }

    [Fact]
    public void Load_APageSizeOutsideTheApiLimits_IsAnErrorWithItsLine()
    {
        var e = Should.Throw<ConfigException>(() => Load("""
              events: [charge]
              page_size: 500
              page_size_max: 100
            """));

        var error = e.Errors.ShouldHaveSingleItem();
        (error.File, error.Line, error.Key).ShouldBe((Path.Combine("pipelines", "api.yaml"), 6, "source.page_size"));
        error.Reason.ShouldContain("1..100");
    }

    [Fact]
    public void Load_TypoInPaginationAndAKeyTemplateWithoutPartNumber_AreBothReported()
    {
        var e = Should.Throw<ConfigException>(() => Load("""
              events: [charge, refund]
              pagination: { style: cursor, cursor_feild: id }
              key_template: "{event}/{day}.ndjson.gz"
            """));

        e.Errors.Select(x => x.Key).Order(StringComparer.Ordinal).ShouldBe(["source.key_template", "source.pagination.cursor_feild"]);
    }

    [Fact]
    public void Load_AMissingSecretOrAFileStep_IsAnError()
    {
        var e = Should.Throw<ConfigException>(() => Load("""
              events: [charge]
              auth: { header: X-Api-Key, key: "${API_KEY}" }
            """, steps: "[pull, decompress]", dotEnv: ""));

        e.Errors.ShouldContain(x => x.Key == "source.auth.key" && x.Reason.Contains("API_KEY", StringComparison.Ordinal));
        e.Errors.ShouldContain(x => x.Key == "steps" && x.Reason.Contains("'decompress' does not apply", StringComparison.Ordinal));
    }
}
