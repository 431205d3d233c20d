using System.Text;
using Intake.Engine.Streams;
using Intake.Sources;
using Intake.Tests.Shared;
using Microsoft.Extensions.Logging.Abstractions;

namespace Intake.Engine.Tests.Streams;

/// <summary>The batcher on a real spool and a real local source: when batches are sealed, and what lands in them.</summary>
public sealed class StreamBatcherTests : IAsyncLifetime
{
    private readonly string _root = Directory.CreateTempSubdirectory("intake-batcher-").FullName;
    private readonly ManualTimeProvider _clock = new(new DateTimeOffset(2026, 3, 1, 12, 0, 0, TimeSpan.Zero));
    private readonly List<string> _discovered = [];
    private StreamBatcher? _batcher;

    private string Source => Path.Combine(_root, "incoming");

    private StreamConfig Config(int maxRecords = 5, TimeSpan? maxAge = null) => new()
    {
        Name = "clicks",
        Pipeline = "events",
        Prefix = "kafka/sample/",
        MaxRecords = maxRecords,
        MaxAge = maxAge ?? TimeSpan.FromHours(1),
        SpoolDirectory = Path.Combine(_root, "spool"),
    };

    private StreamBatcher Start(StreamConfig config)
    {
        Directory.CreateDirectory(Source);
        var drop = new LocalDirectorySource(new LocalDirectorySourceOptions { Directory = Source, StableFor = TimeSpan.Zero }, _clock);
        _batcher = new StreamBatcher(config, drop, (key, _) =>
        {
            lock (_discovered)
            {
                _discovered.Add(key);
            }

            return Task.FromResult(true);
        }, _clock, NullLogger.Instance);
        _batcher.Start();
        return _batcher;
    }

    private static StreamRecords Records(IEnumerable<int> ids)
    {
        var problems = new List<string>();
        return StreamRecords.Parse(Encoding.UTF8.GetBytes(string.Concat(ids.Select(i => $"{{\"id\":{i}}}\n"))), problems) ?? throw new InvalidOperationException(string.Join("; ", problems));
    }

    /// <summary>The batch files as the source lists them (not the hidden temp file of a write in progress).</summary>
    private string[] BatchFiles() =>
        Directory.Exists(Path.Combine(Source, "kafka", "sample"))
            ? [.. Directory.GetFiles(Path.Combine(Source, "kafka", "sample")).Where(f => !Path.GetFileName(f).StartsWith('.')).Order(StringComparer.Ordinal)]
            : [];

    private async Task<string[]> WaitForBatchesAsync(int count)
    {
        for (var i = 0; i < 200 && BatchFiles().Length < count; i++)
        {
            await Task.Delay(50);
        }

        return BatchFiles();
    }

    private static int[] Ids(string file) => [.. File.ReadAllLines(file).Select(l => int.Parse(l["{\"id\":".Length..^1], System.Globalization.CultureInfo.InvariantCulture))];

    public Task InitializeAsync() => Task.CompletedTask;

    // xUnit 2 disposes a test class through IAsyncLifetime, not IAsyncDisposable.
    public async Task DisposeAsync()
    {
        if (_batcher is not null)
        {
            await _batcher.DisposeAsync();
        }

        Directory.Delete(_root, recursive: true);
    }

    [Fact]
    public async Task AtMaxRecords_TheBatchIsSealed_SplittingTheAppendThatCrossesIt()
    {
        var batcher = Start(Config(maxRecords: 5));

        await batcher.AppendAsync(Records([1, 2, 3]));
        await batcher.AppendAsync(Records([4, 5, 6, 7]));

        var batch = (await WaitForBatchesAsync(1)).ShouldHaveSingleItem();
        Ids(batch).ShouldBe([1, 2, 3, 4, 5]);
        Path.GetFileName(batch).ShouldMatch("^[0-9a-f]{32}\\.json$");
        batcher.Status().PendingRecords.ShouldBe(2);
        for (var i = 0; i < 100 && _discovered.Count == 0; i++)
        {
            await Task.Delay(50);
        }

        _discovered.ShouldBe(["kafka/sample/" + Path.GetFileName(batch)]);
    }

    [Fact]
    public async Task AtMaxAge_TheBatchIsSealed_HoweverSmall()
    {
        var batcher = Start(Config(maxRecords: 1000, maxAge: TimeSpan.FromHours(1)));
        await batcher.AppendAsync(Records([1, 2]));
        _clock.Advance(TimeSpan.FromMinutes(59));
        await Task.Delay(1500); // the batcher looks about once a second
        BatchFiles().ShouldBeEmpty();

        _clock.Advance(TimeSpan.FromMinutes(1));

        Ids((await WaitForBatchesAsync(1)).ShouldHaveSingleItem()).ShouldBe([1, 2]);
        batcher.Status().PendingRecords.ShouldBe(0);
    }

    [Fact]
    public async Task ConcurrentAppends_AreCommittedTogether_EachRecordInExactlyOneBatch()
    {
        var batcher = Start(Config(maxRecords: 100));

        await Task.WhenAll(Enumerable.Range(0, 50).Select(n => Task.Run(() => batcher.AppendAsync(Records(Enumerable.Range(n * 20, 20))))));

        var batches = await WaitForBatchesAsync(10);
        batches.Length.ShouldBe(10);
        batches.SelectMany(Ids).Order().ShouldBe(Enumerable.Range(0, 1000));
        batches.ShouldAllBe(b => Ids(b).Length == 100);
    }

    [Fact]
    public async Task ABatchSealedButNotWritten_IsWrittenAtStart_UnderTheUuidItWasSealedWith()
    {
        var config = Config();
        SealedBatch batch;
        using (var spool = StreamSpool.Open(config.SpoolDirectory, _clock, out _))
        {
            spool.Append(Records([1, 2]).Lines.Span, 2);
            batch = spool.Seal()!;
        }

        Start(config);

        var file = (await WaitForBatchesAsync(1)).ShouldHaveSingleItem();
        Path.GetFileName(file).ShouldBe($"{batch.Id:N}.json");
        Ids(file).ShouldBe([1, 2]);
        File.GetLastWriteTimeUtc(file).ShouldBe(batch.SealedAt.UtcDateTime);
        for (var i = 0; i < 100 && StreamSpool.ListSealed(config.SpoolDirectory).Count > 0; i++)
        {
            await Task.Delay(50);
        }

        StreamSpool.ListSealed(config.SpoolDirectory).ShouldBeEmpty();
    }

    [Fact]
    public async Task Flush_SealsTheOpenBatchNow()
    {
        var batcher = Start(Config(maxRecords: 1000));
        await batcher.AppendAsync(Records([7]));

        batcher.Flush();

        Ids((await WaitForBatchesAsync(1)).ShouldHaveSingleItem()).ShouldBe([7]);
    }
}
