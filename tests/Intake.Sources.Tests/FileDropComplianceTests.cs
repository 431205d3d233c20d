using System.Text;
using Intake.Sources.Tests.Support;
using Intake.Tests.Shared;

namespace Intake.Sources.Tests;

/// <summary>
/// What every source Intake writes into must do (see <see cref="IFileDrop"/>), as a stream's batcher relies on it:
/// subclassed once per implementation (local folder, S3), each against the real thing. Each test works in a folder
/// or bucket of its own.
/// </summary>
public abstract class FileDropComplianceTests : IAsyncLifetime
{
    private readonly List<IFileSource> _owned = [];

    /// <summary>The clock of the sources; the stable-file rule is off (a written file is whole when it appears).</summary>
    protected ManualTimeProvider Clock { get; } = new();

    public Task InitializeAsync() => SetUpAsync();

    public async Task DisposeAsync()
    {
        foreach (var source in _owned)
        {
            (source as IDisposable)?.Dispose();
        }

        await TearDownAsync();
    }

    protected virtual Task SetUpAsync() => Task.CompletedTask;

    protected virtual Task TearDownAsync() => Task.CompletedTask;

    /// <summary>A new source on this test's folder or prefix, listing without waiting for files to be stable.</summary>
    protected abstract IFileSource Create(IList<string>? include = null, IList<string>? exclude = null);

    private (IFileSource Source, IFileDrop Drop) Source(IList<string>? include = null, IList<string>? exclude = null)
    {
        var source = Create(include, exclude);
        _owned.Add(source);
        return (source, source.ShouldBeAssignableTo<IFileDrop>()!);
    }

    private static async Task<List<SourceFile>> ListAsync(IFileSource source)
    {
        var files = new List<SourceFile>();
        await foreach (var f in source.ListAsync(default))
        {
            files.Add(f);
        }

        return files;
    }

    private static async Task<string> ReadAsync(IFileSource source, string key)
    {
        await using var stream = await source.OpenReadAsync(key, default);
        using var reader = new StreamReader(stream, Encoding.UTF8);
        return await reader.ReadToEndAsync();
    }

    [SourceFact]
    public async Task Write_TheFileIsListedWholeUnderItsKey_InNewFolders()
    {
        var (source, drop) = Source();
        var content = "{\"id\":1}\n{\"id\":2}\n";

        await drop.WriteAsync("kafka/sample/b1.json", new MemoryStream(Encoding.UTF8.GetBytes(content)), Clock.GetUtcNow(), default);

        var file = (await ListAsync(source)).ShouldHaveSingleItem();
        file.Key.ShouldBe("kafka/sample/b1.json");
        file.Size.ShouldBe(content.Length);
        (await ReadAsync(source, "kafka/sample/b1.json")).ShouldBe(content);
    }

    [SourceFact]
    public async Task WriteAgain_SameContentAndTime_IsTheSameFileToDiscovery()
    {
        var (source, drop) = Source();
        var written = Clock.GetUtcNow() - TimeSpan.FromMinutes(5);
        var content = Encoding.UTF8.GetBytes("{\"id\":1}\n");
        await drop.WriteAsync("b1.json", new MemoryStream(content), written, default);
        var first = (await ListAsync(source)).ShouldHaveSingleItem();

        // A batch re-sent after a crash: the same content under the same key, a little later.
        Clock.Advance(TimeSpan.FromSeconds(3));
        await drop.WriteAsync("b1.json", new MemoryStream(content), written, default);

        (await ListAsync(source)).ShouldHaveSingleItem().Fingerprint.ShouldBe(first.Fingerprint);
    }

    [SourceFact]
    public async Task Write_CutShort_LeavesNothingListed()
    {
        var (source, drop) = Source();

        await Should.ThrowAsync<IOException>(() => drop.WriteAsync("kafka/b1.json", new FailingStream(Encoding.UTF8.GetBytes("{\"id\":1}\n")), Clock.GetUtcNow(), default));

        (await ListAsync(source)).ShouldBeEmpty();
    }

    [SourceFact]
    public void Offers_FollowsIncludeAndExclude()
    {
        var (_, drop) = Source(include: ["kafka/**"], exclude: ["kafka/old/**"]);

        drop.Offers("kafka/sample/b1.json").ShouldBeTrue();
        drop.Offers("other/b1.json").ShouldBeFalse();
        drop.Offers("kafka/old/b1.json").ShouldBeFalse();
        drop.Offers("../b1.json").ShouldBeFalse();
    }

    /// <summary>Gives its bytes, then fails as a spool file on a failing disk would.</summary>
    private sealed class FailingStream(byte[] first) : MemoryStream(first)
    {
        public override bool CanSeek => false;

        public override int Read(byte[] buffer, int offset, int count)
        {
            var n = base.Read(buffer, offset, count);
            return n > 0 ? n : throw new IOException("disk failed");
        }

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            var n = await base.ReadAsync(buffer, cancellationToken);
            return n > 0 ? n : throw new IOException("disk failed");
        }
    }
}

/// <summary>The file-drop compliance suite on a local folder.</summary>
public sealed class LocalFileDropComplianceTests : FileDropComplianceTests
{
    private readonly string _root = Directory.CreateTempSubdirectory("intake-drop-compliance-").FullName;

    protected override IFileSource Create(IList<string>? include = null, IList<string>? exclude = null)
    {
        var options = new LocalDirectorySourceOptions { Directory = _root, StableFor = TimeSpan.Zero };
        options.Include = include ?? options.Include;
        options.Exclude = exclude ?? options.Exclude;
        return new LocalDirectorySource(options, Clock);
    }

    protected override Task TearDownAsync()
    {
        Directory.Delete(_root, recursive: true);
        return Task.CompletedTask;
    }

    [Fact]
    public async Task Write_LeavesNoTempFile_AndIsNeverOfferedUnderAHiddenOrTemporaryName()
    {
        var source = (LocalDirectorySource)Create();
        await source.WriteAsync("a/b1.json", new MemoryStream("{}\n"u8.ToArray()), Clock.GetUtcNow(), default);

        Directory.GetFiles(_root, "*", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(_root, f)).ShouldBe([Path.Combine("a", "b1.json")]);

        // A write of the same file cut short by a crash left its temp file; the next write of that file removes it.
        File.WriteAllText(Path.Combine(_root, "a", ".b2.json.0123.tmp"), "{\"id\":");
        await source.WriteAsync("a/b2.json", new MemoryStream("{}\n"u8.ToArray()), Clock.GetUtcNow(), default);
        Directory.GetFiles(Path.Combine(_root, "a")).Select(Path.GetFileName).Order(StringComparer.Ordinal).ShouldBe(["b1.json", "b2.json"]);
        source.Offers(".hidden/b1.json").ShouldBeFalse();
        source.Offers("a/b1.json.tmp").ShouldBeFalse();
    }
}
