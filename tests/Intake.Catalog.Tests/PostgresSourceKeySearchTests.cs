using Intake.Core.Model;
using Intake.Tests.Shared;
using Npgsql;

namespace Intake.Catalog.Tests;

/// <summary>
/// PostgreSQL's part of the source key search: the trigram index when pg_trgm can be created, and a migration that
/// still succeeds (the search still answering, without the index) when it cannot.
/// </summary>
public sealed class PostgresSourceKeySearchTests
{
    [PostgresFact]
    public async Task Migrate_CreatesPgTrgmAndTheTrigramIndex_WhenItMay()
    {
        var connection = await TestPostgres.CreateDatabaseAsync("trgm");
        await using var catalog = new PostgresCatalog(connection, TimeProvider.System);
        await catalog.MigrateAsync(default);

        (await ScalarAsync(connection, "SELECT count(*) FROM pg_indexes WHERE indexname = 'intake_loads_source_key_trgm'")).ShouldBe(1L);
        await DropAsync(connection);
    }

    [PostgresFact]
    public async Task Migrate_WithoutTheRightToCreatePgTrgm_SucceedsWithoutTheIndex_AndTheSearchStillFindsTheFile()
    {
        var admin = await TestPostgres.CreateDatabaseAsync("notrgm");
        var database = new NpgsqlConnectionStringBuilder(admin).Database!;
        var role = "intake_nocreate_" + Guid.NewGuid().ToString("N")[..8];
        // A role that may create tables in the schema but not extensions in the database.
        await ExecuteAsync(admin, $"""
            CREATE ROLE {role} LOGIN;
            REVOKE CREATE ON DATABASE "{database}" FROM PUBLIC;
            GRANT CONNECT ON DATABASE "{database}" TO {role};
            GRANT CREATE, USAGE ON SCHEMA public TO {role};
            """);
        var limited = new NpgsqlConnectionStringBuilder(admin) { Username = role }.ConnectionString;
        try
        {
            await using (var catalog = new PostgresCatalog(limited, TimeProvider.System))
            {
                await catalog.MigrateAsync(default);
                var id = (await catalog.RegisterLoadAsync(new NewLoad("orders", "acme", "in/acme/Orders_0107.csv", "f1"), default)).Load.Id;
                (await catalog.ListLoadsAsync(new LoadQuery { SourceKey = "orders_0107" }, default)).Single().Id.ShouldBe(id);
            }

            (await ScalarAsync(admin, "SELECT count(*) FROM pg_extension WHERE extname = 'pg_trgm'")).ShouldBe(0L);
            (await ScalarAsync(admin, "SELECT count(*) FROM pg_indexes WHERE indexname = 'intake_loads_source_key_trgm'")).ShouldBe(0L);
            // Every migration ran, the last one too.
            await using var current = new PostgresCatalog(limited, TimeProvider.System);
            (await ScalarAsync(admin, "SELECT max(version) FROM intake_schema_migrations")).ShouldBe(current.Migrations.Max(m => m.Version));
        }
        finally
        {
            await DropAsync(admin);
            await ExecuteAsync(TestPostgres.ServerConnectionString, $"DROP ROLE IF EXISTS {role}");
        }
    }

    private static async Task<object?> ScalarAsync(string connection, string sql)
    {
        await using var conn = new NpgsqlConnection(connection);
        await conn.OpenAsync();
        await using var command = new NpgsqlCommand(sql, conn);
        return await command.ExecuteScalarAsync();
    }

    private static async Task ExecuteAsync(string connection, string sql)
    {
        await using var conn = new NpgsqlConnection(connection);
        await conn.OpenAsync();
        await using var command = new NpgsqlCommand(sql, conn);
        await command.ExecuteNonQueryAsync();
    }

    private static async Task DropAsync(string connection)
    {
        NpgsqlConnection.ClearAllPools();
        var database = new NpgsqlConnectionStringBuilder(connection).Database;
        await ExecuteAsync(TestPostgres.ServerConnectionString, $"DROP DATABASE IF EXISTS \"{database}\" WITH (FORCE)");
    }
}
