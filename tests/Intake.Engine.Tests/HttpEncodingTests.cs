using Intake.Core.Errors;
using Intake.Core.Model;
using Intake.Engine.Configuration;
using Intake.Engine.Http;
using Intake.Engine.Runtime;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;

namespace Intake.Engine.Tests;

/// <summary>
/// An API whose answer is not UTF-8. The JSON parser lets such bytes through inside strings, and writing the record
/// out again (flattened) turned them into U+FFFD; they must fail the pull as <c>format</c> instead.
/// </summary>
public sealed class HttpEncodingTests : IAsyncLifetime
{
    private static readonly DateOnly Day = new(2024, 3, 5);
    private readonly string _dir = Directory.CreateTempSubdirectory("intake-http-encoding-").FullName;
    private WebApplication _api = null!;
    private string _url = "";

    /// <summary>Page 1 of the day: two records, the second with 0xFF 0xFE in its name.</summary>
    private static readonly byte[] Body =
    [
        .. """{"data": [{"id": "e1", "name": "ok"}, {"id": "e2", "name": "bad """u8, 0xFF, 0xFE, .. """ bytes"}], "has_more": false}"""u8,
    ];

    public async Task InitializeAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        _api = builder.Build();
        _api.MapGet("/v1/events", async ctx =>
        {
            ctx.Response.ContentType = "application/json";
            await ctx.Response.Body.WriteAsync(Body);
        });
        await _api.StartAsync();
        _url = _api.Urls.First().TrimEnd('/') + "/v1/events";
        File.WriteAllText(Path.Combine(_dir, "intake.yaml"), """
            catalog: { kind: sqlite, path: .intake/catalog.db }
            stores: { local: { kind: local, root: .intake/store } }
            warehouses: { main: { kind: sqlite, path: .intake/warehouse.db } }
            defaults:
              retry: { max_attempts: 2, base_delay: 1ms, max_delay: 5ms }
            """);
        Directory.CreateDirectory(Path.Combine(_dir, "pipelines"));
    }

    public async Task DisposeAsync()
    {
        await _api.DisposeAsync();
        SqliteConnection.ClearAllPools();
        Directory.Delete(_dir, recursive: true);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Pull_OfAResponseThatIsNotUtf8_FailsAsFormatNamingPageRecordOffsetAndBytes_AndLoadsNothing(bool flatten)
    {
        File.WriteAllText(Path.Combine(_dir, "pipelines", "events.yaml"), $"""
            name: events
            source:
              kind: http
              url: {_url}
              query: {"{"} type: "{"{event}"}", day: "{"{day}"}" {"}"}
              events: [charge]
              pagination: {"{"} style: cursor, has_more: has_more {"}"}
              flatten: {(flatten ? "true" : "false")}
            steps: [pull, load]
            load: {"{"} table: events {"}"}
            """);

        Load load;
        await using (var runtime = await IntakeRuntime.OpenAsync(ConfigLoader.Load(Path.Combine(_dir, "intake.yaml"))))
        {
            var pipeline = runtime.Pipeline("events");
            await Backfill.PlanAsync(runtime, pipeline, Day, Day, false, default);
            var finished = await Backfill.RunAsync(runtime, pipeline, 1, null, default);
            load = (await runtime.Catalog.GetLoadAsync(finished.ShouldHaveSingleItem().Id, default))!;
        }

        load.Status.ShouldBe(LoadStatus.Errored, load.ErrorMessage);
        load.ErrorKind.ShouldBe(ErrorKind.Format, load.ErrorMessage);
        var offset = Body.AsSpan().IndexOf((byte)0xFF);
        load.ErrorMessage.ShouldNotBeNull().ShouldContain("charge 2024-03-05, first page), record 2 of the page, byte offset " + offset + " of the response: byte 0xFF is not valid UTF-8");
        load.ErrorMessage.ShouldNotContain("Exception");
        // Nothing published, nothing loaded.
        Directory.Exists(Path.Combine(_dir, ".intake", "store", "raw")).ShouldBeFalse();
        using var c = new SqliteConnection($"Data Source={Path.Combine(_dir, ".intake", "warehouse.db")};Pooling=false");
        c.Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = "SELECT count(*) FROM sqlite_master WHERE name = 'events'";
        ((long)cmd.ExecuteScalar()!).ShouldBe(0);
    }
}
