using Intake.Catalog;
using Intake.Core.Model;
using Intake.Core.Ports;
using Intake.Server.Auth;
using Intake.TestApi;
using Intake.Tests.Shared;

namespace Intake.Server.Tests;

/// <summary>
/// An HTTP pipeline (z-ingest) under a real <c>intake serve</c>: run now from the API and a schedule tick both go
/// through the same discovery as <c>intake run</c>, so the day's load is pulled and archived.
/// </summary>
public sealed class HttpPipelineServeTests : IAsyncLifetime
{
    private TestApiServer _api = null!;

    public async Task InitializeAsync() => _api = await TestApiServer.StartAsync(new TestApiOptions { RecordsPerDay = 120 });

    public async Task DisposeAsync() => await _api.DisposeAsync();

    private void WriteHttpPipeline(Workspace workspace, string name, string extra = "") =>
        File.WriteAllText(Path.Combine(workspace.Root, "pipelines", name + ".yaml"), $$"""
            name: {{name}}
            source:
              kind: http
              url: {{_api.BaseUrl}}/v1/events
              query: { type: "{event}", day: "{day}", limit: "{limit}" }
              auth: { header: X-Api-Key, key: test-key }
              events: [charge]
              page_size: 50
              pagination: { style: cursor, has_more: has_more }
            steps: [pull]
            {{extra}}
            """);

    [PostgresFact]
    public async Task RunNowAndAScheduleTick_OfAnHttpPipeline_PullTheDayAndArchiveIt()
    {
        var connection = await TestPostgres.CreateDatabaseAsync("httpserve");
        using var workspace = new Workspace(connection);
        WriteHttpPipeline(workspace, "events");
        WriteHttpPipeline(workspace, "ticks", "schedule: \"*/2 * * * * *\"");
        string key;
        await using (var catalog = new PostgresCatalog(connection, TimeProvider.System))
        {
            await catalog.MigrateAsync(default);
            key = (await ApiKeys.CreateAsync(catalog, "*", ApiKeyScope.Admin, null, default)).Key;
        }

        await using var serve = await workspace.StartServeAsync("--schedule-every", "200ms", "--discover-every", "1h");
        using var client = serve.Client(key);

        // Before the fix this answered 500: "source.kind 'http' is not supported".
        var (status, run, _) = await client.PostJsonAsync("/api/v1/pipelines/events/run");
        status.ShouldBe(202, run.ToString());
        run.GetProperty("new").GetInt32().ShouldBe(1);

        await using var reader = new PostgresCatalog(connection, TimeProvider.System);
        var pulled = await ArchivedAsync(reader, "events");
        var ticked = await ArchivedAsync(reader, "ticks");
        foreach (var load in new[] { pulled, ticked })
        {
            var pull = (await reader.GetStepsAsync(load.Id, default)).Where(s => s.Step == "pull").ShouldHaveSingleItem();
            pull.RowsOut.ShouldBe(120);
        }

        serve.Output.ShouldNotContain("is not supported");
    }

    private static async Task<Load> ArchivedAsync(PostgresCatalog catalog, string pipeline)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (DateTime.UtcNow < deadline)
        {
            var loads = await catalog.ListLoadsAsync(new LoadQuery { Pipeline = pipeline }, default);
            if (loads.FirstOrDefault(l => l.Status is LoadStatus.Archived or LoadStatus.Errored) is { } done)
            {
                done.Status.ShouldBe(LoadStatus.Archived, done.ErrorMessage);
                return done;
            }

            await Task.Delay(200);
        }

        throw new TimeoutException($"no load of {pipeline} finished within 60 s");
    }
}
