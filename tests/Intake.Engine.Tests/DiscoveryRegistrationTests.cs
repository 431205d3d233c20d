using Intake.Core.Model;
using Intake.Core.Ports;
using Intake.Engine.Runtime;
using Intake.Engine.Tests.Support;

namespace Intake.Engine.Tests;

/// <summary>Discovery registers what one listing found with one catalog commit per batch of files, not one per file.</summary>
public sealed class DiscoveryRegistrationTests : IAsyncLifetime
{
    private readonly EmbeddedProject _project = new("intake-discovery-batch-");

    public Task InitializeAsync() => Task.CompletedTask;

    // xUnit 2 disposes a test class through IAsyncLifetime, not IAsyncDisposable.
    public Task DisposeAsync() => _project.DisposeAsync().AsTask();

    [Fact]
    public async Task AListingOf501Files_IsRegisteredInTwoCommits_AndListedAgainIsOnlySeen()
    {
        _project.GzipPipelineWithOneFile();
        for (var i = 1; i <= 500; i++)
        {
            EmbeddedProject.WriteGzip(_project.In($"f{i:D3}.csv.gz"), $"id,name\n{i},x\n");
        }

        var runtime = await _project.OpenAsync();
        var counting = new CountingCatalog(runtime.Catalog);
        var discovery = new Discovery(runtime.WithCatalog(counting));

        var first = await discovery.DiscoverAsync(runtime.Pipeline("p"), default);
        var again = await discovery.DiscoverAsync(runtime.Pipeline("p"), default);

        (first.New, first.Seen, again.New, again.Seen).ShouldBe((501, 0, 0, 501));
        counting.Batches.ShouldBe([500, 1, 500, 1]);
        counting.Singles.ShouldBe(0);
        var loads = await runtime.Catalog.ListLoadsAsync(new LoadQuery { Limit = 1000 }, default);
        loads.Count.ShouldBe(501);
        loads.ShouldAllBe(l => l.Status == LoadStatus.Ready);
        first.NewLoadIds.ShouldBe(loads.Select(l => l.Id));
    }

    private sealed class CountingCatalog(ICatalog inner) : ForwardingCatalog(inner), ICatalog
    {
        public List<int> Batches { get; } = [];

        public int Singles { get; private set; }

        public override Task<RegisterResult> RegisterLoadAsync(NewLoad load, CancellationToken cancellationToken)
        {
            Singles++;
            return base.RegisterLoadAsync(load, cancellationToken);
        }

        Task<IReadOnlyList<RegisterResult>> ICatalog.RegisterLoadsAsync(IReadOnlyList<NewLoad> loads, CancellationToken cancellationToken)
        {
            Batches.Add(loads.Count);
            return Inner.RegisterLoadsAsync(loads, cancellationToken);
        }
    }
}
