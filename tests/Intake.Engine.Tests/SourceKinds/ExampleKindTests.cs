using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using System.Text;
using Intake.Core.Ports;
using Intake.Engine.SourceKinds;
using Intake.Sources;
using Microsoft.Data.Sqlite;

namespace Intake.Engine.Tests.SourceKinds;

/// <summary>
/// The list in docs/architecture.md ("how to add a source kind"), followed by a test: a kind that lists an
/// in-memory set of files is its options, its reader and its adapter (below), plus one registration; a pipeline of
/// that kind then runs from discovery to archived like any other.
/// </summary>
public sealed class ExampleKindTests : IAsyncLifetime
{
    private readonly string _dir = Directory.CreateTempSubdirectory("intake-example-kind-").FullName;

    private readonly Dictionary<string, byte[]> _files = new(StringComparer.Ordinal)
    {
        ["orders/2026-01-01.csv"] = Encoding.UTF8.GetBytes("id,name\n1,a\n2,b\n"),
        ["orders/2026-01-02.csv"] = Encoding.UTF8.GetBytes("id,name\n3,c\n"),
        ["readme.txt"] = Encoding.UTF8.GetBytes("not data"),
    };

    public ExampleKindTests()
    {
        File.WriteAllText(Path.Combine(_dir, "intake.yaml"), """
            catalog: { kind: sqlite, path: .intake/catalog.db }
            stores: { local: { kind: local, root: .intake/store } }
            warehouses: { main: { kind: sqlite, path: .intake/warehouse.db } }
            """);
        Directory.CreateDirectory(Path.Combine(_dir, "pipelines"));
        File.WriteAllText(Path.Combine(_dir, "pipelines", "orders.yaml"), """
            name: orders
            source:
              kind: memory
              include: "orders/*.csv"
            steps: [fetch, load]
            load: { table: orders }
            """);
    }

    public Task InitializeAsync() => Task.CompletedTask;

    // xUnit 2 disposes a test class through IAsyncLifetime, not IAsyncDisposable.
    public Task DisposeAsync()
    {
        SqliteConnection.ClearAllPools();
        Directory.Delete(_dir, recursive: true);
        return Task.CompletedTask;
    }

    private string ConfigFile => Path.Combine(_dir, "intake.yaml");

    [Fact]
    public async Task ExampleKind_RegisteredWithOneLine_RunsAPipelineFromDiscoveryToArchived()
    {
        // The one registration line.
        var kinds = SourceKindRegistry.BuiltIn.With(new MemoryKind(_files));

        await using var runtime = await IntakeRuntime.OpenAsync(ConfigLoader.Load(ConfigFile, kinds));
        var summary = await new Runner(runtime).RunAsync(new RunOptions { Once = true, Workers = 1 }, default);

        summary.Discovered.ShouldHaveSingleItem().New.ShouldBe(2);
        summary.Count(LoadStatus.Archived).ShouldBe(2);
        var loads = await runtime.Catalog.ListLoadsAsync(new LoadQuery(), default);
        loads.Select(l => l.SourceKey).Order(StringComparer.Ordinal).ShouldBe(["orders/2026-01-01.csv", "orders/2026-01-02.csv"]);
        loads.ShouldAllBe(l => l.InboxKey != null); // the original was fetched into the inbox, as for any file kind
        await using var warehouse = new SqliteConnection($"Data Source={Path.Combine(_dir, ".intake", "warehouse.db")}");
        await warehouse.OpenAsync();
        await using var count = warehouse.CreateCommand();
        count.CommandText = "SELECT count(*) FROM orders";
        (await count.ExecuteScalarAsync()).ShouldBe(3L);
    }

    [Fact]
    public async Task Run_LoadsWhatDiscoveryRegistered_WhileTheListingGoesOn()
    {
        // A listing of 501 files registers its first 500 in one batch; the last file is listed only once a load is
        // archived (or after 20 s): the workers start on the first batch instead of waiting for the whole listing.
        var files = Enumerable.Range(0, 501).ToDictionary(i => $"orders/{i:D4}.csv", i => Encoding.UTF8.GetBytes($"id,name\n{i},n{i}\n"), StringComparer.Ordinal);
        var archived = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var archivedWhileListing = false;
        async Task WaitForAnArchivedLoad()
        {
            try
            {
                await archived.Task.WaitAsync(TimeSpan.FromSeconds(20));
                archivedWhileListing = true;
            }
            catch (TimeoutException)
            {
                // Listed anyway, the test then fails below.
            }
        }

        var kinds = SourceKindRegistry.BuiltIn.With(new MemoryKind(files, beforeLast: WaitForAnArchivedLoad));
        await using var runtime = await IntakeRuntime.OpenAsync(ConfigLoader.Load(ConfigFile, kinds));

        var summary = await new Runner(runtime, new ArchivedSignal(archived)).RunAsync(new RunOptions { Once = true, Workers = 2 }, default);

        archivedWhileListing.ShouldBeTrue();
        summary.Discovered.ShouldHaveSingleItem().New.ShouldBe(501);
        summary.Count(LoadStatus.Archived).ShouldBe(501);
    }

    private sealed class ArchivedSignal(TaskCompletionSource archived) : IRunObserver
    {
        public void LoadFinished(Load load, LoadStatus status)
        {
            if (status == LoadStatus.Archived)
            {
                archived.TrySetResult();
            }
        }
    }

    [Fact]
    public void ExampleKind_NotRegistered_IsRefusedNamingTheKindsThatAre()
    {
        var e = Should.Throw<ConfigException>(() => ConfigLoader.Load(ConfigFile));

        e.Errors.ShouldHaveSingleItem().Reason.ShouldBe("'memory' is not a source kind (local, ftp, sftp, s3, http, database, mail)");
    }

    [Fact]
    public void ExampleKind_ItsOwnChecks_RunAtStart()
    {
        File.WriteAllText(Path.Combine(_dir, "pipelines", "orders.yaml"), """
            name: orders
            source: { kind: memory, include: "[oops" }
            steps: [fetch, pull]
            """);

        var e = Should.Throw<ConfigException>(() => ConfigLoader.Load(ConfigFile, SourceKindRegistry.BuiltIn.With(new MemoryKind(_files))));

        e.Errors.ShouldContain(x => x.Key == "source" && x.Reason.Contains("[oops", StringComparison.Ordinal));
        e.Errors.ShouldContain(x => x.Key == "steps" && x.Reason == "'pull' reads an HTTP API; it needs source.kind: http");
    }

    // ---- The example kind: options (defaults written once), reader, adapter. ----

    /// <summary>Which of the held files a pipeline takes.</summary>
    public sealed class MemorySourceOptions
    {
        public IList<string> Include { get; set; } = ["**/*"];

        public IList<string> Exclude { get; set; } = [];
    }

    /// <summary><c>source.kind: memory</c>. Steps, first step, discovery and the start-up check come from <see cref="FileSourceKind{TOptions}"/>.</summary>
    public sealed class MemoryKind(IReadOnlyDictionary<string, byte[]> files, Func<Task>? beforeLast = null) : FileSourceKind<MemorySourceOptions>
    {
        public override string Name => "memory";

        public override string Reads => "files held in memory";

        public override IFileSource CreateSource(MemorySourceOptions options, TimeProvider time) => new MemorySource(files, options) { BeforeLast = beforeLast };

        protected override MemorySourceOptions Read(SourceReading reading)
        {
            var o = new MemorySourceOptions();
            o.Include = reading.Source.StringList("include")?.ToList() ?? o.Include;
            o.Exclude = reading.Source.StringList("exclude")?.ToList() ?? o.Exclude;
            return o;
        }

        protected override string Location(MemorySourceOptions options) => "memory";
    }

    /// <summary>The adapter: lists the held files that match, each whole at once; its fingerprint is the content's hash.</summary>
    public sealed class MemorySource : IFileSource
    {
        private readonly IReadOnlyDictionary<string, byte[]> _files;
        private readonly Glob[] _include;
        private readonly Glob[] _exclude;

        public MemorySource(IReadOnlyDictionary<string, byte[]> files, MemorySourceOptions options)
        {
            _files = files;
            _include = options.Include.Select(p => Glob.Parse(p)).ToArray();
            _exclude = options.Exclude.Select(p => Glob.Parse(p)).ToArray();
        }

        /// <summary>Waited for before the last file is listed (a slow listing, for a test); null lists at once.</summary>
        public Func<Task>? BeforeLast { get; init; }

        public async IAsyncEnumerable<SourceFile> ListAsync([EnumeratorCancellation] CancellationToken cancellationToken)
        {
            await Task.CompletedTask;
            var last = _files.Keys.Max(StringComparer.Ordinal);
            foreach (var (key, content) in _files.OrderBy(f => f.Key, StringComparer.Ordinal))
            {
                if (key == last && BeforeLast is not null)
                {
                    await BeforeLast();
                }

                if (_include.Any(g => g.IsMatch(key)) && !_exclude.Any(g => g.IsMatch(key)))
                {
                    yield return new SourceFile(key, content.Length, DateTimeOffset.UnixEpoch, "sha256:" + Convert.ToHexString(SHA256.HashData(content)));
                }
            }
        }

        public Task<Stream> OpenReadAsync(string key, CancellationToken cancellationToken) =>
            _files.TryGetValue(key, out var content)
                ? Task.FromResult<Stream>(new MemoryStream(content, writable: false))
                : throw new FileNotFoundException($"memory source: {key} is not held", key);

        public string Describe(string key) => "memory:" + key;
    }
}
