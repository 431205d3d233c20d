using Xunit.Sdk;

namespace Intake.Catalog.Tests;

/// <summary>
/// A fact of the compliance suite. It runs once per concrete subclass; a subclass marked
/// <c>[RequiresServer(typeof(PostgresFactAttribute))]</c> is skipped exactly like a PostgreSQL fact (skipped on a
/// developer machine without PostgreSQL, never in CI), while the SQLite run of the same test is never skipped
/// (see <see cref="Intake.Tests.Shared.ComplianceFactDiscoverer"/>).
/// </summary>
[XunitTestCaseDiscoverer("Intake.Tests.Shared.ComplianceFactDiscoverer", "Intake.Catalog.Tests")]
[AttributeUsage(AttributeTargets.Method)]
public sealed class CatalogFactAttribute : FactAttribute;
