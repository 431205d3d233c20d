using Xunit.Abstractions;
using Xunit.Sdk;

namespace Intake.Tests.Shared;

/// <summary>Marks a compliance subclass that needs a test server, by the fact attribute that server's own tests use.</summary>
/// <param name="fact">A <see cref="FactAttribute"/> type whose <see cref="FactAttribute.Skip"/> says whether the server is there.</param>
[AttributeUsage(AttributeTargets.Class)]
public sealed class RequiresServerAttribute(Type fact) : Attribute
{
    public Type Fact { get; } = fact;
}

/// <summary>
/// The discoverer of a compliance suite's facts. A suite's tests are declared once on an abstract class and run once
/// per concrete subclass, so the attribute alone cannot know which server a test needs: a subclass marked
/// <see cref="RequiresServerAttribute"/> is skipped exactly like that server's own facts (skipped without the server
/// on a developer machine, failing in CI), while the run against an embedded implementation is never skipped.
/// This file is compiled into each test project, so each declares its fact attribute with its own assembly's name:
/// <c>[XunitTestCaseDiscoverer("Intake.Tests.Shared.ComplianceFactDiscoverer", "Intake.X.Tests")]</c>.
/// </summary>
public sealed class ComplianceFactDiscoverer(IMessageSink diagnosticMessageSink) : FactDiscoverer(diagnosticMessageSink)
{
    protected override IXunitTestCase CreateTestCase(ITestFrameworkDiscoveryOptions discoveryOptions, ITestMethod testMethod, IAttributeInfo factAttribute) =>
        new ComplianceTestCase(DiagnosticMessageSink, discoveryOptions.MethodDisplayOrDefault(), discoveryOptions.MethodDisplayOptionsOrDefault(), testMethod);
}

/// <summary>A test case whose skip reason depends on the concrete test class (decided where it runs, not where it was discovered).</summary>
public sealed class ComplianceTestCase : XunitTestCase
{
    [Obsolete("Called by the de-serializer; should only be called by deriving classes for de-serialization purposes")]
    public ComplianceTestCase()
    {
    }

    public ComplianceTestCase(IMessageSink diagnosticMessageSink, TestMethodDisplay defaultMethodDisplay, TestMethodDisplayOptions defaultMethodDisplayOptions, ITestMethod testMethod)
        : base(diagnosticMessageSink, defaultMethodDisplay, defaultMethodDisplayOptions, testMethod)
    {
    }

    protected override string GetSkipReason(IAttributeInfo factAttribute) =>
        base.GetSkipReason(factAttribute)
        ?? TestMethod.TestClass.Class.GetCustomAttributes(typeof(RequiresServerAttribute))
            .Select(a => ((FactAttribute)Activator.CreateInstance((Type)a.GetConstructorArguments().First())!).Skip)
            .FirstOrDefault(skip => skip is not null)!;
}
