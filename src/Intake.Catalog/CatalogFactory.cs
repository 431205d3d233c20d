using Intake.Core.Errors;
using Intake.Core.Ports;

namespace Intake.Catalog;

/// <summary>Builds the catalog named in <c>intake.yaml</c> (<c>catalog.kind</c>), so hosts need not know the classes.</summary>
public static class CatalogFactory
{
    /// <param name="kind"><c>sqlite</c> or <c>postgres</c> (case-insensitive; <c>postgresql</c> also accepted).</param>
    /// <param name="connectionOrPath">The SQLite file path, or the PostgreSQL connection string.</param>
    public static ICatalog Create(string kind, string connectionOrPath, TimeProvider time)
    {
        if (string.Equals(kind, "sqlite", StringComparison.OrdinalIgnoreCase))
        {
            return new SqliteCatalog(connectionOrPath, time);
        }

        if (string.Equals(kind, "postgres", StringComparison.OrdinalIgnoreCase) || string.Equals(kind, "postgresql", StringComparison.OrdinalIgnoreCase))
        {
            return new PostgresCatalog(connectionOrPath, time);
        }

        throw IntakeException.Config($"unknown catalog kind '{kind}': expected 'sqlite' or 'postgres'");
    }
}
