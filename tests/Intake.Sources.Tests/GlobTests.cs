using Intake.Core.Errors;

namespace Intake.Sources.Tests;

public sealed class GlobTests
{
    [Theory]
    [InlineData("**/*", "a.csv", true)]
    [InlineData("**/*", "x/y/a.csv", true)]
    [InlineData("*.csv", "a.csv", true)]
    [InlineData("*.csv", "x/a.csv", false)]
    [InlineData("*.csv", "a.csv.gz", false)]
    [InlineData("**/*.csv", "a.csv", true)]
    [InlineData("**/*.csv", "x/y/a.csv", true)]
    [InlineData("**/*.csv", "x/y/a.txt", false)]
    [InlineData("data/*.csv", "data/a.csv", true)]
    [InlineData("data/*.csv", "data/sub/a.csv", false)]
    [InlineData("data/**/*.csv", "data/a.csv", true)]
    [InlineData("data/**/*.csv", "data/x/y/a.csv", true)]
    [InlineData("data/**/*.csv", "other/data/a.csv", false)]
    [InlineData("tmp/**", "tmp/a", true)]
    [InlineData("tmp/**", "tmp/x/y", true)]
    [InlineData("tmp/**", "tmp", false)]
    [InlineData("tmp/**", "tmpfile", false)]
    [InlineData("**/tmp/**", "tmp/b", true)]
    [InlineData("**/tmp/**", "a/b/tmp/c/d", true)]
    [InlineData("**/**/x", "x", true)]
    [InlineData("**/**/x", "a/b/c/d/e/f/g/h/x", true)]
    [InlineData("a/**/b/**/c", "a/b/c", true)]
    [InlineData("a/**/b/**/c", "a/x/b/y/z/c", true)]
    [InlineData("a/**/b/**/c", "a/x/c", false)]
    [InlineData("file?.txt", "file1.txt", true)]
    [InlineData("file?.txt", "file10.txt", false)]
    [InlineData("file?.txt", "file.txt", false)]
    [InlineData("a?b", "a/b", false)]
    [InlineData("a*b", "a/b", false)]
    [InlineData("[abc].csv", "b.csv", true)]
    [InlineData("[abc].csv", "d.csv", false)]
    [InlineData("[a-c]*.csv", "car.csv", true)]
    [InlineData("[!a-c]*.csv", "car.csv", false)]
    [InlineData("[!a-c]*.csv", "dog.csv", true)]
    [InlineData("[^a-c]*.csv", "dog.csv", true)]
    [InlineData("[]]x", "]x", true)]
    [InlineData("[a-]x", "-x", true)]
    [InlineData("report_[0-9][0-9][0-9][0-9]*.csv", "report_2026-01.csv", true)]
    [InlineData("report_[0-9][0-9][0-9][0-9]*.csv", "report_latest.csv", false)]
    [InlineData("\\*.csv", "*.csv", true)]
    [InlineData("\\*.csv", "a.csv", false)]
    [InlineData("a*b*c", "aXbYbZc", true)]
    [InlineData("a*b*c", "aXbYbZ", false)]
    [InlineData("a**b", "aXYb", true)]
    [InlineData("*", "anything.at.all", true)]
    [InlineData("exact/name.csv", "exact/name.csv", true)]
    [InlineData("exact/name.csv", "exact/Name.csv", false)]
    public void IsMatch_FollowsTheDocumentedRules(string pattern, string path, bool expected)
    {
        Glob.Parse(pattern).IsMatch(path).ShouldBe(expected);
    }

    [Theory]
    [InlineData("**/*.CSV", "x/a.csv")]
    [InlineData("Data/[A-C]*", "data/beta")]
    [InlineData("data/[a-c]*", "DATA/BETA")]
    public void IsMatch_IgnoringCase_MatchesOtherCase(string pattern, string path)
    {
        Glob.Parse(pattern).IsMatch(path).ShouldBeFalse();
        Glob.Parse(pattern, ignoreCase: true).IsMatch(path).ShouldBeTrue();
    }

    [Theory]
    [InlineData("", "empty")]
    [InlineData("[abc", "never closed")]
    [InlineData("a//b", "empty folder name")]
    [InlineData("a/", "empty folder name")]
    [InlineData("/abs/*.csv", "relative")]
    [InlineData("a\\", "escapes nothing")]
    [InlineData("[z-a]", "reversed range")]
    public void Parse_InvalidPattern_ThrowsConfigNamingIt(string pattern, string reason)
    {
        var thrown = Should.Throw<IntakeException>(() => Glob.Parse(pattern));

        thrown.Kind.ShouldBe(ErrorKind.Config);
        thrown.Message.ShouldContain(reason);
        if (pattern.Length > 0)
        {
            thrown.Message.ShouldContain(pattern);
        }
    }
}
