using Intake.Core.Errors;

namespace Intake.Storage.Tests;

public sealed class KeyTemplateTests
{
    private static readonly DateTimeOffset Received = new(2023, 1, 13, 12, 0, 0, TimeSpan.Zero);

    private static Dictionary<string, object> HViewValues(string name = "report.txt") => new()
    {
        ["customer"] = "bobs_burgers",
        ["category"] = "hydrastor",
        ["type"] = "system_report",
        ["group"] = "icecream_machine",
        ["received"] = Received,
        ["name"] = name,
    };

    [Fact]
    public void DefaultReceived_RendersTheHViewLayout()
    {
        KeyTemplate.DefaultReceived.Text.ShouldBe("{customer}/{category}/{type}/{group}/{received:yyyyMMdd_HHmmss}/{name}");

        KeyTemplate.DefaultReceived.Render(HViewValues())
            .ShouldBe("bobs_burgers/hydrastor/system_report/icecream_machine/20230113_120000/report.txt");
    }

    [Fact]
    public void Placeholders_ListsTheValuesRenderNeeds()
    {
        KeyTemplate.Parse("{customer}/{received:yyyy}/{received:MM}/{name}").Placeholders.ShouldBe(["customer", "received", "name"]);
    }

    [Fact]
    public void Parse_UnknownPlaceholder_ThrowsConfigNamingIt()
    {
        var thrown = Should.Throw<IntakeException>(() => KeyTemplate.Parse("{custmer}/{name}"));

        thrown.Kind.ShouldBe(ErrorKind.Config);
        thrown.Message.ShouldContain("{custmer}");
        thrown.Message.ShouldContain("{customer}"); // the known ones, to spot the typo
    }

    [Theory]
    [InlineData("{customer:upper}/{name}", "{customer}")]
    [InlineData("{received:}/{name}", "{received}")]
    [InlineData("{customer/{name}", "never closed")]
    [InlineData("{customer}}/{name}", "closes nothing")]
    [InlineData("/{customer}/{name}", "absolute")]
    [InlineData("{customer}//{name}", "empty segment")]
    [InlineData("{customer}/../{name}", "'..'")]
    [InlineData("{customer}\\{name}", "backslash")]
    [InlineData("", "empty")]
    public void Parse_TemplateThatCannotWork_ThrowsConfigSayingWhy(string template, string reason)
    {
        var thrown = Should.Throw<IntakeException>(() => KeyTemplate.Parse(template));

        thrown.Kind.ShouldBe(ErrorKind.Config);
        thrown.Message.ShouldContain(reason);
    }

    [Theory]
    [InlineData("../../etc/passwd", "____etc_passwd")]
    [InlineData("a/b", "a_b")]
    [InlineData("a\\b", "a_b")]
    [InlineData("..", "_")]
    [InlineData(".", "_")]
    [InlineData("...", "_.")]
    [InlineData("x..y", "x_y")]
    [InlineData("line\nbreak", "line_break")]
    [InlineData("Bobs Burgers.v1.csv", "Bobs Burgers.v1.csv")]
    public void Render_ValueWithPathCharacters_StaysInsideItsSegment(string name, string expected)
    {
        KeyTemplate.DefaultReceived.Render(HViewValues(name))
            .ShouldBe($"bobs_burgers/hydrastor/system_report/icecream_machine/20230113_120000/{expected}");
    }

    [Fact]
    public void Render_MissingValue_ThrowsConfigNamingThePlaceholder()
    {
        var values = HViewValues();
        values.Remove("group");

        var thrown = Should.Throw<IntakeException>(() => KeyTemplate.DefaultReceived.Render(values));

        thrown.Kind.ShouldBe(ErrorKind.Config);
        thrown.Message.ShouldContain("{group}");
    }

    [Fact]
    public void Render_EmptyValueForAWholeFolder_ThrowsConfigInsteadOfMergingFolders()
    {
        var values = HViewValues();
        values["group"] = "";

        Should.Throw<IntakeException>(() => KeyTemplate.DefaultReceived.Render(values)).Kind.ShouldBe(ErrorKind.Config);
    }

    [Fact]
    public void Render_TextWhereADateIsNeeded_ThrowsConfig()
    {
        var values = HViewValues();
        values["received"] = "yesterday";

        var thrown = Should.Throw<IntakeException>(() => KeyTemplate.DefaultReceived.Render(values));

        thrown.Kind.ShouldBe(ErrorKind.Config);
        thrown.Message.ShouldContain("{received}");
    }

    [Fact]
    public void Render_DateFormatMayAddFolders()
    {
        var template = KeyTemplate.Parse("{customer}/{received:yyyy/MM/dd}/{name}");

        template.Render(HViewValues()).ShouldBe("bobs_burgers/2023/01/13/report.txt");
    }

    [Fact]
    public void Render_DateWithoutFormat_UsesTheHViewFormatInTheGivenOffset()
    {
        var template = KeyTemplate.Parse("{received}/{name}");
        var values = HViewValues();
        values["received"] = new DateTimeOffset(2023, 1, 13, 22, 30, 5, TimeSpan.FromHours(10));

        template.Render(values).ShouldBe("20230113_223005/report.txt");
    }

    [Fact]
    public void Render_EscapedBracesAndNumbers_AreLiteralAndInvariant()
    {
        var template = KeyTemplate.Parse("{{raw}}/{partition}-{name}");
        var values = new Dictionary<string, object> { ["partition"] = 1234567, ["name"] = "f" };

        template.Render(values).ShouldBe("{raw}/1234567-f");
    }

    [Fact]
    public void Parse_WithOwnPlaceholders_AcceptsThemAndRejectsTheStandardOnes()
    {
        var template = KeyTemplate.Parse("{table}/{window:yyyyMMdd}.csv", ["table"], ["window"]);

        template.Render(new Dictionary<string, object> { ["table"] = "visits", ["window"] = Received }).ShouldBe("visits/20230113.csv");
        Should.Throw<IntakeException>(() => KeyTemplate.Parse("{customer}", ["table"], ["window"])).Message.ShouldContain("{customer}");
    }
}
