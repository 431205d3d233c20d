using Npgsql;

namespace Intake.Tests.Shared;

/// <summary>
/// The PostgreSQL server the tests run against: <c>INTAKE_TEST_PG</c>, or the one
/// <c>scripts/servers/postgres.sh start</c> runs on 127.0.0.1:55432. Each caller gets a fresh database.
/// </summary>
public static class TestPostgres
{
    public static string ServerConnectionString =>
        Environment.GetEnvironmentVariable("INTAKE_TEST_PG") is { Length: > 0 } s
            ? s
            : "Host=127.0.0.1;Port=55432;Username=postgres;Database=intake";

    private static readonly Lazy<bool> Reachable = new(() =>
    {
        var b = new NpgsqlConnectionStringBuilder(ServerConnectionString);
        return TestServers.Answers(b.Host ?? "127.0.0.1", b.Port);
    });

    public static bool IsReachable => Reachable.Value;

    /// <summary>Creates an empty database and returns its connection string.</summary>
    public static async Task<string> CreateDatabaseAsync(string prefix = "t")
    {
        var name = $"{prefix}_{Guid.NewGuid():N}"[..Math.Min(60, prefix.Length + 33)].ToLowerInvariant();
        await using (var conn = new NpgsqlConnection(ServerConnectionString))
        {
            await conn.OpenAsync();
            await using var cmd = new NpgsqlCommand($"CREATE DATABASE \"{name}\"", conn);
            await cmd.ExecuteNonQueryAsync();
        }

        return new NpgsqlConnectionStringBuilder(ServerConnectionString) { Database = name, Pooling = true }.ConnectionString;
    }
}

/// <summary>
/// A fact that needs PostgreSQL: skipped on a developer machine without one, but never in CI
/// (<c>CI=true</c>), where an unreachable server must fail the run instead of hiding it.
/// </summary>
public sealed class PostgresFactAttribute : FactAttribute
{
    public PostgresFactAttribute() =>
        Skip = TestServers.SkipUnless(TestPostgres.IsReachable, "PostgreSQL is not reachable (start it with scripts/servers/postgres.sh start, or set INTAKE_TEST_PG)");
}

/// <summary>A theory that needs PostgreSQL (same rule as <see cref="PostgresFactAttribute"/>).</summary>
public sealed class PostgresTheoryAttribute : TheoryAttribute
{
    public PostgresTheoryAttribute() =>
        Skip = TestServers.SkipUnless(TestPostgres.IsReachable, "PostgreSQL is not reachable (start it with scripts/servers/postgres.sh start, or set INTAKE_TEST_PG)");
}
