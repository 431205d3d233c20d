using System.Data.Common;
using Intake.Core.Errors;
using Intake.Core.Model;
using Intake.Engine.Configuration;
using Intake.Engine.Operations;
using Intake.Engine.Runtime;
using Intake.Engine.Steps;

namespace Intake.Engine.Tests.Cubic;

/// <summary>
/// ODS snapshots and change tracking through discovery and real workers, run once per catalog and warehouse
/// (SQLite, PostgreSQL): change files that arrive before their snapshot are held with the reason and released by
/// themselves, the current-state table follows the snapshot and its change files, and a new LOAD…1 rebuilds it.
/// </summary>
public abstract class OdsScenarios : IAsyncLifetime
{
    protected const string Base = "cubic__ods_qlik__edw_sample";
    private static readonly DateTimeOffset FirstSnapshot = new(2022, 3, 4, 13, 45, 56, TimeSpan.Zero);

    protected OdsScenarios()
    {
        Root = Directory.CreateTempSubdirectory("intake-ods-").FullName;
        Directory.CreateDirectory(Path.Combine(Root, "pipelines"));
        Directory.CreateDirectory(Path.Combine(Root, "in"));
    }

    protected string Root { get; }

    /// <summary>The catalog and warehouse settings of <c>intake.yaml</c>.</summary>
    protected abstract Task<(string Catalog, string Warehouse)> DatabasesAsync();

    /// <summary>Every row of a warehouse query, each value as text.</summary>
    protected abstract Task<List<string?[]>> QueryAsync(string sql);

    protected abstract DbConnection OpenWarehouse();

    public Task InitializeAsync() => Task.CompletedTask;

    // xUnit 2 disposes a test class through IAsyncLifetime, not IAsyncDisposable.
    public virtual Task DisposeAsync()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(Root, recursive: true);
        return Task.CompletedTask;
    }

    private async Task SetUpAsync()
    {
        var (catalog, warehouse) = await DatabasesAsync();
        File.WriteAllText(Path.Combine(Root, "intake.yaml"), $"""
            catalog: {catalog}
            stores: {"{"} local: {"{"} kind: local, root: .intake/store {"}"} {"}"}
            warehouses: {"{"} main: {warehouse} {"}"}
            defaults:
              retry: {"{"} max_attempts: 1 {"}"}
            """);
        File.WriteAllText(Path.Combine(Root, "pipelines", "cubic.yaml"), $$"""
            name: cubic
            source:
              kind: local
              path: ../in
              stable_for: 0s
              tables_from_prefix: { root: cubic/, depth: 3 }
            steps: [fetch, load]
            cubic:
              ods:
                tables: ["cubic__ods_qlik__*"]
                keys: { {{Base}}: [sample_id] }
            """);
    }

    private void Write(string key, string content, DateTimeOffset? modified = null)
    {
        var path = Path.Combine(Root, "in", key);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, content);
        File.SetLastWriteTimeUtc(path, (modified ?? FirstSnapshot.AddMinutes(5)).UtcDateTime);
    }

    private async Task<IntakeRuntime> OpenAsync() => await IntakeRuntime.OpenAsync(ConfigLoader.Load(Path.Combine(Root, "intake.yaml")));

    private static async Task DiscoverAndDrainAsync(IntakeRuntime runtime, IEnumerable<IStep>? steps = null)
    {
        await new Discovery(runtime).DiscoverAsync(runtime.Pipeline("cubic"), default);
        await DrainAsync(runtime, steps);
    }

    private static async Task DrainAsync(IntakeRuntime runtime, IEnumerable<IStep>? steps = null)
    {
        var worker = new Worker(runtime, steps ?? Worker.DefaultSteps(runtime));
        while (await worker.RunOneAsync(null, default) is not null)
        {
        }
    }

    private static async Task<Load> LoadOfAsync(IntakeRuntime runtime, string key) =>
        (await runtime.Catalog.ListLoadsAsync(new LoadQuery { Limit = 10_000 }, default)).Last(l => l.SourceKey == key);

    private async Task<List<string>> CurrentAsync() =>
        [.. (await QueryAsync($"select sample_id, name from {Base}__current order by sample_id")).Select(r => $"{r[0]}={r[1]}")];

    private const string Header = "header__change_seq,header__change_oper,sample_id,name";

    protected async Task ChangeFileBeforeItsSnapshot_IsHeld_ThenReleasedByItself_AndAppliedAsync()
    {
        await SetUpAsync();
        Write("cubic/ods_qlik/EDW.SAMPLE__ct/20220304-134600000.csv", $"{Header}\n00000000000000000010,U,1,a-changed\n00000000000000000011,I,4,d\n");
        await using (var runtime = await OpenAsync())
        {
            await DiscoverAndDrainAsync(runtime);
            var early = await LoadOfAsync(runtime, "cubic/ods_qlik/EDW.SAMPLE__ct/20220304-134600000.csv");
            early.Status.ShouldBe(LoadStatus.Held);
            early.HeldReason.ShouldBe($"waiting for a snapshot of {Base}: no LOAD…1 file yet");
        }

        // The snapshot arrives in two LOAD files, with a second change file; the second LOAD file fails at first.
        Write("cubic/ods_qlik/EDW.SAMPLE/LOAD00000001.csv", "sample_id,name\n1,a\n2,b\n", FirstSnapshot);
        Write("cubic/ods_qlik/EDW.SAMPLE/LOAD00000002.csv", "sample_id,name\n3,c\n");
        Write("cubic/ods_qlik/EDW.SAMPLE__ct/20220304-134700000.csv", $"{Header}\n00000000000000000012,B,2,b\n00000000000000000013,U,2,b-changed\n00000000000000000014,D,3,c\n");
        await using (var runtime = await OpenAsync())
        {
            var failing = Worker.DefaultSteps(runtime).Select(s => s.Name == "load" ? new FailingOnce(s, "LOAD00000002") : s).ToList();
            await DiscoverAndDrainAsync(runtime, failing);
            // Each keeps the reason it was held with; the early one waited for a snapshot that has now come, but not whole.
            (await LoadOfAsync(runtime, "cubic/ods_qlik/EDW.SAMPLE__ct/20220304-134600000.csv")).Status.ShouldBe(LoadStatus.Held);
            var change = await LoadOfAsync(runtime, "cubic/ods_qlik/EDW.SAMPLE__ct/20220304-134700000.csv");
            change.Status.ShouldBe(LoadStatus.Held);
            change.HeldReason.ShouldBe($"waiting for snapshot 2022-03-04T13:45:56Z of {Base}: 1 of 2 LOAD files loaded (1 failed: re-drive them)");

            // The operator re-drives the failed LOAD file: once it is loaded the change files go by themselves.
            var second = await LoadOfAsync(runtime, "cubic/ods_qlik/EDW.SAMPLE/LOAD00000002.csv");
            second.Status.ShouldBe(LoadStatus.Errored);
            (await new LoadActions(runtime.Catalog, runtime.Time).RedriveAsync(second, default)).Done.ShouldBeTrue();
            await DrainAsync(runtime);

            var loads = await runtime.Catalog.ListLoadsAsync(new LoadQuery(), default);
            loads.Select(l => (l.SourceKey, l.Status)).ShouldAllBe(l => l.Status == LoadStatus.Archived);
            (await CurrentAsync()).ShouldBe(["1=a-changed", "2=b-changed", "4=d"]);
            var snapshots = await runtime.Ports.Cubic.ListSnapshotsAsync("cubic", null, default);
            snapshots.Select(s => (s.Table, s.Snapshot, s.SnapshotKey)).ShouldBe([(Base, FirstSnapshot, "cubic/ods_qlik/EDW.SAMPLE/LOAD00000001.csv")]);
            foreach (var load in loads)
            {
                (await runtime.Ports.Cubic.GetLoadSnapshotAsync(load.Id, default)).ShouldBe(FirstSnapshot);
            }
        }

        // Rows in the warehouse carry their snapshot.
        (await QueryAsync($"select count(*) from {Base} where snapshot is not null")).ShouldHaveSingleItem()[0].ShouldBe("3");
        (await QueryAsync($"select count(*) from {Base}__ct where snapshot is not null")).ShouldHaveSingleItem()[0].ShouldBe("5");
    }

    protected async Task NewLoadSeries_IsANewSnapshot_AndRebuildsTheCurrentTableAsync()
    {
        await SetUpAsync();
        Write("cubic/ods_qlik/EDW.SAMPLE/LOAD1.csv", "sample_id,name\n1,a\n2,b\n", FirstSnapshot);
        Write("cubic/ods_qlik/EDW.SAMPLE__ct/20220304-134600000.csv", $"{Header}\n00000000000000000010,D,1,a\n");
        await using var runtime = await OpenAsync();
        await DiscoverAndDrainAsync(runtime);
        (await CurrentAsync()).ShouldBe(["2=b"]);

        // Collection restarts: LOAD1 again (new content, a later time), then a change file of the new snapshot.
        var restart = FirstSnapshot.AddDays(1);
        Write("cubic/ods_qlik/EDW.SAMPLE/LOAD1.csv", "sample_id,name\n1,a1\n7,g\n", restart);
        await DiscoverAndDrainAsync(runtime);
        (await CurrentAsync()).ShouldBe(["1=a1", "7=g"]);
        Write("cubic/ods_qlik/EDW.SAMPLE__ct/20220305-134600000.csv", $"{Header}\n00000000000000000020,U,7,g2\n");
        await DiscoverAndDrainAsync(runtime);

        (await CurrentAsync()).ShouldBe(["1=a1", "7=g2"]);
        var snapshots = await runtime.Ports.Cubic.ListSnapshotsAsync("cubic", Base, default);
        snapshots.Select(s => s.Snapshot).ShouldBe([FirstSnapshot, restart]);
        (await runtime.Catalog.ListLoadsAsync(new LoadQuery(), default)).ShouldAllBe(l => l.Status == LoadStatus.Archived);
    }

    protected async Task HeldLoadWhoseSnapshotIsLoaded_IsReleasedByTheSweeper_ButAnOperatorsHoldIsNotAsync()
    {
        await SetUpAsync();
        Write("cubic/ods_qlik/EDW.SAMPLE__ct/20220304-134600000.csv", $"{Header}\n00000000000000000010,I,5,e\n");
        Write("cubic/ods_qlik/OTHER__ct/20220304-134600000.csv", $"{Header}\n00000000000000000010,I,5,e\n");
        await using var runtime = await OpenAsync();
        await DiscoverAndDrainAsync(runtime);
        var change = await LoadOfAsync(runtime, "cubic/ods_qlik/EDW.SAMPLE__ct/20220304-134600000.csv");
        change.Status.ShouldBe(LoadStatus.Held);
        // The snapshot gets loaded by a worker that stops before its release (as a crash after the load step would).
        Write("cubic/ods_qlik/EDW.SAMPLE/LOAD1.csv", "sample_id,name\n1,a\n", FirstSnapshot);
        await new Discovery(runtime).DiscoverAsync(runtime.Pipeline("cubic"), default);
        using var stop = new CancellationTokenSource();
        var withoutRelease = Worker.DefaultSteps(runtime).Select(s => s.Name == "cubic_apply" ? new Stopping(s, stop) : s).ToList();
        await Should.ThrowAsync<OperationCanceledException>(() => new Worker(runtime, withoutRelease).RunOneAsync(null, stop.Token));
        (await runtime.Catalog.GetLoadAsync(change.Id, default))!.Status.ShouldBe(LoadStatus.Held);
        var other = await LoadOfAsync(runtime, "cubic/ods_qlik/OTHER__ct/20220304-134600000.csv");
        other.Status.ShouldBe(LoadStatus.Held);
        var operatorHeld = (await new LoadActions(runtime.Catalog, runtime.Time).RedriveAsync(other, default)).Load;
        (await new LoadActions(runtime.Catalog, runtime.Time).HoldAsync(operatorHeld, "kept back by the operator", default)).Done.ShouldBeTrue();

        await new Sweeper(runtime).SweepAsync(default);

        (await runtime.Catalog.GetLoadAsync(change.Id, default))!.Status.ShouldBe(LoadStatus.Ready);
        (await runtime.Catalog.GetLoadAsync(other.Id, default))!.HeldReason.ShouldBe("kept back by the operator");
    }

    /// <summary>A load step that fails (as a schema error) for one file the first time.</summary>
    private sealed class FailingOnce(IStep inner, string fileName) : IStep
    {
        private bool _failed;

        public string Name => inner.Name;

        public Task<StepResult> RunAsync(StepContext context, CancellationToken cancellationToken)
        {
            if (!_failed && context.Load.SourceKey.Contains(fileName, StringComparison.Ordinal))
            {
                _failed = true;
                throw IntakeException.Schema($"{fileName}: a broken row");
            }

            return inner.RunAsync(context, cancellationToken);
        }
    }

    /// <summary>A step whose worker is stopped as it starts, so the step never runs.</summary>
    private sealed class Stopping(IStep inner, CancellationTokenSource stop) : IStep
    {
        public string Name => inner.Name;

        public Task<StepResult> RunAsync(StepContext context, CancellationToken cancellationToken)
        {
            stop.Cancel();
            cancellationToken.ThrowIfCancellationRequested();
            return inner.RunAsync(context, cancellationToken);
        }
    }
}
