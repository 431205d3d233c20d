using System.Runtime.CompilerServices;
using Intake.Core.Ports;
using Intake.Engine.SourceKinds;
using Intake.Tests.Shared;
using Npgsql;

namespace Intake.Engine.Tests;

/// <summary>Disposing a runtime closes what it opened: no connection of a finished command stays open on the servers.</summary>
public sealed class RuntimeDisposalTests
{
    [PostgresFact]
    public async Task Dispose_ClosesTheCatalogsAndTheWarehousesConnections()
    {
        // Each pool names its sessions, so the count below sees only this runtime's.
        var name = $"intake-dispose-{Guid.NewGuid():N}"[..28];
        var catalog = new NpgsqlConnectionStringBuilder(await TestPostgres.CreateDatabaseAsync("rtc")) { ApplicationName = name + "-c" };
        var warehouse = new NpgsqlConnectionStringBuilder(await TestPostgres.CreateDatabaseAsync("rtw")) { ApplicationName = name + "-w" };
        await using var project = new EmbeddedProject(
            "intake-dispose-", catalog: $"{{ kind: postgres, connection: \"{catalog}\" }}", warehouse: $"{{ kind: postgres, connection: \"{warehouse}\" }}");
        var runtime = await project.OpenAsync();
        (await runtime.Warehouses["main"].CountRowsAsync("rows", 1, default)).ShouldBe(0);
        (await SessionsAsync(catalog.ApplicationName)).ShouldBeGreaterThan(0, "the catalog's migration leaves a pooled connection");
        (await SessionsAsync(warehouse.ApplicationName)).ShouldBeGreaterThan(0, "the warehouse's query leaves a pooled connection");

        await runtime.DisposeAsync();

        (await SessionsOnceSettledAsync(catalog.ApplicationName)).ShouldBe(0, "catalog sessions");
        (await SessionsOnceSettledAsync(warehouse.ApplicationName)).ShouldBe(0, "warehouse sessions");
    }

    [Fact]
    public async Task Dispose_DisposesTheSourceThatDiscoveryKeptForEachPipeline()
    {
        await using var project = new EmbeddedProject("intake-dispose-");
        project.Pipeline("p", """
            name: p
            source: { kind: tracked }
            steps: [fetch]
            """);
        var kind = new TrackedKind();
        var runtime = await IntakeRuntime.OpenAsync(ConfigLoader.Load(project.ConfigPath, SourceKindRegistry.BuiltIn.With(kind)));
        var discovery = new Discovery(runtime);
        await discovery.DiscoverAsync(runtime.Pipeline("p"), default);
        await discovery.DiscoverAsync(runtime.Pipeline("p"), default);
        kind.Open.ShouldBe(1, "discovery keeps one source per pipeline across listings");

        await runtime.DisposeAsync();

        kind.Open.ShouldBe(0);
    }

    private static async Task<long> SessionsAsync(string applicationName)
    {
        await using var connection = new NpgsqlConnection(TestPostgres.ServerConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("select count(*) from pg_stat_activity where application_name = @name", connection);
        command.Parameters.AddWithValue("name", applicationName);
        return (long)(await command.ExecuteScalarAsync())!;
    }

    /// <summary>
    /// The count once it reaches zero, or after a generous wait: a closed connection's server process leaves
    /// pg_stat_activity a moment after the client hangs up, while a leaked one stays there.
    /// </summary>
    private static async Task<long> SessionsOnceSettledAsync(string applicationName)
    {
        for (var i = 0; i < 100; i++)
        {
            if (await SessionsAsync(applicationName) == 0)
            {
                return 0;
            }

            await Task.Delay(100);
        }

        return await SessionsAsync(applicationName);
    }

    /// <summary><c>source.kind: tracked</c>: an empty source that counts its instances not disposed yet.</summary>
    private sealed class TrackedKind : FileSourceKind<object>
    {
        private int _open;

        public int Open => _open;

        public override string Name => "tracked";

        public override string Reads => "nothing, counting its sources";

        public override IFileSource CreateSource(object options, TimeProvider time)
        {
            Interlocked.Increment(ref _open);
            return new TrackedSource(() => Interlocked.Decrement(ref _open));
        }

        protected override object Read(SourceReading reading) => new();

        protected override string Location(object options) => "tracked";
    }

    private sealed class TrackedSource(Action disposed) : IFileSource, IDisposable
    {
        public async IAsyncEnumerable<SourceFile> ListAsync([EnumeratorCancellation] CancellationToken cancellationToken)
        {
            await Task.CompletedTask;
            yield break;
        }

        public Task<Stream> OpenReadAsync(string key, CancellationToken cancellationToken) => throw new FileNotFoundException(key);

        public string Describe(string key) => "tracked:" + key;

        public void Dispose() => disposed();
    }
}
