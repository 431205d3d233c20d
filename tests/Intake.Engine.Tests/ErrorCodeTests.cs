using Intake.Core.Errors;
using Intake.Core.Model;
using Intake.Engine.Configuration;
using Intake.Engine.Runtime;

namespace Intake.Engine.Tests;

/// <summary>
/// Messages are plain text; the replaced systems' exception names are an <c>error_code</c> beside them, and only
/// for the pipelines that ask for one.
/// </summary>
public sealed class ErrorCodeTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("intake-codes-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private async Task<(Load Load, IReadOnlyList<StepRecord> Steps)> RunNotAnArchiveAsync(string errorCodes)
    {
        File.WriteAllText(Path.Combine(_dir, "intake.yaml"), """
            catalog: { kind: sqlite, path: .intake/catalog.db }
            stores: { local: { kind: local, root: .intake/store } }
            warehouses: { main: { kind: sqlite, path: .intake/warehouse.db } }
            """);
        Directory.CreateDirectory(Path.Combine(_dir, "pipelines"));
        Directory.CreateDirectory(Path.Combine(_dir, "in"));
        File.WriteAllText(Path.Combine(_dir, "pipelines", "p.yaml"), $"""
            name: p
            source: {"{"} kind: local, path: ../in, stable_for: 0s {"}"}
            steps: [fetch, decompress, validate, archive, load]
            load: {"{"} table: rows {"}"}
            {errorCodes}
            """);
        // A local file that is not the zip its name says: the decompress step fails with kind format.
        File.WriteAllText(Path.Combine(_dir, "in", "a.zip"), "<html>not found</html>");

        await using var runtime = await IntakeRuntime.OpenAsync(ConfigLoader.Load(Path.Combine(_dir, "intake.yaml")));
        await new Discovery(runtime).DiscoverAsync(runtime.Pipeline("p"), default);
        var worker = new Worker(runtime, Worker.DefaultSteps(runtime));
        while (await worker.RunOneAsync(null, default) is not null)
        {
        }

        var load = (await runtime.Catalog.ListLoadsAsync(new LoadQuery(), default)).ShouldHaveSingleItem();
        return (load, await runtime.Catalog.GetStepsAsync(load.Id, default));
    }

    [Fact]
    public async Task WithoutErrorCodes_TheFailureCarriesNoCode_AndTheMessageNamesNoException()
    {
        var (load, steps) = await RunNotAnArchiveAsync("");

        load.Status.ShouldBe(LoadStatus.Errored);
        load.ErrorKind.ShouldBe(ErrorKind.Format);
        load.ErrorCode.ShouldBeNull();
        load.ErrorMessage.ShouldNotBeNull().ShouldNotContain("Exception");
        load.ErrorMessage.ShouldContain("a.zip");
        var failed = steps.Single(s => s.Step == "decompress");
        failed.ErrorCode.ShouldBeNull();
        failed.Message.ShouldBe(load.ErrorMessage);
    }

    [Fact]
    public async Task WithTheColdProfile_TheLoadAndTheStepCarryColdsName_OutsideTheMessage()
    {
        var (load, steps) = await RunNotAnArchiveAsync("error_codes: cold");

        load.Status.ShouldBe(LoadStatus.Errored);
        load.ErrorCode.ShouldBe("PropertyFileFormatDecompressException");
        load.ErrorMessage.ShouldNotBeNull().ShouldNotContain("Exception");
        steps.Single(s => s.Step == "decompress").ErrorCode.ShouldBe("PropertyFileFormatDecompressException");
    }

    [Fact]
    public async Task AMappingPerKind_IsUsed_AndAStepQualifiedCodeWinsOverTheKindAlone()
    {
        var (byKind, _) = await RunNotAnArchiveAsync("error_codes: { format: BAD_FILE, transient: TRY_LATER }");
        byKind.ErrorCode.ShouldBe("BAD_FILE");

        Directory.Delete(Path.Combine(_dir, ".intake"), recursive: true);
        var (byStep, _) = await RunNotAnArchiveAsync("error_codes: { format: BAD_FILE, decompress.format: NOT_AN_ARCHIVE }");
        byStep.ErrorCode.ShouldBe("NOT_AN_ARCHIVE");
    }

    [Fact]
    public void UnknownProfileKindOrStep_IsAConfigErrorNamingTheKey()
    {
        File.WriteAllText(Path.Combine(_dir, "intake.yaml"), """
            catalog: { kind: sqlite, path: .intake/catalog.db }
            stores: { local: { kind: local, root: .intake/store } }
            """);
        Directory.CreateDirectory(Path.Combine(_dir, "pipelines"));
        File.WriteAllText(Path.Combine(_dir, "pipelines", "a.yaml"), """
            name: a
            source: { kind: local, path: ../in }
            steps: [fetch, archive]
            error_codes: colt
            """);
        File.WriteAllText(Path.Combine(_dir, "pipelines", "b.yaml"), """
            name: b
            source: { kind: local, path: ../in }
            steps: [fetch, archive]
            error_codes:
              fromat: X
              load.schema: Y
            """);

        var e = Should.Throw<ConfigException>(() => ConfigLoader.Load(Path.Combine(_dir, "intake.yaml")));

        e.Errors.ShouldContain(x => x.Key == "error_codes" && x.Reason.Contains("'colt' is not a profile") && x.Reason.Contains("cold"));
        e.Errors.ShouldContain(x => x.Key == "error_codes.fromat" && x.Line == 5 && x.Reason.Contains("not a kind"));
        e.Errors.ShouldContain(x => x.Key == "error_codes.load.schema" && x.Reason.Contains("'load' is not one of this pipeline's steps"));
    }
}
