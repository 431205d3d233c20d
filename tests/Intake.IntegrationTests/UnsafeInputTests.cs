using System.IO.Compression;
using System.Text;
using System.Text.Json;

namespace Intake.IntegrationTests;

/// <summary>Archives that try to escape, explode or end early are errored with the right kind, and nothing lands outside the work area.</summary>
public sealed class UnsafeInputTests : IDisposable
{
    private readonly TestWorkspace _ws = new();

    public void Dispose() => _ws.Dispose();

    [Fact]
    public async Task TraversalBombAndTruncatedArchives_EndErroredWithTheirKinds_AndWriteNothingOutsideTheStore()
    {
        _ws.WriteConfig();
        _ws.WritePipeline("drop", include: "\"*.zip\", \"*.gz\"");
        _ws.AddZip("traversal.zip", ("ok.csv", Encoding.UTF8.GetBytes("id\n1\n")), ("../../../../escaped.csv", Encoding.UTF8.GetBytes("id\n2\n")));
        _ws.AddZip("bomb.zip", ("zeros.csv", new byte[20 * 1024 * 1024])); // 20 MiB of zeros compress about a thousandfold
        var good = _ws.AddGzip("truncated.csv.gz", TestWorkspace.Csv(20_000));
        var bytes = File.ReadAllBytes(good);
        File.WriteAllBytes(good, bytes[..(bytes.Length / 2)]);
        var bombRatio = 20.0 * 1024 * 1024 / new FileInfo(Path.Combine(_ws.Incoming, "bomb.zip")).Length;
        bombRatio.ShouldBeGreaterThan(1000);

        var result = await _ws.RunCliAsync("run", "--once", "--json");

        result.ExitCode.ShouldBe(3, result.Stderr);
        var loads = await _ws.RunCliAsync("loads", "--json");
        using var doc = JsonDocument.Parse(loads.Stdout);
        var kinds = doc.RootElement.EnumerateArray().ToDictionary(l => l.GetProperty("source_key").GetString()!, l => (l.GetProperty("status").GetString(), l.GetProperty("error_kind").GetString()));
        kinds["traversal.zip"].ShouldBe(("errored", "security"));
        kinds["bomb.zip"].ShouldBe(("errored", "security"));
        kinds["truncated.csv.gz"].ShouldBe(("errored", "integrity")); // damaged in transit: send it again

        // Nothing escaped: every file is in the drop folder, the databases, or the store's areas; the work area is empty again.
        _ws.FilesOutsideOf("incoming/", "pipelines/", "intake.yaml", ".intake/catalog.db", ".intake/warehouse.db", ".intake/store/inbox/", ".intake/store/error/", ".intake/store/.meta/")
            .ShouldBeEmpty();
        File.Exists(Path.Combine(Path.GetTempPath(), "escaped.csv")).ShouldBeFalse();
        var work = Path.Combine(_ws.StoreRoot, "work");
        (Directory.Exists(work) ? Directory.EnumerateFiles(work, "*", SearchOption.AllDirectories).Count() : 0).ShouldBe(0);
        foreach (var name in new[] { "traversal.zip", "bomb.zip", "truncated.csv.gz" })
        {
            Directory.EnumerateFiles(Path.Combine(_ws.StoreRoot, "error"), name, SearchOption.AllDirectories).ShouldHaveSingleItem();
        }
    }

    [Fact]
    public async Task ValueThatCannotBeCast_IsASchemaError_NamingRowAndColumn_AndLoadsNothing()
    {
        _ws.WriteConfig();
        _ws.WritePipeline("typed", table: "typed", columns: "  columns:\n    id: bigint not null\n    name: text\n    amount: decimal");
        _ws.AddGzip("typed.csv.gz", "id,name,amount\n1,a,1.5\n2,b,lots\n3,c,2\n");

        var result = await _ws.RunCliAsync("run", "--once");

        result.ExitCode.ShouldBe(3);
        var loads = await _ws.RunCliAsync("loads", "--json");
        using var doc = JsonDocument.Parse(loads.Stdout);
        var load = doc.RootElement.EnumerateArray().ShouldHaveSingleItem();
        load.GetProperty("error_kind").GetString().ShouldBe("schema");
        var message = load.GetProperty("error_message").GetString()!;
        message.ShouldContain("amount");
        message.ShouldContain("row 2");
        message.ShouldContain("lots");
    }
}
