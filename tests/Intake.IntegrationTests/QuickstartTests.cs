using System.Text.Json;

namespace Intake.IntegrationTests;

/// <summary>The README's first command, on a copy of examples/quickstart, through the real CLI.</summary>
public sealed class QuickstartTests : IDisposable
{
    private readonly TestWorkspace _ws = new();

    public void Dispose() => _ws.Dispose();

    private void CopyQuickstart()
    {
        var src = Path.Combine(TestWorkspace.RepoRoot, "examples", "quickstart");
        foreach (var file in Directory.EnumerateFiles(src, "*", SearchOption.AllDirectories).Where(f => !f.Contains("/.intake/", StringComparison.Ordinal)))
        {
            var target = Path.Combine(_ws.Root, Path.GetRelativePath(src, file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target);
        }
    }

    [Fact]
    public async Task RunOnce_OnTheSamples_LoadsEveryRow_ErrorsTheCorruptArchive_AndLoadsNothingTheSecondTime()
    {
        CopyQuickstart();

        var first = await _ws.RunCliAsync("run", "--once", "--json");

        first.ExitCode.ShouldBe(3, first.Stderr); // 3: a load ended errored
        using var doc = JsonDocument.Parse(first.Stdout);
        doc.RootElement.GetProperty("archived").GetInt32().ShouldBe(3);
        doc.RootElement.GetProperty("errored").GetInt32().ShouldBe(1);
        var warehouse = Path.Combine(_ws.Root, ".intake", "warehouse.db");
        _ws.Scalar(warehouse, "select count(*) from properties").ShouldBe(1200 + 750 + 550);
        _ws.Scalar(warehouse, "select count(distinct property_id) from properties").ShouldBe(2500);

        var loads = await _ws.RunCliAsync("loads", "--status", "errored", "--json");
        using var errored = JsonDocument.Parse(loads.Stdout);
        var bad = errored.RootElement.EnumerateArray().ShouldHaveSingleItem();
        bad.GetProperty("source_key").GetString().ShouldBe("properties-2024-04.zip");
        bad.GetProperty("error_kind").GetString().ShouldBe("integrity"); // the zip is cut short: its central directory is missing
        var errorArea = Path.Combine(_ws.Root, ".intake", "store", "error");
        Directory.EnumerateFiles(errorArea, "properties-2024-04.zip", SearchOption.AllDirectories).ShouldHaveSingleItem();

        var second = await _ws.RunCliAsync("run", "--once", "--json");
        second.ExitCode.ShouldBe(0, second.Stderr);
        using var again = JsonDocument.Parse(second.Stdout);
        again.RootElement.GetProperty("loads").GetArrayLength().ShouldBe(0);
        _ws.Scalar(warehouse, "select count(*) from properties").ShouldBe(2500);

        var audit = await _ws.RunCliAsync("audit", "--json");
        audit.ExitCode.ShouldBe(0, audit.Stdout + audit.Stderr);
    }

    [Fact]
    public async Task RunOnce_ManyFiles_ListsTheErroredFirst_AndSumsUpTheRest()
    {
        // 120 files, one of them bad: the table lists 100 loads, the errored one among them, and counts all 120.
        _ws.WriteConfig();
        _ws.WritePipeline("orders", columns: "  columns: { id: bigint not null, name: text, amount: decimal }");
        for (var i = 0; i < 120; i++)
        {
            File.WriteAllText(Path.Combine(_ws.Incoming, $"part-{i:D3}.csv"), i == 117 ? "id,name,amount\nnot-a-number,x,1\n" : TestWorkspace.Csv(2, startId: i * 2 + 1));
        }

        var run = await _ws.RunCliAsync("run", "--once");

        run.ExitCode.ShouldBe(3, run.Stderr);
        run.Stdout.ShouldContain("part-117.csv");
        run.Stdout.ShouldContain("... and 20 more load(s) not shown: 'intake loads' lists them all.");
        run.Stdout.ShouldContain("120 new file(s) discovered; 119 archived, 1 errored.");
    }

    [Fact]
    public async Task Show_PrintsTheStepHistory_AndUnknownLoadIsExitFive()
    {
        CopyQuickstart();
        await _ws.RunCliAsync("run", "--once");

        var show = await _ws.RunCliAsync("show", "1", "--json");
        show.ExitCode.ShouldBe(0, show.Stderr);
        using var doc = JsonDocument.Parse(show.Stdout);
        doc.RootElement.GetProperty("steps").EnumerateArray().Select(s => s.GetProperty("step").GetString())
            .ShouldBe(["fetch", "decompress", "validate", "load", "archive"]); // archive runs at the archiving stage, after the load

        (await _ws.RunCliAsync("show", "999")).ExitCode.ShouldBe(5);
    }

    [Fact]
    public async Task Validate_BadPipeline_ExitsTwoNamingFileLineAndKey()
    {
        CopyQuickstart();
        var pipeline = Path.Combine(_ws.Root, "pipelines", "properties.yaml");
        File.WriteAllText(pipeline, File.ReadAllText(pipeline).Replace("stable_for: 0s", "stable_for: whenever", StringComparison.Ordinal));

        var result = await _ws.RunCliAsync("validate");

        result.ExitCode.ShouldBe(2);
        result.Stderr.ShouldContain("properties.yaml:");
        result.Stderr.ShouldContain("source.stable_for: 'whenever' is not a duration");
    }

    [Fact]
    public async Task Redrive_ErroredLoad_GoesBackToReadyAndFailsTheSameWayAgain()
    {
        CopyQuickstart();
        await _ws.RunCliAsync("run", "--once");

        var redrive = await _ws.RunCliAsync("redrive", "--status", "errored", "--json");
        redrive.ExitCode.ShouldBe(0, redrive.Stderr);
        using var doc = JsonDocument.Parse(redrive.Stdout);
        var id = doc.RootElement.GetProperty("redriven").EnumerateArray().ShouldHaveSingleItem().GetInt64();

        var run = await _ws.RunCliAsync("run", "--once", "--json");
        run.ExitCode.ShouldBe(3);
        var show = await _ws.RunCliAsync("show", id.ToString(System.Globalization.CultureInfo.InvariantCulture), "--json");
        using var steps = JsonDocument.Parse(show.Stdout);
        steps.RootElement.GetProperty("steps").EnumerateArray().Count(s => s.GetProperty("step").GetString() == "decompress").ShouldBe(2);
    }
}

public sealed class InitTests : IDisposable
{
    private readonly TestWorkspace _ws = new();

    public void Dispose() => _ws.Dispose();

    [Fact]
    public async Task Init_WritesAConfigurationThatValidatesAndLoadsADroppedFile()
    {
        var dir = Path.Combine(_ws.Root, "project");
        var init = await _ws.RunCliAsync("init", dir);
        init.ExitCode.ShouldBe(0, init.Stderr);
        (await _ws.RunCliAsync("init", dir)).ExitCode.ShouldBe(2); // refuses to overwrite

        var pipeline = Path.Combine(dir, "pipelines", "incoming.yaml");
        File.WriteAllText(pipeline, File.ReadAllText(pipeline).Replace("stable_for: 10s", "stable_for: 0s", StringComparison.Ordinal));
        File.WriteAllText(Path.Combine(dir, "incoming", "a.csv"), "id,name\n1,x\n2,y\n");

        var psi = new System.Diagnostics.ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { TestWorkspace.CliDll, "run", "--once", "--json", "--config", dir })
        {
            psi.ArgumentList.Add(a);
        }

        using var p = System.Diagnostics.Process.Start(psi)!;
        var stdout = await p.StandardOutput.ReadToEndAsync();
        await p.WaitForExitAsync();
        p.ExitCode.ShouldBe(0, stdout + await p.StandardError.ReadToEndAsync());
        using var doc = System.Text.Json.JsonDocument.Parse(stdout);
        doc.RootElement.GetProperty("archived").GetInt32().ShouldBe(1);
        _ws.Scalar(Path.Combine(dir, ".intake", "warehouse.db"), "select count(*) from incoming_rows").ShouldBe(2);
    }
}

public sealed class RedriveGuardTests : IDisposable
{
    private readonly TestWorkspace _ws = new();

    public void Dispose() => _ws.Dispose();

    [Fact]
    public async Task Redrive_OfALoadAWorkerHolds_IsRefused_AndLeavesItAlone()
    {
        _ws.WriteConfig();
        _ws.WritePipeline("p");
        await using (var catalog = Intake.Catalog.CatalogFactory.Open("sqlite", _ws.CatalogPath, TimeProvider.System).Loads)
        {
            await catalog.MigrateAsync(default);
            await catalog.RegisterLoadAsync(new Intake.Core.Model.NewLoad("p", "acme", "a.csv", "size:1"), default);
            var claimed = await catalog.ClaimAsync(new Intake.Core.Model.ClaimRequest { Worker = "elsewhere:1:x", Lease = TimeSpan.FromMinutes(5) }, default);
            claimed.ShouldNotBeNull();
        }

        var result = await _ws.RunCliAsync("redrive", "1");

        result.ExitCode.ShouldBe(2);
        result.Stderr.ShouldContain("load 1 is ingesting");
        _ws.Scalar(_ws.CatalogPath, "select count(*) from intake_loads where status = 'ingesting'").ShouldBe(1);
    }
}
