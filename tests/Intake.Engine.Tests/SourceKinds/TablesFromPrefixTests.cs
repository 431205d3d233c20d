using Intake.Engine.SourceKinds;

namespace Intake.Engine.Tests.SourceKinds;

/// <summary>Which table a listed file belongs to, and the table's name, as the Cubic design names them.</summary>
public sealed class TablesFromPrefixTests
{
    private static readonly TablesFromPrefix Cubic = new("cubic/", 3, [], []);

    [Theory]
    [InlineData("cubic/ods_qlik/EDW.SAMPLE/", "cubic__ods_qlik__edw_sample")]
    [InlineData("cubic/ods_qlik/EDW.SAMPLE__ct/", "cubic__ods_qlik__edw_sample__ct")]
    [InlineData("cubic/dmap/agg_sample/", "cubic__dmap__agg_sample")]
    [InlineData("cubic/kafka/Sample-Topic 2/", "cubic__kafka__sample_topic_2")]
    [InlineData("Übung/Größe/", "_bung__gr__e")]
    public void NameOf_JoinsTheFoldersWithDoubleUnderscores_LowerCase_AnythingElseUnderscore(string prefix, string name) =>
        TablesFromPrefix.NameOf(prefix).ShouldBe(name);

    [Theory]
    [InlineData("cubic/ods_qlik/EDW.SAMPLE/LOAD001.csv.gz", "cubic__ods_qlik__edw_sample", "cubic/ods_qlik/EDW.SAMPLE/")]
    [InlineData("cubic/ods_qlik/EDW.SAMPLE__ct/20220304-134556444.csv.gz", "cubic__ods_qlik__edw_sample__ct", "cubic/ods_qlik/EDW.SAMPLE__ct/")]
    [InlineData("cubic/dmap/agg_sample/20220304.csv", "cubic__dmap__agg_sample", "cubic/dmap/agg_sample/")]
    [InlineData("cubic/dmap/agg_sample/2022/03/04.csv", "cubic__dmap__agg_sample", "cubic/dmap/agg_sample/")]
    public void Match_WithDepth_TakesThatManyFoldersAsTheTable(string key, string name, string prefix)
    {
        var match = Cubic.Match(key);

        (match.Name, match.Prefix, match.NotATableReason, match.IsExcluded).ShouldBe((name, prefix, null, false));
    }

    [Fact]
    public void Match_WithoutDepth_TakesTheFolderThatHoldsTheFile()
    {
        var tables = new TablesFromPrefix("cubic", null, [], []);

        tables.Match("cubic/dmap/agg_sample/20220304.csv").Name.ShouldBe("cubic__dmap__agg_sample");
        tables.Match("cubic/dmap/agg_sample/2022/03/04.csv").Name.ShouldBe("cubic__dmap__agg_sample__2022__03");
        tables.Match("cubic/dmap/x.csv").Name.ShouldBe("cubic__dmap");
        new TablesFromPrefix("", null, [], []).Match("orders/2026.csv").Name.ShouldBe("orders");
    }

    [Theory]
    [InlineData("cubic/readme.txt", "it lies directly under the root 'cubic/' of tables_from_prefix, in no table's folder")]
    [InlineData("cubic/ods_qlik/x.csv", "it is 2 folder level(s) deep, fewer than the 3 (tables_from_prefix.depth) that name a table")]
    [InlineData("other/ods/T/x.csv", "it is not under the root 'cubic/' of tables_from_prefix")]
    [InlineData("cubicle/ods/T/x.csv", "it is not under the root 'cubic/' of tables_from_prefix")]
    public void Match_AFileInNoTablesFolder_SaysWhy(string key, string reason)
    {
        var match = Cubic.Match(key);

        (match.Name, match.NotATableReason).ShouldBe((null, reason));
    }

    [Fact]
    public void Match_IncludeAndExclude_PickTablesByName()
    {
        var tables = new TablesFromPrefix("cubic/", 3, ["cubic__ods_qlik__*"], ["*__CT"]);

        tables.Match("cubic/ods_qlik/EDW.SAMPLE/1.csv").IsExcluded.ShouldBeFalse();
        tables.Match("cubic/ods_qlik/EDW.SAMPLE__ct/1.csv").IsExcluded.ShouldBeTrue(); // patterns ignore case
        tables.Match("cubic/dmap/agg_sample/1.csv").IsExcluded.ShouldBeTrue();
        tables.Match("cubic/readme.txt").NotATableReason.ShouldNotBeNull(); // still reported: it is in no table
    }
}
