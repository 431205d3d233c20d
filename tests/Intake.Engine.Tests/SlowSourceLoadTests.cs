using System.Text;
using Intake.Core.Model;
using Intake.Core.Ports;
using Intake.Engine.Configuration;
using Intake.Engine.Runtime;
using Intake.Engine.Steps;
using Microsoft.Data.Sqlite;

namespace Intake.Engine.Tests;

/// <summary>
/// A load whose data file stops arriving in the middle (a work store on a network that stalls): cancelling the load
/// (shutdown, a lost lease, the job's time limit) must end it while it waits, and roll everything back.
/// </summary>
public sealed class SlowSourceLoadTests : IAsyncLifetime
{
    private readonly string _dir = Directory.CreateTempSubdirectory("intake-slow-").FullName;
    private IntakeRuntime _runtime = null!;

    public async Task InitializeAsync()
    {
        File.WriteAllText(Path.Combine(_dir, "intake.yaml"), """
            catalog: { kind: sqlite, path: .intake/catalog.db }
            stores: { local: { kind: local, root: .intake/store } }
            warehouses: { main: { kind: sqlite, path: .intake/warehouse.db } }
            """);
        Directory.CreateDirectory(Path.Combine(_dir, "pipelines"));
        Directory.CreateDirectory(Path.Combine(_dir, "in"));
        File.WriteAllText(Path.Combine(_dir, "pipelines", "p.yaml"), """
            name: p
            source: { kind: local, path: ../in, stable_for: 0s }
            steps: [fetch, decompress, load]
            csv: { files: ["*.csv"] }
            load: { table: rows }
            """);
        _runtime = await IntakeRuntime.OpenAsync(ConfigLoader.Load(Path.Combine(_dir, "intake.yaml")));
    }

    public async Task DisposeAsync()
    {
        await _runtime.DisposeAsync();
        SqliteConnection.ClearAllPools();
        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public async Task LoadCancelledWhileADataFileStalls_StopsWaiting_AndKeepsTheEarlierAttemptsRows()
    {
        var pipeline = _runtime.Pipeline("p");
        var store = _runtime.WorkStoreFor(pipeline);
        var load = new Load { Id = 1, Pipeline = "p", Customer = "c", SourceKey = "batch.zip", Fingerprint = "f" };
        await PutAsync(store, load, "a.csv", "id,name\n1,one\n2,two\n");
        await PutAsync(store, load, "b.csv", "id,name\n3,three\n");
        (await new LoadStep().RunAsync(Context(load, pipeline, store, attempt: 1), default)).RowsOut.ShouldBe(3);

        // The second attempt: a.csv copies in full, then b.csv stops arriving after its first bytes.
        await PutAsync(store, load, "a.csv", "id,name\n10,ten\n11,eleven\n");
        await PutAsync(store, load, "b.csv", "id,name\n" + string.Concat(Enumerable.Range(12, 20_000).Select(i => $"{i},n{i}\n")));
        var stalling = new StallingStore(store, stallIn: "b.csv", afterBytes: 100);
        using var cancel = new CancellationTokenSource();
        // On the pool, as a worker runs it: a load that blocks in a read would otherwise hold the test's own thread.
        var run = Task.Run(() => new LoadStep().RunAsync(Context(load, pipeline, stalling, attempt: 2), cancel.Token));
        try
        {
            await stalling.Stalled.Task.WaitAsync(TimeSpan.FromMinutes(1)); // a hang guard: the stall comes at once
            cancel.Cancel();

            // A load blocked in a read ignores the cancellation until data comes, which here is never: the guard fails it.
            await Should.ThrowAsync<OperationCanceledException>(() => run.WaitAsync(TimeSpan.FromMinutes(1)));
        }
        finally
        {
            stalling.Release(); // lets a read that blocked (and so failed the test) end
        }

        // Rolled back: the earlier attempt's rows, neither deleted nor joined by a.csv's new ones.
        Ids().ShouldBe([1, 2, 3]);
    }

    private static async Task PutAsync(IObjectStore store, Load load, string name, string text) =>
        await store.PutAsync(Areas.Work, Keys.WorkPrefix(load) + name, new MemoryStream(Encoding.UTF8.GetBytes(text)), default);

    private StepContext Context(Load load, PipelineConfig pipeline, IObjectStore store, int attempt) => new()
    {
        Load = load,
        Pipeline = pipeline,
        Attempt = attempt,
        Observer = NullRunObserver.Instance,
        StepName = "load",
        Store = store,
        WorkStore = store,
        Warehouse = _runtime.Warehouses["main"],
        Catalog = _runtime.Ports.Loads,
        Checkpoints = _runtime.Ports.Checkpoints,
        Exports = _runtime.Ports.Exports,
        Locks = _runtime.Ports.Locks,
        Time = _runtime.Time,
        Logs = _runtime.Logs,
        BaseDirectory = _dir,
    };

    private List<long> Ids()
    {
        using var c = new SqliteConnection($"Data Source={Path.Combine(_dir, ".intake", "warehouse.db")};Pooling=false");
        c.Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = "SELECT CAST(id AS INTEGER) FROM rows ORDER BY 1";
        using var reader = cmd.ExecuteReader();
        var ids = new List<long>();
        while (reader.Read())
        {
            ids.Add(reader.GetInt64(0));
        }

        return ids;
    }

    /// <summary>The store, but one file's content stops after some bytes until <see cref="Release"/>.</summary>
    private sealed class StallingStore(IObjectStore inner, string stallIn, int afterBytes) : IObjectStore
    {
        private readonly TaskCompletionSource _release = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public TaskCompletionSource Stalled { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public void Release() => _release.TrySetResult();

        public string Name => inner.Name;

        public async Task<Stream> OpenReadAsync(string area, string key, CancellationToken cancellationToken)
        {
            var stream = await inner.OpenReadAsync(area, key, cancellationToken);
            return key.EndsWith("/" + stallIn, StringComparison.Ordinal) ? new StallingStream(stream, afterBytes, this) : stream;
        }

        public Task<ObjectInfo> PutAsync(string area, string key, Stream content, CancellationToken cancellationToken) => inner.PutAsync(area, key, content, cancellationToken);
        public Task<ObjectInfo?> StatAsync(string area, string key, CancellationToken cancellationToken) => inner.StatAsync(area, key, cancellationToken);
        public IAsyncEnumerable<ObjectInfo> ListAsync(string area, string prefix, CancellationToken cancellationToken) => inner.ListAsync(area, prefix, cancellationToken);
        public Task<ObjectInfo> CopyAsync(string fromArea, string fromKey, string toArea, string toKey, CancellationToken cancellationToken) => inner.CopyAsync(fromArea, fromKey, toArea, toKey, cancellationToken);
        public Task DeleteAsync(string area, string key, CancellationToken cancellationToken) => inner.DeleteAsync(area, key, cancellationToken);
        public Task DeletePrefixAsync(string area, string prefix, CancellationToken cancellationToken) => inner.DeletePrefixAsync(area, prefix, cancellationToken);
        public string Describe(string area, string key) => inner.Describe(area, key);

        private sealed class StallingStream(Stream inner, int afterBytes, StallingStore owner) : Stream
        {
            private long _delivered;

            public override int Read(Span<byte> buffer)
            {
                if (_delivered >= afterBytes)
                {
                    owner.Stalled.TrySetResult();
                    owner._release.Task.Wait(); // a blocking read: a socket that receives nothing
                }

                return Count(inner.Read(buffer[..Allowed(buffer.Length)]));
            }

            public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

            public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
            {
                if (_delivered >= afterBytes)
                {
                    owner.Stalled.TrySetResult();
                    await owner._release.Task.WaitAsync(cancellationToken);
                }

                return Count(await inner.ReadAsync(buffer[..Allowed(buffer.Length)], cancellationToken));
            }

            public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
                ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

            private int Allowed(int length) => _delivered < afterBytes ? (int)Math.Min(length, afterBytes - _delivered) : length;

            private int Count(int n)
            {
                _delivered += n;
                return n;
            }

            protected override void Dispose(bool disposing)
            {
                if (disposing)
                {
                    inner.Dispose();
                }

                base.Dispose(disposing);
            }

            public override bool CanRead => true;
            public override bool CanSeek => false;
            public override bool CanWrite => false;
            public override long Length => throw new NotSupportedException();
            public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
            public override void Flush() { }
            public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
            public override void SetLength(long value) => throw new NotSupportedException();
            public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        }
    }
}
