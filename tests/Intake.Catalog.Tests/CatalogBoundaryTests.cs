using Intake.Core.Errors;
using Intake.Core.Model;
using Intake.Tests.Shared;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace Intake.Catalog.Tests;

/// <summary>How each catalog reports a database it cannot use: transient when waiting may help, config when it cannot.</summary>
public sealed class CatalogBoundaryTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), $"intake-catalog-{Guid.NewGuid():N}");
    private readonly ManualTimeProvider _clock = new();

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        if (Directory.Exists(_directory))
        {
            Directory.Delete(_directory, recursive: true);
        }
    }

    /// <summary>
    /// A short process (Postfix's <c>intake mail</c>, one per message) opening a catalog already at this build's schema
    /// reads the versions and goes on: it does not queue for the migration lock that another process holds.
    /// </summary>
    [Fact]
    public async Task Sqlite_MigrateAtTheCurrentSchema_DoesNotWaitForTheMigrationLock()
    {
        var path = Path.Combine(_directory, "catalog.db");
        await using (var first = new SqliteCatalog(path, _clock))
        {
            await first.MigrateAsync(CancellationToken.None);
        }

        await using var catalog = new SqliteCatalog(path, _clock, busyTimeout: TimeSpan.Zero);
        await using var other = new SqliteConnection($"Data Source={path};Pooling=False");
        await other.OpenAsync();
        await using var hold = other.BeginTransaction(deferred: false); // BEGIN IMMEDIATE: what a migrating process holds

        await catalog.MigrateAsync(CancellationToken.None); // without the read first: "database is locked", transient
        (await catalog.ListLoadsAsync(new LoadQuery(), CancellationToken.None)).ShouldBeEmpty();
    }

    [Fact]
    public async Task Sqlite_WhenAnotherProcessHoldsTheWriteLock_FailsAsTransient()
    {
        var path = Path.Combine(_directory, "catalog.db");
        await using var catalog = new SqliteCatalog(path, _clock, busyTimeout: TimeSpan.Zero);
        await catalog.MigrateAsync(CancellationToken.None);
        await using var other = new SqliteConnection($"Data Source={path};Pooling=False");
        await other.OpenAsync();
        await using var hold = other.BeginTransaction(deferred: false); // BEGIN IMMEDIATE: the write lock, until rolled back

        var ex = await Should.ThrowAsync<IntakeException>(() => catalog.RegisterLoadAsync(new NewLoad("p", "c", "k", "f"), CancellationToken.None));

        ex.Kind.ShouldBe(ErrorKind.Transient);
        ex.Message.ShouldContain(path);
    }

    [Fact]
    public void Sqlite_WhenThePathIsADirectory_FailsAsConfig()
    {
        Directory.CreateDirectory(_directory);

        var ex = Should.Throw<IntakeException>(() => new SqliteCatalog(_directory, _clock));

        ex.Kind.ShouldBe(ErrorKind.Config);
        ex.Message.ShouldContain(_directory);
    }

    [Fact]
    public async Task Postgres_WhenTheServerIsUnreachable_FailsAsTransient()
    {
        // Port 1 on loopback: connection refused at once.
        await using var catalog = new PostgresCatalog("Host=127.0.0.1;Port=1;Username=intake;Password=secret;Database=intake;Timeout=2", _clock);

        var ex = await Should.ThrowAsync<IntakeException>(() => catalog.MigrateAsync(CancellationToken.None));

        ex.Kind.ShouldBe(ErrorKind.Transient);
        ex.Message.ShouldContain("127.0.0.1:1/intake");
        ex.Message.ShouldNotContain("secret");
    }

    [PostgresFact]
    public async Task Postgres_WhenTheDatabaseDoesNotExist_FailsAsConfig()
    {
        var missing = new NpgsqlConnectionStringBuilder(TestPostgres.ServerConnectionString) { Database = $"intake_missing_{Guid.NewGuid():N}" };
        await using var catalog = new PostgresCatalog(missing.ConnectionString, _clock);

        var ex = await Should.ThrowAsync<IntakeException>(() => catalog.MigrateAsync(CancellationToken.None));

        ex.Kind.ShouldBe(ErrorKind.Config);
        ex.Message.ShouldContain(missing.Database!);
    }

    [Fact]
    public void Postgres_WithAMalformedConnectionString_FailsAsConfig()
    {
        var ex = Should.Throw<IntakeException>(() => new PostgresCatalog("Host=db;NoSuchKeyword=1", _clock));

        ex.Kind.ShouldBe(ErrorKind.Config);
    }

    [Fact]
    public async Task Factory_CreatesTheCatalogOfTheNamedKind()
    {
        var sqlite = CatalogFactory.Open("SQLite", Path.Combine(_directory, "c.db"), _clock);
        await using (sqlite.Loads)
        {
            sqlite.Loads.ShouldBeOfType<SqliteCatalog>();
            new object[] { sqlite.Queries, sqlite.Exports, sqlite.Locks, sqlite.Checkpoints, sqlite.Keys, sqlite.Schedules }.ShouldAllBe(p => ReferenceEquals(p, sqlite.Loads));
        }

        var postgres = CatalogFactory.Open("postgres", "Host=127.0.0.1;Database=intake", _clock);
        await using (postgres.Loads)
        {
            postgres.Loads.ShouldBeOfType<PostgresCatalog>();
        }

        Should.Throw<IntakeException>(() => CatalogFactory.Open("mysql", "x", _clock)).Kind.ShouldBe(ErrorKind.Config);
    }
}
