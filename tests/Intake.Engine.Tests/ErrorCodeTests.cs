namespace Intake.Engine.Tests;

/// <summary>
/// Messages are plain text; the replaced systems' exception names are an <c>error_code</c> beside them, and only
/// for the pipelines that ask for one.
/// </summary>
public sealed class ErrorCodeTests : IAsyncLifetime
{
    private readonly EmbeddedProject _project = new("intake-codes-");

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync() => await _project.DisposeAsync();

    private async Task<(Load Load, IReadOnlyList<StepRecord> Steps)> RunNotAnArchiveAsync(string errorCodes)
    {
        _project.Pipeline("p", $"""
            name: p
            source: {"{"} kind: local, path: ../in, stable_for: 0s {"}"}
            steps: [fetch, decompress, validate, archive, load]
            load: {"{"} table: rows {"}"}
            {errorCodes}
            """);
        // A local file that is not the zip its name says: the decompress step fails with kind format.
        File.WriteAllText(_project.In("a.zip"), "<html>not found</html>");

        var load = (await _project.RunAsync()).ShouldHaveSingleItem();
        return (load, await _project.StepsAsync(load.Id));
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

        Directory.Delete(Path.Combine(_project.Root, ".intake"), recursive: true);
        var (byStep, _) = await RunNotAnArchiveAsync("error_codes: { format: BAD_FILE, decompress.format: NOT_AN_ARCHIVE }");
        byStep.ErrorCode.ShouldBe("NOT_AN_ARCHIVE");
    }

    [Fact]
    public void UnknownProfileKindOrStep_IsAConfigErrorNamingTheKey()
    {
        _project.Pipeline("a", """
            name: a
            source: { kind: local, path: ../in }
            steps: [fetch, archive]
            error_codes: colt
            """);
        _project.Pipeline("b", """
            name: b
            source: { kind: local, path: ../in }
            steps: [fetch, archive]
            error_codes:
              fromat: X
              load.schema: Y
            """);

        var e = Should.Throw<ConfigException>(() => ConfigLoader.Load(Path.Combine(_project.Root, "intake.yaml")));

        e.Errors.ShouldContain(x => x.Key == "error_codes" && x.Reason.Contains("'colt' is not a profile") && x.Reason.Contains("cold"));
        e.Errors.ShouldContain(x => x.Key == "error_codes.fromat" && x.Line == 5 && x.Reason.Contains("not a kind"));
        e.Errors.ShouldContain(x => x.Key == "error_codes.load.schema" && x.Reason.Contains("'load' is not one of this pipeline's steps"));
    }
}
