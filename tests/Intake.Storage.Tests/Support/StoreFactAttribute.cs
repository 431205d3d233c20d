using Xunit.Sdk;

namespace Intake.Storage.Tests.Support;

/// <summary>
/// A fact of the object store compliance suite. It runs once per concrete subclass; a subclass marked
/// <c>[RequiresServer(typeof(S3FactAttribute))]</c> is skipped exactly like an S3 fact, while the local directory
/// run of the same test is never skipped (see <see cref="Intake.Tests.Shared.ComplianceFactDiscoverer"/>).
/// </summary>
[XunitTestCaseDiscoverer("Intake.Tests.Shared.ComplianceFactDiscoverer", "Intake.Storage.Tests")]
[AttributeUsage(AttributeTargets.Method)]
public sealed class StoreFactAttribute : FactAttribute;
