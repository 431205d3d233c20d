using Intake.Engine.Mail;

namespace Intake.Engine.Tests.Mail;

/// <summary>The <c>extract</c> step in a real pipeline: a message dropped in a folder, fetched, taken apart, its CSV attachment loaded.</summary>
public sealed class ExtractStepTests : IAsyncLifetime
{
    private static readonly string Corpus = Path.Combine(AppContext.BaseDirectory, "Mail", "Corpus");
    private readonly EmbeddedProject _project = new("intake-extract-");

    public Task InitializeAsync() => Task.CompletedTask;

    // xUnit 2 disposes a test class through IAsyncLifetime, not IAsyncDisposable.
    public Task DisposeAsync() => _project.DisposeAsync().AsTask();

    private void Pipeline(string extra = "") => _project.Pipeline("p", $$"""
        name: p
        source: { kind: local, path: ../in, stable_for: 0s }
        steps: [fetch, extract, archive, load]
        csv: { files: ["attachments/*.csv"] }
        load: { table: rows }
        keep_work: true
        {{extra}}
        """);

    [Fact]
    public async Task Message_WithACsvAttachment_IsExtractedIntoTheWorkArea_AndItsRowsLoaded()
    {
        Pipeline();
        File.Copy(Path.Combine(Corpus, "08-base64-csv.eml"), _project.In("report.eml"));

        var load = (await _project.RunAsync()).ShouldHaveSingleItem();

        load.Status.ShouldBe(LoadStatus.Archived);
        _project.Rows().ShouldBe(1);
        var work = _project.Stored($"work/loads/{load.Id}/");
        File.ReadAllText(Path.Combine(work, "body.txt")).ShouldBe("grid: grid-7\ndate: 2026-12-01");
        File.Exists(Path.Combine(work, "attachments", "system_report.csv")).ShouldBeTrue();
        File.ReadAllText(Path.Combine(work, "parts.json")).ShouldContain("\"original_name\": \"system_report.csv\"");
        var extract = (await _project.StepsAsync(load.Id)).Single(s => s.Step == "extract");
        extract.Outcome.ShouldBe(StepOutcome.Succeeded);
        extract.Outputs.ShouldContain($"work:loads/{load.Id}/attachments/system_report.csv");
    }

    [Fact]
    public async Task Message_WithAMissingClosingBoundary_IsLoaded_AndTheWarningIsOnTheStep()
    {
        Pipeline();
        File.Copy(Path.Combine(Corpus, "15-missing-closing-boundary.eml"), _project.In("cut.eml"));

        var load = (await _project.RunAsync()).ShouldHaveSingleItem();

        load.Status.ShouldBe(LoadStatus.Archived);
        _project.Rows().ShouldBe(1);
        var extract = (await _project.StepsAsync(load.Id)).Single(s => s.Step == "extract");
        extract.Message.ShouldNotBeNull().ShouldContain("no closing boundary ('--CUT--')");
    }

    [Fact]
    public async Task Message_PastTheAttachmentLimit_ErrorsTheLoadAsSecurity_AndWritesNothing()
    {
        Pipeline("extract: { max_attachments: 5 }");
        File.Copy(Path.Combine(Corpus, "18-too-many-attachments.eml"), _project.In("many.eml"));

        var load = (await _project.RunAsync()).ShouldHaveSingleItem();

        load.Status.ShouldBe(LoadStatus.Errored);
        load.ErrorKind.ShouldBe(ErrorKind.Security);
        load.ErrorMessage.ShouldNotBeNull().ShouldContain("more than 5 attachments");
        Directory.Exists(_project.Stored($"work/loads/{load.Id}")).ShouldBeFalse();
        Directory.EnumerateFiles(_project.Stored("error"), "many.eml", SearchOption.AllDirectories).ShouldHaveSingleItem();
    }

    [Fact]
    public void Config_ReadsTheLimits_AndDefaultsThemWithTheStep()
    {
        Pipeline("extract: { max_attachments: 7, max_depth: 4 }");
        _project.Config().Pipelines.Single().Extract.ShouldBe(new MailExtractLimits { MaxAttachments = 7, MaxDepth = 4 });

        Pipeline();
        _project.Config().Pipelines.Single().Extract.ShouldBe(new MailExtractLimits());
    }

    [Fact]
    public void Config_RefusesTheLimitsWithoutTheStep_AndUnknownKeys()
    {
        _project.Pipeline("p", """
            name: p
            source: { kind: local, path: ../in, stable_for: 0s }
            steps: [fetch, decompress, load]
            load: { table: rows }
            extract: { max_attachments: 7 }
            """);
        Should.Throw<ConfigException>(_project.Config).Errors.ShouldContain(e => e.Key == "extract" && e.Reason.Contains("do not include 'extract'"));

        Pipeline("extract: { max_files: 7 }");
        Should.Throw<ConfigException>(_project.Config).Errors.ShouldContain(e => e.Key.Contains("max_files"));
    }

    [Fact]
    public void Config_RefusesExtractBesideDecompress()
    {
        // Both fill the load's work area, each clearing it first: one would wipe out the other's files.
        _project.Pipeline("p", """
            name: p
            source: { kind: local, path: ../in, stable_for: 0s }
            steps: [fetch, decompress, extract, load]
            load: { table: rows }
            """);
        Should.Throw<ConfigException>(_project.Config).Errors.ShouldContain(e => e.Key == "steps" && e.Reason.Contains("both 'decompress' and 'extract'"));
    }
}
