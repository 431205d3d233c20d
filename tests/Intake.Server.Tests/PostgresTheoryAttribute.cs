using Intake.Tests.Shared;

namespace Intake.Server.Tests;

/// <summary>A theory that needs PostgreSQL: skipped without one locally, failing in CI (like <see cref="PostgresFactAttribute"/>).</summary>
public sealed class PostgresTheoryAttribute : TheoryAttribute
{
    public PostgresTheoryAttribute()
    {
        if (!TestPostgres.IsReachable && !string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase))
        {
            Skip = "PostgreSQL is not reachable (start it with scripts/servers/postgres.sh start, or set INTAKE_TEST_PG)";
        }
    }
}
