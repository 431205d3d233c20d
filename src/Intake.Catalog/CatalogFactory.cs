using Intake.Core.Errors;
using Intake.Core.Ports;

namespace Intake.Catalog;

/// <summary>Builds the catalog named in <c>intake.yaml</c> (<c>catalog.kind</c>), so hosts need not know the classes.</summary>
public static class CatalogFactory
{
    /// <param name="kind"><c>sqlite</c> or <c>postgres</c> (case-insensitive; <c>postgresql</c> also accepted).</param>
    /// <param name="connectionOrPath">The SQLite file path, or the PostgreSQL connection string.</param>
    /// <param name="answered">Told after each call the database answered (see <see cref="SqlCatalog.Answered"/>).</param>
    public static CatalogPorts Open(string kind, string connectionOrPath, TimeProvider time, Action? answered = null)
    {
        SqlCatalog catalog;
        if (string.Equals(kind, "sqlite", StringComparison.OrdinalIgnoreCase))
        {
            catalog = new SqliteCatalog(connectionOrPath, time);
        }
        else if (string.Equals(kind, "postgres", StringComparison.OrdinalIgnoreCase) || string.Equals(kind, "postgresql", StringComparison.OrdinalIgnoreCase))
        {
            catalog = new PostgresCatalog(connectionOrPath, time);
        }
        else
        {
            throw IntakeException.Config($"unknown catalog kind '{kind}': expected 'sqlite' or 'postgres'");
        }

        catalog.Answered = answered;

        // One database serves every port: the SQL is written once in SqlCatalog's partial files.
        return new CatalogPorts(catalog, catalog, catalog, catalog, catalog, catalog, catalog, catalog, catalog);
    }
}
