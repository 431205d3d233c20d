using Intake.Engine.Modules;
using Intake.Engine.Steps;

namespace Intake.Engine.Tests.Modules;

/// <summary>The built-in module kinds (text, command), the module step's one transaction, and the <c>modules:</c> key's checks.</summary>
public sealed class ModuleKindTests
{
    private static string Pipeline(string modules) => $"""
        name: p
        source: {"{"} kind: local, path: ../in, stable_for: 0s {"}"}
        steps: [fetch, decompress, archive]
        modules:
        {modules}
        """;

    [Fact]
    public async Task Text_PatternWithNamedGroups_MakesARowOfEveryMatchingLine()
    {
        await using var project = ModuleProject.Sqlite();
        project.Project.Pipeline("p", Pipeline("""
              - name: events
                kind: text
                files: ["logs/*.log"]
                pattern: '^(?<at>\S+) (?<node>n\d+) (?<event>.+)$'
                table: events
            """));
        project.DropTarGz("a.tar.gz", ("logs/grid.log", "2023-01-13T10:00 n1 disk replaced\n-- a comment --\n2023-01-13T11:00 n2 restarted\n"));

        (await project.Project.RunAsync()).ShouldHaveSingleItem().Status.ShouldBe(LoadStatus.Archived);

        (await project.RowsAsync("select at, node, event from events order by at")).ShouldBe(
            [["2023-01-13T10:00", "n1", "disk replaced"], ["2023-01-13T11:00", "n2", "restarted"]]);
    }

    [Fact]
    public async Task Text_PairsInBlocks_MakeARowPerBlock_AndAValueThatCannotBeCastNamesTheModuleFileAndLine()
    {
        await using var project = ModuleProject.Sqlite();
        project.Project.Pipeline("p", Pipeline("""
              - name: nodes
                kind: text
                files: ["nodes.txt"]
                pairs: true
                table: nodes
                columns: { node: text, disks: integer }
            """));
        project.DropTarGz("a.tar.gz", ("nodes.txt", "Node: n1\nDisks: 12\n\nNode: n2\nDisks: 12\n"));
        project.DropTarGz("b.tar.gz", ("nodes.txt", "Node: n1\nDisks: 12\n\nNode: n2\nDisks: twelve\n"));

        var loads = await project.Project.RunAsync();

        (await project.RowsAsync("select node, disks from nodes order by node")).ShouldBe([["n1", "12"], ["n2", "12"]]);
        var failed = loads.Single(l => l.SourceKey == "b.tar.gz");
        failed.Status.ShouldBe(LoadStatus.Errored);
        failed.ErrorKind.ShouldBe(ErrorKind.Schema);
        failed.ErrorMessage!.ShouldContain("b.tar.gz!nodes.txt (module nodes)");
        failed.ErrorMessage!.ShouldContain("line 4");
        failed.ErrorMessage!.ShouldContain("twelve");
    }

    [Fact]
    public async Task Command_JsonLinesOfTwoTables_AreWrittenWithTheLoadsValues()
    {
        await using var project = ModuleProject.Sqlite();
        var script = Script(project, "parse.sh", """
            #!/bin/bash
            set -e
            cd "$1"
            while IFS=, read -r name size; do
              echo "{\"table\": \"files\", \"row\": {\"name\": \"$name\", \"size\": $size, \"customer\": \"$INTAKE_CUSTOMER\"}}"
            done < sizes.txt
            echo '{"table": "runs", "row": {"files": 2, "ok": true, "extra": {"a": [1]}}}'
            """);
        project.Project.Pipeline("p", Pipeline($$"""
              - name: sizes
                kind: command
                run: [bash, {{script}}, "{folder}"]
                timeout: 30s
                tables:
                  files: { mode: upsert, key: [name] }
                  runs: {}
            """));
        project.DropTarGz("a.tar.gz", ("sizes.txt", "a.bin,10\nb.bin,20\n"));

        (await project.Project.RunAsync()).ShouldHaveSingleItem().Status.ShouldBe(LoadStatus.Archived);

        (await project.RowsAsync("select name, size, customer from files order by name")).ShouldBe([["a.bin", "10", "default"], ["b.bin", "20", "default"]]);
        (await project.RowsAsync("select files, ok, extra from runs")).ShouldBe([["2", "true", """{"a": [1]}"""]]);
    }

    [Fact]
    public async Task Command_ThatFails_ErrorsTheLoadWithItsExitCodeAndLastErrorLines_AndWritesNothing()
    {
        await using var project = ModuleProject.Sqlite();
        var script = Script(project, "fail.sh", """
            #!/bin/bash
            echo '{"n": 1}'
            echo "reading $1: no veritas export in this dump" >&2
            exit 3
            """);
        project.Project.Pipeline("p", Pipeline($$"""
              - name: veritas
                kind: command
                run: [bash, {{script}}, "{folder}"]
                table: out
            """));
        project.DropTarGz("a.tar.gz", ("x.txt", "x"));

        var load = (await project.Project.RunAsync()).ShouldHaveSingleItem();

        load.Status.ShouldBe(LoadStatus.Errored);
        load.ErrorKind.ShouldBe(ErrorKind.Format);
        load.ErrorMessage!.ShouldContain("module 'veritas'");
        load.ErrorMessage!.ShouldContain("exit code 3");
        load.ErrorMessage!.ShouldContain("no veritas export in this dump");
        project.Project.Rows("out").ShouldBe(0);
    }

    [Fact]
    public async Task Command_ThatPrintsALineThatIsNotJson_ErrorsNamingTheLine()
    {
        await using var project = ModuleProject.Sqlite();
        var script = Script(project, "bad.sh", """
            #!/bin/bash
            echo '{"n": 1}'
            echo 'n=2'
            """);
        project.Project.Pipeline("p", Pipeline($$"""
              - name: bad
                kind: command
                run: [bash, {{script}}]
                table: out
            """));
        project.DropTarGz("a.tar.gz", ("x.txt", "x"));

        var load = (await project.Project.RunAsync()).ShouldHaveSingleItem();

        load.ErrorKind.ShouldBe(ErrorKind.Format);
        load.ErrorMessage!.ShouldContain("module 'bad': output line 2");
        load.ErrorMessage!.ShouldContain("n=2");
        project.Project.Rows("out").ShouldBe(0);
    }

    [Fact]
    public async Task Command_ThatRunsPastItsTimeout_IsKilledWithItsChildren_AndTheLoadErrorsAsTransient()
    {
        await using var project = ModuleProject.Sqlite();
        var marker = Path.Combine(project.Project.Root, "child-survived");
        var script = Script(project, "hang.sh", $$"""
            #!/bin/bash
            (sleep 1; touch {{marker}}) &
            sleep 60
            """);
        project.Project.Pipeline("p", Pipeline($$"""
              - name: slow
                kind: command
                run: [bash, {{script}}]
                timeout: 300ms
                table: out
            """));
        project.DropTarGz("a.tar.gz", ("x.txt", "x"));

        var load = (await project.Project.RunAsync()).ShouldHaveSingleItem();

        load.Status.ShouldBe(LoadStatus.Errored);
        load.ErrorKind.ShouldBe(ErrorKind.Transient);
        load.ErrorMessage!.ShouldContain("module 'slow'");
        load.ErrorMessage!.ShouldContain("timeout");
        await Task.Delay(TimeSpan.FromSeconds(1.5));
        File.Exists(marker).ShouldBeFalse("the program's child was killed with it");
    }

    [Fact]
    public async Task ModuleStep_WhenTheSecondModuleFails_WritesNoTableOfTheLoad()
    {
        await using var project = ModuleProject.Sqlite();
        project.Project.Pipeline("p", Pipeline("""
              - name: first
                kind: csv
                files: ["a.csv"]
                table: first
              - name: second
                kind: csv
                files: ["b.csv"]
                table: second
                columns: { id: integer }
            """));
        project.DropTarGz("x.tar.gz", ("a.csv", "id\n1\n2\n"), ("b.csv", "id\n1\nnot-a-number\n"));

        var load = (await project.Project.RunAsync()).ShouldHaveSingleItem();

        load.Status.ShouldBe(LoadStatus.Errored);
        load.ErrorKind.ShouldBe(ErrorKind.Schema);
        load.ErrorMessage!.ShouldContain("x.tar.gz!b.csv");
        load.ErrorMessage!.ShouldContain("line 3");
        project.Project.Rows("first").ShouldBe(0);
    }

    [Fact]
    public async Task ModuleStep_RunAgainAfterItsRowsWereCommitted_DoesNotDuplicateThem()
    {
        await using var project = ModuleProject.Sqlite();
        project.Project.Pipeline("p", Pipeline("""
              - name: rows
                kind: csv
                table: rows
            """));
        project.DropTarGz("x.tar.gz", ("a.csv", "id\n1\n2\n"));
        var crashOnce = true;

        // The first run commits the rows, then "crashes" before its success is recorded; the re-drive runs it again.
        await using (var runtime = await project.Project.OpenAsync())
        {
            await new Discovery(runtime).DiscoverAsync(runtime.Pipeline("p"), default);
            var steps = Worker.DefaultSteps(runtime).Select(s => s.Name == "module" ? new CrashAfter(s, () => crashOnce) : s);
            var worker = new Worker(runtime, steps);
            while (await worker.RunOneAsync(null, default) is not null)
            {
            }

            var errored = (await runtime.Catalog.ListLoadsAsync(new LoadQuery(), default)).ShouldHaveSingleItem();
            errored.Status.ShouldBe(LoadStatus.Errored);
            project.Project.Rows("rows").ShouldBe(2);
            crashOnce = false;
            (await runtime.Actions.RedriveAsync(errored, default)).Done.ShouldBeTrue();
            while (await worker.RunOneAsync(null, default) is not null)
            {
            }

            (await runtime.Catalog.ListLoadsAsync(new LoadQuery(), default)).ShouldHaveSingleItem().Status.ShouldBe(LoadStatus.Archived);
        }

        project.Project.Rows("rows").ShouldBe(2);
    }

    [Fact]
    public void Config_ReportsEveryProblemOfTheModulesWithItsKey()
    {
        using var project = new ConfigProject();
        project.Write(Pipeline("""
              - name: a
                kind: xml
                table: t
              - name: b
                kind: csv
                table: t2
                mode: upsert
              - name: c
                kind: text
                from: body
                table: t2
                pattern: '(no named group)'
              - name: d
                kind: command
                table: t3
                key: [id]
                tables: { t4: { mode: merge } }
            """));

        var error = Should.Throw<ConfigException>(() => project.Load());

        var messages = error.Errors.Select(e => $"{e.Key}: {e.Reason}").ToList();
        messages.ShouldContain(m => m.StartsWith("modules[0].kind: 'xml' is not a module kind (csv, text, command)", StringComparison.Ordinal));
        messages.ShouldContain(m => m.StartsWith("modules[1].key: is required with mode: upsert", StringComparison.Ordinal));
        messages.ShouldContain(m => m.StartsWith("modules[2].table: 't2' is written by module 'b' too", StringComparison.Ordinal));
        messages.ShouldContain(m => m.StartsWith("modules[2].pattern: has no named group", StringComparison.Ordinal));
        messages.ShouldContain(m => m.StartsWith("modules[3].run: is required", StringComparison.Ordinal));
        messages.ShouldContain(m => m.StartsWith("modules[3].key: is only used with mode: upsert", StringComparison.Ordinal));
        messages.ShouldContain(m => m.StartsWith("modules[3].tables.t4.mode: 'merge' is not a mode", StringComparison.Ordinal));
    }

    [Fact]
    public void Config_AddsTheModuleStepAfterLoadAndBeforeLake_WithoutTheLoadStepToo()
    {
        using var project = new ConfigProject();
        project.Write(Pipeline("""
              - name: a
                kind: csv
                table: t
            """));

        project.Load().FindPipeline("p")!.Steps.ShouldBe(["fetch", "decompress", "archive", "module"]);
        ModulesSlice.WithStep(["fetch", "load", "lake"]).ShouldBe(["fetch", "load", "module", "lake"]);
    }

    private static string Script(ModuleProject project, string name, string text)
    {
        var path = Path.Combine(project.Project.Root, name);
        File.WriteAllText(path, text.ReplaceLineEndings("\n") + "\n");
        return path;
    }

    /// <summary>The real step, then a failure while <paramref name="crash"/> says so: its work is committed, its success never recorded.</summary>
    private sealed class CrashAfter(IStep inner, Func<bool> crash) : IStep
    {
        public string Name => inner.Name;

        public async Task<StepResult> RunAsync(StepContext context, CancellationToken cancellationToken)
        {
            var result = await inner.RunAsync(context, cancellationToken);
            return crash() ? throw IntakeException.Format("the worker stopped after the rows were committed") : result;
        }
    }

    /// <summary>A project folder with only a configuration, for the reader's checks.</summary>
    private sealed class ConfigProject : IDisposable
    {
        private readonly string _root = Directory.CreateTempSubdirectory("intake-modules-config-").FullName;

        public ConfigProject()
        {
            File.WriteAllText(Path.Combine(_root, "intake.yaml"), "warehouses: { main: { kind: sqlite, path: w.db } }\n");
            Directory.CreateDirectory(Path.Combine(_root, "pipelines"));
            Directory.CreateDirectory(Path.Combine(_root, "in"));
        }

        public void Write(string yaml) => File.WriteAllText(Path.Combine(_root, "pipelines", "p.yaml"), yaml);

        public IntakeConfig Load() => ConfigLoader.Load(Path.Combine(_root, "intake.yaml"));

        public void Dispose() => Directory.Delete(_root, recursive: true);
    }
}
