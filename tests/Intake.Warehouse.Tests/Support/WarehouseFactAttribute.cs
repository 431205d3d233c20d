using Intake.Tests.Shared;
using Xunit.Abstractions;
using Xunit.Sdk;

namespace Intake.Warehouse.Tests.Support;

/// <summary>
/// A fact of the shared compliance suite. It runs once per concrete subclass; when that subclass is marked
/// <see cref="RequiresPostgresAttribute"/>, it is skipped exactly like <see cref="PostgresFactAttribute"/>
/// (skipped on a machine without PostgreSQL, failing in CI), while the SQLite run of the same test is never skipped.
/// </summary>
[XunitTestCaseDiscoverer("Intake.Warehouse.Tests.Support.WarehouseFactDiscoverer", "Intake.Warehouse.Tests")]
[AttributeUsage(AttributeTargets.Method)]
public sealed class WarehouseFactAttribute : FactAttribute;

/// <summary>Marks a compliance subclass whose warehouse is the test PostgreSQL server.</summary>
[AttributeUsage(AttributeTargets.Class)]
public sealed class RequiresPostgresAttribute : Attribute;

public sealed class WarehouseFactDiscoverer(IMessageSink diagnosticMessageSink) : FactDiscoverer(diagnosticMessageSink)
{
    protected override IXunitTestCase CreateTestCase(ITestFrameworkDiscoveryOptions discoveryOptions, ITestMethod testMethod, IAttributeInfo factAttribute) =>
        new ServerAwareTestCase(DiagnosticMessageSink, discoveryOptions.MethodDisplayOrDefault(), discoveryOptions.MethodDisplayOptionsOrDefault(), testMethod);
}

/// <summary>A test case whose skip reason depends on the concrete test class (decided where it runs, not where it was discovered).</summary>
public sealed class ServerAwareTestCase : XunitTestCase
{
    [Obsolete("Called by the de-serializer; should only be called by deriving classes for de-serialization purposes")]
    public ServerAwareTestCase()
    {
    }

    public ServerAwareTestCase(IMessageSink diagnosticMessageSink, TestMethodDisplay defaultMethodDisplay, TestMethodDisplayOptions defaultMethodDisplayOptions, ITestMethod testMethod)
        : base(diagnosticMessageSink, defaultMethodDisplay, defaultMethodDisplayOptions, testMethod)
    {
    }

    protected override string GetSkipReason(IAttributeInfo factAttribute) =>
        base.GetSkipReason(factAttribute)
        ?? (TestMethod.TestClass.Class.GetCustomAttributes(typeof(RequiresPostgresAttribute)).Any() ? new PostgresFactAttribute().Skip : null)!;
}
