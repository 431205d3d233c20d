using Intake.Catalog;
using Intake.Core.Errors;
using Intake.Core.Model;
using Intake.Core.Ports;
using Intake.Server.Auth;
using Intake.Tests.Shared;
using Npgsql;

namespace Intake.Server.Tests;

/// <summary>
/// One <c>intake serve</c> on a fresh PostgreSQL catalog, shared by the API tests. Two customers: acme
/// (pipelines orders and frozen, frozen paused) and globex (pipeline events), with loads seeded in every
/// status the tests need, and keys of each scope.
/// </summary>
public sealed class ApiFixture : IAsyncLifetime
{
    public const int RateLimit = 100_000;

    public Workspace Workspace { get; private set; } = null!;
    public Workspace.Serve Serve { get; private set; } = null!;
    public string Connection { get; private set; } = null!;

    public string AcmeRead { get; private set; } = null!;
    public string AcmeWrite { get; private set; } = null!;
    public string GlobexWrite { get; private set; } = null!;
    public string Admin { get; private set; } = null!;

    /// <summary>Seeded loads: acme/orders errored, archived, ingesting (held by a worker elsewhere), a second errored one to re-drive.</summary>
    public long OrdersErrored { get; private set; }
    public long OrdersArchived { get; private set; }
    public long OrdersIngesting { get; private set; }
    public long OrdersIngestingToKeep { get; private set; }
    public long OrdersToRedrive { get; private set; }
    public long EventsErrored { get; private set; }
    public long EventsArchived { get; private set; }
    /// <summary>acme/frozen (paused, so no worker takes them): one ready now, one created two days ago.</summary>
    public long FrozenReady { get; private set; }
    public long FrozenOld { get; private set; }

    public async Task InitializeAsync()
    {
        if (!TestPostgres.IsReachable)
        {
            return; // every test is a [PostgresFact]: skipped locally, failing in CI
        }

        Connection = await TestPostgres.CreateDatabaseAsync("srv");
        Workspace = new Workspace(Connection);
        Workspace.WritePipeline("orders", "acme");
        Workspace.WritePipeline("frozen", "acme");
        Workspace.WritePipeline("events", "globex", "timeout: 30m");

        var now = DateTimeOffset.UtcNow;
        await using (var old = new PostgresCatalog(Connection, new ManualTimeProvider(now - TimeSpan.FromHours(48))))
        {
            await old.MigrateAsync(default);
            FrozenOld = (await old.RegisterLoadAsync(new NewLoad("frozen", "acme", "old.csv", "f-old"), default)).Load.Id;
        }

        await using (var catalog = new PostgresCatalog(Connection, TimeProvider.System))
        {
            OrdersErrored = await ErroredAsync(catalog, "orders", "acme", "a.csv");
            OrdersArchived = await ArchivedAsync(catalog, "orders", "acme", "b.csv");
            OrdersIngesting = (await catalog.RegisterLoadAsync(new NewLoad("orders", "acme", "c.csv", "f"), default)).Load.Id;
            (await catalog.ClaimAsync(new ClaimRequest { Worker = "elsewhere:1:deadbeef", Lease = TimeSpan.FromHours(1), Pipelines = ["orders"] }, default))!.Id.ShouldBe(OrdersIngesting);
            OrdersIngestingToKeep = (await catalog.RegisterLoadAsync(new NewLoad("orders", "acme", "c2.csv", "f"), default)).Load.Id;
            (await catalog.ClaimAsync(new ClaimRequest { Worker = "elsewhere:1:deadbeef", Lease = TimeSpan.FromHours(1), Pipelines = ["orders"] }, default))!.Id.ShouldBe(OrdersIngestingToKeep);
            OrdersToRedrive = await ErroredAsync(catalog, "orders", "acme", "d.csv");
            EventsErrored = await ErroredAsync(catalog, "events", "globex", "e.csv");
            EventsArchived = await ArchivedAsync(catalog, "events", "globex", "f.csv");
            FrozenReady = (await catalog.RegisterLoadAsync(new NewLoad("frozen", "acme", "g.csv", "f"), default)).Load.Id;
            await catalog.PausePipelineAsync("frozen", "seed", default);

            AcmeRead = (await ApiKeys.CreateAsync(catalog, "acme", ApiKeyScope.Read, "acme reader", default)).Key;
            AcmeWrite = (await ApiKeys.CreateAsync(catalog, "acme", ApiKeyScope.Write, "acme writer", default)).Key;
            GlobexWrite = (await ApiKeys.CreateAsync(catalog, "globex", ApiKeyScope.Write, null, default)).Key;
            Admin = (await ApiKeys.CreateAsync(catalog, "*", ApiKeyScope.Admin, "ops", default)).Key;
        }

        await using (var conn = new NpgsqlConnection(Connection))
        {
            await conn.OpenAsync();
            await using var cmd = new NpgsqlCommand("""
                INSERT INTO intake_watermarks (pipeline, partition_key, value, updated_at) VALUES
                ('orders', 'eu', '2026-01-31', now()), ('events', 'all', '42', now())
                """, conn);
            await cmd.ExecuteNonQueryAsync();
        }

        // The tests send many requests without a valid key from one address: lift that limit too (RateLimitTests pin both).
        Serve = await Workspace.StartServeAsync("--rate-limit", $"{RateLimit}/1m", "--anonymous-rate-limit", $"{RateLimit}/1m", "--workers", "2", "--poll", "200ms", "--sweep-every", "1s");
    }

    private static async Task<long> ErroredAsync(ICatalog catalog, string pipeline, string customer, string key)
    {
        var id = (await catalog.RegisterLoadAsync(new NewLoad(pipeline, customer, key, "f"), default)).Load.Id;
        var claimed = await catalog.ClaimAsync(new ClaimRequest { Worker = "seed", Lease = TimeSpan.FromMinutes(5), Pipelines = [pipeline] }, default);
        claimed!.Id.ShouldBe(id);
        var fetch = await catalog.StartStepAsync(id, "fetch", 1, "seed", default);
        await catalog.FinishStepAsync(fetch, new StepResult { BytesIn = 10, BytesOut = 10 }, default);
        var decompress = await catalog.StartStepAsync(id, "decompress", 1, "seed", default);
        await catalog.FinishStepAsync(decompress, StepResult.Failed(ErrorKind.Format, "not a gzip file"), default);
        (await catalog.TransitionAsync(id, LoadStatus.Ingesting, LoadStatus.ReadyForErroring, new TransitionDetails { LeaseOwner = "seed", ErrorKind = ErrorKind.Format, ErrorMessage = "not a gzip file" }, default)).ShouldBeTrue();
        (await catalog.ClaimAsync(new ClaimRequest { Worker = "seed", From = LoadStatus.ReadyForErroring, Lease = TimeSpan.FromMinutes(5), Pipelines = [pipeline] }, default))!.Id.ShouldBe(id);
        (await catalog.TransitionAsync(id, LoadStatus.Erroring, LoadStatus.Errored, new TransitionDetails { LeaseOwner = "seed" }, default)).ShouldBeTrue();
        return id;
    }

    private static async Task<long> ArchivedAsync(ICatalog catalog, string pipeline, string customer, string key)
    {
        var id = (await catalog.RegisterLoadAsync(new NewLoad(pipeline, customer, key, "f"), default)).Load.Id;
        (await catalog.ClaimAsync(new ClaimRequest { Worker = "seed", Lease = TimeSpan.FromMinutes(5), Pipelines = [pipeline] }, default))!.Id.ShouldBe(id);
        (await catalog.TransitionAsync(id, LoadStatus.Ingesting, LoadStatus.ReadyForArchiving, new TransitionDetails { LeaseOwner = "seed" }, default)).ShouldBeTrue();
        (await catalog.ClaimAsync(new ClaimRequest { Worker = "seed", From = LoadStatus.ReadyForArchiving, Lease = TimeSpan.FromMinutes(5), Pipelines = [pipeline] }, default))!.Id.ShouldBe(id);
        (await catalog.TransitionAsync(id, LoadStatus.Archiving, LoadStatus.Archived, new TransitionDetails { LeaseOwner = "seed" }, default)).ShouldBeTrue();
        return id;
    }

    /// <summary>Replaces the load placeholders in an endpoint path.</summary>
    public string Path(string template) => template
        .Replace("{orders-errored}", OrdersErrored.ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal)
        .Replace("{orders-archived}", OrdersArchived.ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal);

    public async Task DisposeAsync()
    {
        if (Serve is not null)
        {
            await Serve.DisposeAsync();
        }

        Workspace?.Dispose();
    }
}
