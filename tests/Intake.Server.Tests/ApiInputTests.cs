using Intake.Server.Api;

namespace Intake.Server.Tests;

/// <summary>The shared input rules on their own: which keys and names pass, and cursors that only their own list takes.</summary>
public sealed class ApiInputTests
{
    [Theory]
    [InlineData("2026/01/ids.txt")]
    [InlineData("ids.txt")]
    [InlineData("a..b/c")]
    [InlineData("study:42")]
    [InlineData("s:1")]
    [InlineData("déjà vu.csv")]
    public void KeyProblem_AcceptsRelativeKeysAndNames(string key) => ApiInput.KeyProblem(key).ShouldBeNull();

    [Theory]
    [InlineData("", "empty")]
    [InlineData("   ", "empty")]
    [InlineData("../x", "'..'")]
    [InlineData("a/../../x", "'..'")]
    [InlineData("a/./b", "'.'")]
    [InlineData("/etc/passwd", "absolute")]
    [InlineData("C:", "absolute")]
    [InlineData("C:/x", "absolute")]
    [InlineData("a\\b", "backslash")]
    [InlineData("a\u0000b", "control character (U+0000) at character 2")]
    [InlineData("a\u007fb", "control character (U+007F)")]
    public void KeyProblem_RefusesKeysLeavingTheirArea(string key, string reason) => ApiInput.KeyProblem(key)!.ShouldContain(reason);

    [Fact]
    public void KeyProblem_RefusesOverlongKeys_SayingTheLimit()
    {
        ApiInput.KeyProblem(new string('k', ApiInput.MaxKeyLength)).ShouldBeNull();
        ApiInput.KeyProblem(new string('k', ApiInput.MaxKeyLength + 1))!.ShouldContain("at most 1024 characters");
    }

    [Fact]
    public void Cursor_RoundTrips_OnlyForItsOwnList()
    {
        var cursor = ApiInput.NewCursor("pipelines", "orders");
        var errors = new Dictionary<string, string[]>();

        ApiInput.Cursor(errors, cursor, "pipelines", 1).ShouldBe(["orders"]);
        errors.ShouldBeEmpty();
        ApiInput.Cursor(errors, cursor, "tables", 1).ShouldBeNull();
        ApiInput.Cursor(errors, cursor, "pipelines", 2).ShouldBeNull();
        errors["cursor"].Length.ShouldBe(2);
    }

    [Theory]
    [InlineData("1", 1)]
    [InlineData("1000", 1000)]
    [InlineData(null, 50)]
    public void Limit_TakesWholeNumbersFrom1To1000(string? text, int expected)
    {
        var errors = new Dictionary<string, string[]>();
        ApiInput.Limit(errors, text, 50).ShouldBe(expected);
        errors.ShouldBeEmpty();
    }

    [Theory]
    [InlineData("0")]
    [InlineData("-1")]
    [InlineData("+5")]
    [InlineData(" 5")]
    [InlineData("1001")]
    [InlineData("99999999999")]
    public void Limit_RefusesAnythingElse(string text)
    {
        var errors = new Dictionary<string, string[]>();
        ApiInput.Limit(errors, text, 50);
        errors["limit"][0].ShouldContain("from 1 to 1000");
    }
}
