namespace Intake.Catalog.Tests;

/// <summary>The compliance suite on a fresh SQLite file per test.</summary>
public sealed class SqliteCatalogTests : CatalogComplianceTests
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), $"intake-catalog-{Guid.NewGuid():N}");

    // A subdirectory that does not exist yet: the catalog creates it.
    protected override Task CreateDatabaseAsync() => Task.CompletedTask;

    protected override SqlCatalog OpenCatalog(TimeProvider time) => new SqliteCatalog(Path.Combine(_directory, "sub", "catalog.db"), time);

    protected override Task DropDatabaseAsync()
    {
        Directory.Delete(_directory, recursive: true);
        return Task.CompletedTask;
    }
}
