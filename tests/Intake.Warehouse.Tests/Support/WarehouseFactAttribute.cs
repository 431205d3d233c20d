using Xunit.Sdk;

namespace Intake.Warehouse.Tests.Support;

/// <summary>
/// A fact of the shared warehouse suites. It runs once per concrete subclass; a subclass marked
/// <c>[RequiresServer(typeof(PostgresFactAttribute))]</c> is skipped exactly like a PostgreSQL fact, while the SQLite
/// run of the same test is never skipped (see <see cref="Intake.Tests.Shared.ComplianceFactDiscoverer"/>).
/// </summary>
[XunitTestCaseDiscoverer("Intake.Tests.Shared.ComplianceFactDiscoverer", "Intake.Warehouse.Tests")]
[AttributeUsage(AttributeTargets.Method)]
public sealed class WarehouseFactAttribute : FactAttribute;
