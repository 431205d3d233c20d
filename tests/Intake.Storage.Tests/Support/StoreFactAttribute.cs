using Intake.Storage.Tests.S3;
using Xunit.Abstractions;
using Xunit.Sdk;

namespace Intake.Storage.Tests.Support;

/// <summary>
/// A fact of the object store compliance suite. It runs once per concrete subclass; when that subclass is
/// marked <see cref="RequiresS3Attribute"/> it is skipped exactly like <see cref="S3FactAttribute"/> (skipped
/// without a server, failing in CI), while the local directory run of the same test is never skipped.
/// </summary>
[XunitTestCaseDiscoverer("Intake.Storage.Tests.Support.StoreFactDiscoverer", "Intake.Storage.Tests")]
[AttributeUsage(AttributeTargets.Method)]
public sealed class StoreFactAttribute : FactAttribute;

/// <summary>Marks a compliance subclass whose store is the S3 test server.</summary>
[AttributeUsage(AttributeTargets.Class)]
public sealed class RequiresS3Attribute : Attribute;

public sealed class StoreFactDiscoverer(IMessageSink diagnosticMessageSink) : FactDiscoverer(diagnosticMessageSink)
{
    protected override IXunitTestCase CreateTestCase(ITestFrameworkDiscoveryOptions discoveryOptions, ITestMethod testMethod, IAttributeInfo factAttribute) =>
        new StoreTestCase(DiagnosticMessageSink, discoveryOptions.MethodDisplayOrDefault(), discoveryOptions.MethodDisplayOptionsOrDefault(), testMethod);
}

/// <summary>A test case whose skip reason depends on the concrete test class (decided where it runs, not where it was discovered).</summary>
public sealed class StoreTestCase : XunitTestCase
{
    [Obsolete("Called by the de-serializer; should only be called by deriving classes for de-serialization purposes")]
    public StoreTestCase()
    {
    }

    public StoreTestCase(IMessageSink diagnosticMessageSink, TestMethodDisplay defaultMethodDisplay, TestMethodDisplayOptions defaultMethodDisplayOptions, ITestMethod testMethod)
        : base(diagnosticMessageSink, defaultMethodDisplay, defaultMethodDisplayOptions, testMethod)
    {
    }

    protected override string GetSkipReason(IAttributeInfo factAttribute) =>
        base.GetSkipReason(factAttribute)
        ?? (TestMethod.TestClass.Class.GetCustomAttributes(typeof(RequiresS3Attribute)).Any() ? new S3FactAttribute().Skip : null)!;
}
