using Intake.Engine.Http;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Intake.Engine.Tests;

/// <summary>
/// An API whose answer is not UTF-8. The JSON parser lets such bytes through inside strings, and writing the record
/// out again (flattened) turned them into U+FFFD; they must fail the pull as <c>format</c> instead.
/// </summary>
public sealed class HttpEncodingTests : IAsyncLifetime
{
    private static readonly DateOnly Day = new(2024, 3, 5);
    private readonly EmbeddedProject _project = new("intake-http-encoding-");
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
    }

    public async Task DisposeAsync()
    {
        await _api.DisposeAsync();
        await _project.DisposeAsync();
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Pull_OfAResponseThatIsNotUtf8_FailsAsFormatNamingPageRecordOffsetAndBytes_AndLoadsNothing(bool flatten)
    {
        _project.Pipeline("events", $"""
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
        await using (var runtime = await _project.OpenAsync())
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
        Directory.Exists(_project.Stored("raw")).ShouldBeFalse();
        _project.Rows("events").ShouldBe(0);
    }
}
