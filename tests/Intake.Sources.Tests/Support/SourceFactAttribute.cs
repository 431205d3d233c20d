using Xunit.Abstractions;
using Xunit.Sdk;

namespace Intake.Sources.Tests.Support;

/// <summary>
/// A fact of the file-source compliance suite. It runs once per concrete subclass; a subclass marked
/// <see cref="RequiresServerAttribute"/> is skipped exactly like that server's own facts (skipped without the
/// server on a developer machine, failing in CI), while the local-folder run of the same test is never skipped.
/// </summary>
[XunitTestCaseDiscoverer("Intake.Sources.Tests.Support.SourceFactDiscoverer", "Intake.Sources.Tests")]
[AttributeUsage(AttributeTargets.Method)]
public sealed class SourceFactAttribute : FactAttribute;

/// <summary>Marks a compliance subclass that needs a test server, by the fact attribute that server's tests use.</summary>
/// <param name="fact">A <see cref="FactAttribute"/> type whose <see cref="FactAttribute.Skip"/> says whether the server is there.</param>
[AttributeUsage(AttributeTargets.Class)]
public sealed class RequiresServerAttribute(Type fact) : Attribute
{
    public Type Fact { get; } = fact;
}

public sealed class SourceFactDiscoverer(IMessageSink diagnosticMessageSink) : FactDiscoverer(diagnosticMessageSink)
{
    protected override IXunitTestCase CreateTestCase(ITestFrameworkDiscoveryOptions discoveryOptions, ITestMethod testMethod, IAttributeInfo factAttribute) =>
        new SourceTestCase(DiagnosticMessageSink, discoveryOptions.MethodDisplayOrDefault(), discoveryOptions.MethodDisplayOptionsOrDefault(), testMethod);
}

/// <summary>A test case whose skip reason depends on the concrete test class (decided where it runs, not where it was discovered).</summary>
public sealed class SourceTestCase : XunitTestCase
{
    [Obsolete("Called by the de-serializer; should only be called by deriving classes for de-serialization purposes")]
    public SourceTestCase()
    {
    }

    public SourceTestCase(IMessageSink diagnosticMessageSink, TestMethodDisplay defaultMethodDisplay, TestMethodDisplayOptions defaultMethodDisplayOptions, ITestMethod testMethod)
        : base(diagnosticMessageSink, defaultMethodDisplay, defaultMethodDisplayOptions, testMethod)
    {
    }

    protected override string GetSkipReason(IAttributeInfo factAttribute) =>
        base.GetSkipReason(factAttribute)
        ?? TestMethod.TestClass.Class.GetCustomAttributes(typeof(RequiresServerAttribute))
            .Select(a => ((FactAttribute)Activator.CreateInstance((Type)a.GetConstructorArguments().First())!).Skip)
            .FirstOrDefault(skip => skip is not null)!;
}
