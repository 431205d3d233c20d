using Xunit.Sdk;

namespace Intake.Sources.Tests.Support;

/// <summary>
/// A fact of the file-source compliance suite. It runs once per concrete subclass; a subclass marked
/// <c>[RequiresServer(typeof(…FactAttribute))]</c> is skipped exactly like that server's own facts, while the
/// local-folder run of the same test is never skipped (see <see cref="Intake.Tests.Shared.ComplianceFactDiscoverer"/>).
/// </summary>
[XunitTestCaseDiscoverer("Intake.Tests.Shared.ComplianceFactDiscoverer", "Intake.Sources.Tests")]
[AttributeUsage(AttributeTargets.Method)]
public sealed class SourceFactAttribute : FactAttribute;
