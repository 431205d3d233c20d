using Intake.Tests.Shared;
using Xunit.Abstractions;
using Xunit.Sdk;

namespace Intake.Catalog.Tests;

/// <summary>
/// A fact of the compliance suite. The suite's tests are declared once on an abstract class, so an
/// attribute alone cannot know which database a test will run against; this discoverer looks at the
/// concrete test class and, for one marked <see cref="RequiresPostgresAttribute"/>, applies the rule of
/// <see cref="PostgresFactAttribute"/>: skipped on a developer machine without PostgreSQL, never in CI.
/// </summary>
[XunitTestCaseDiscoverer("Intake.Catalog.Tests.CatalogFactDiscoverer", "Intake.Catalog.Tests")]
[AttributeUsage(AttributeTargets.Method)]
public sealed class CatalogFactAttribute : FactAttribute;

/// <summary>Marks a test class whose catalog needs the PostgreSQL test server.</summary>
[AttributeUsage(AttributeTargets.Class)]
public sealed class RequiresPostgresAttribute : Attribute;

public sealed class CatalogFactDiscoverer(IMessageSink diagnosticMessageSink) : IXunitTestCaseDiscoverer
{
    public IEnumerable<IXunitTestCase> Discover(ITestFrameworkDiscoveryOptions discoveryOptions, ITestMethod testMethod, IAttributeInfo factAttribute)
    {
        var needsPostgres = testMethod.TestClass.Class.GetCustomAttributes(typeof(RequiresPostgresAttribute).AssemblyQualifiedName).Any();
        var skip = needsPostgres ? new PostgresFactAttribute().Skip : null;
        yield return new CatalogTestCase(diagnosticMessageSink, discoveryOptions.MethodDisplayOrDefault(), discoveryOptions.MethodDisplayOptionsOrDefault(), testMethod, skip);
    }
}

/// <summary>A test case that carries the skip reason its discoverer decided (serialised, for runners that discover and run apart).</summary>
public sealed class CatalogTestCase : XunitTestCase
{
    private string? _skip;

    [Obsolete("Called by the de-serializer; should only be called by deriving classes for de-serialization purposes")]
    public CatalogTestCase()
    {
    }

    public CatalogTestCase(IMessageSink sink, TestMethodDisplay display, TestMethodDisplayOptions options, ITestMethod testMethod, string? skip)
        : base(sink, display, options, testMethod)
    {
        _skip = skip;
    }

    protected override string GetSkipReason(IAttributeInfo factAttribute) => _skip ?? base.GetSkipReason(factAttribute);

    public override void Serialize(IXunitSerializationInfo data)
    {
        base.Serialize(data);
        data.AddValue("CatalogSkip", _skip);
    }

    public override void Deserialize(IXunitSerializationInfo data)
    {
        _skip = data.GetValue<string?>("CatalogSkip");
        base.Deserialize(data);
    }
}
