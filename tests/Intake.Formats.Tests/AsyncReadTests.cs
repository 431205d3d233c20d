using System.Globalization;
using System.Text;
using Intake.Core.Errors;
using Intake.Core.Ports;
using Intake.Formats.Csv;
using Intake.Formats.Json;
using Intake.Formats.Tests.Archives;

namespace Intake.Formats.Tests;

/// <summary>
/// The loads read rows asynchronously: the same rows, positions and errors as the synchronous read gives (which the
/// format tests pin in detail), with the stream's reads cut anywhere, and an await only when the buffer runs out.
/// </summary>
public sealed class AsyncReadTests
{
    static AsyncReadTests() => Encoding.RegisterProvider(CodePagesEncodingProvider.Instance);

    private static readonly Dictionary<string, (byte[] Bytes, CsvOptions? Options)> Csv = new()
    {
        ["plain"] = (U("id,name\n1,a\n2,b\n"), null),
        ["bom, crlf, quotes, blank lines"] = (U("\uFEFFa,b\r\n\"x\r\ny\",\"say \"\"hi\"\"\"\r\n\r\n3,\r\n\"\",last"), null),
        ["no header"] = (U("1,2\n3,4"), new CsvOptions { HasHeader = false }),
        ["many blocks"] = (U("a,b,c\n" + string.Concat(Enumerable.Range(0, 20_000).Select(i => $"{i},\"q\"\"{i}\"\"\",é{i}\r\n"))), null),
        ["a row longer than the buffer"] = (U("a,b\n1," + new string('x', 200_000) + "\n2,y\n"), null),
        ["bad bytes after many rows"] = ([.. U("id,name\n" + string.Concat(Enumerable.Range(0, 5_000).Select(i => $"{i},n{i}\n"))), 0xFF, .. U(",x\n")], null),
        ["bad bytes in the header"] = ([.. U("id,n"), 0xE9, .. U("\n1,2\n")], null),
        ["empty"] = ([], null),
        ["wrong field count"] = (U("a,b\n1,2\n3\n"), null),
        ["unclosed quote"] = (U("a,b\n1,\"open\n"), null),
        ["utf-16"] = (Encoding.Unicode.GetBytes("\uFEFFa,b\r\n1,ü\r\n"), new CsvOptions { Encoding = Encoding.Unicode }),
        ["latin-1 control"] = ([.. U("a\nx\n"), 0x92, .. U("\n")], new CsvOptions { Encoding = Encoding.Latin1 }),
    };

    private static readonly Dictionary<string, byte[]> Ndjson = new()
    {
        ["plain"] = U("{\"id\":1,\"name\":\"a\"}\n{\"id\":2}\n"),
        ["bom, crlf, blank lines, no last break"] = U("\uFEFF{\"id\":1}\r\n\r\n  \n{\"name\":\"é\"}"),
        ["many blocks"] = U(string.Concat(Enumerable.Range(0, 20_000).Select(i => $"{{\"id\":{i},\"name\":\"n{i}\"}}\n"))),
        ["a line longer than the buffer"] = U("{\"id\":1,\"name\":\"" + new string('x', 200_000) + "\"}\n{\"id\":2}\n"),
        ["bad json"] = U("{\"id\":1}\n{\"id\": tru}\n"),
        ["bad bytes"] = [.. U("{\"id\":1}\n{\"name\":\"x"), 0xED, 0xA0, 0x80, .. U("\"}\n")],
    };

    // Inputs that end in an error, on both paths.
    private static readonly HashSet<string> Failing =
        ["bad bytes after many rows", "bad bytes in the header", "empty", "wrong field count", "unclosed quote", "latin-1 control", "bad json", "bad bytes"];

    public static TheoryData<string, int> CsvCases() => Cases(Csv.Select(c => (c.Key, c.Value.Bytes.Length)));

    public static TheoryData<string, int> NdjsonCases() => Cases(Ndjson.Select(c => (c.Key, c.Value.Length)));

    private static TheoryData<string, int> Cases(IEnumerable<(string Name, int Length)> inputs)
    {
        var data = new TheoryData<string, int>();
        foreach (var (name, length) in inputs)
        {
            // A byte per read only for the small inputs: the large ones cross block boundaries at any chunk size.
            foreach (var chunk in length < 10_000 ? [1, 7, 64 * 1024] : new[] { 7, 64 * 1024 })
            {
                data.Add(name, chunk);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(CsvCases))]
    public async Task Csv_ReadAsync_GivesWhatReadGives(string name, int chunk)
    {
        var (bytes, options) = Csv[name];

        var expected = Outcome.Of(() => new CsvRowSource(new ForwardOnlyStream(new MemoryStream(bytes), chunk), "t.csv", options), s => ((CsvRowSource)s).Read());
        var actual = await Outcome.OfAsync(async () => await CsvRowSource.OpenAsync(new YieldingStream(new MemoryStream(bytes), chunk), "t.csv", options));

        actual.ShouldBe(expected);
        (actual.Error is not null).ShouldBe(Failing.Contains(name), actual.Error);
    }

    [Theory]
    [MemberData(nameof(NdjsonCases))]
    public async Task Ndjson_ReadAsync_GivesWhatReadGives(string name, int chunk)
    {
        var bytes = Ndjson[name];
        string[] columns = ["id", "name"];

        var expected = Outcome.Of(() => new NdjsonRowSource(new ForwardOnlyStream(new MemoryStream(bytes), chunk), "t.ndjson", columns), s => ((NdjsonRowSource)s).Read());
        var actual = await Outcome.OfAsync(() => ValueTask.FromResult<IRowSource>(new NdjsonRowSource(new YieldingStream(new MemoryStream(bytes), chunk), "t.ndjson", columns)));

        actual.ShouldBe(expected);
        (actual.Error is not null).ShouldBe(Failing.Contains(name), actual.Error);
    }

    [Fact]
    public async Task Csv_ReadAsync_AwaitsOnlyWhenItRefillsItsBuffer_NotPerRow()
    {
        var text = "id,name\n" + string.Concat(Enumerable.Range(0, 100_000).Select(i => $"{i},name {i}\n"));
        var stream = new YieldingStream(new MemoryStream(U(text)), 64 * 1024);
        await using var csv = await CsvRowSource.OpenAsync(stream, "t.csv");

        var (rows, waits) = await CountAsync(csv);

        rows.ShouldBe(100_000);
        // About 1.6 MB in 64 KiB reads: a wait per block read, none for the rows in between.
        waits.ShouldBeLessThanOrEqualTo(stream.Reads);
        stream.Reads.ShouldBeLessThan(40);
    }

    [Fact]
    public async Task Ndjson_ReadAsync_AwaitsOnlyWhenItRefillsItsBuffer_NotPerRow()
    {
        var text = string.Concat(Enumerable.Range(0, 50_000).Select(i => $"{{\"id\":{i}}}\n"));
        var stream = new YieldingStream(new MemoryStream(U(text)), 64 * 1024);
        await using var ndjson = new NdjsonRowSource(stream, "t.ndjson", ["id"]);

        var (rows, waits) = await CountAsync(ndjson);

        rows.ShouldBe(50_000);
        waits.ShouldBeLessThanOrEqualTo(stream.Reads);
        stream.Reads.ShouldBeLessThan(20);
    }

    [Fact]
    public async Task Csv_WaitingForAStreamThatSendsNothingMore_EndsWhenCancelled_AndClosesIt()
    {
        // The reader fills its buffer before it parses, so it is waiting for the stream while it opens.
        var stalled = new StalledStream(U("id,name\n1,a\n"));
        using var cancel = new CancellationTokenSource();

        var open = CsvRowSource.OpenAsync(stalled, "t.csv", cancellationToken: cancel.Token).AsTask();
        await stalled.Waiting.Task.WaitAsync(TimeSpan.FromMinutes(1)); // a hang guard, not a timing
        open.IsCompleted.ShouldBeFalse();
        cancel.Cancel();

        await Should.ThrowAsync<OperationCanceledException>(() => open.WaitAsync(TimeSpan.FromMinutes(1)));
        stalled.Disposed.ShouldBeTrue();
    }

    private static async Task<(long Rows, int Waits)> CountAsync(IRowSource source)
    {
        long rows = 0;
        var waits = 0;
        while (true)
        {
            var read = source.ReadAsync(default);
            if (!read.IsCompleted)
            {
                waits++;
            }

            if (!await read)
            {
                return (rows, waits);
            }

            rows++;
        }
    }

    private static byte[] U(string text) => Encoding.UTF8.GetBytes(text);

    /// <summary>Every row with its numbers, and how the read ended (null, or the error's kind and message).</summary>
    private sealed record Outcome(string Rows, string? Error)
    {
        public static Outcome Of(Func<IRowSource> open, Func<IRowSource, bool> read)
        {
            var rows = new StringBuilder();
            try
            {
                using var source = open();
                while (read(source))
                {
                    Append(rows, source);
                }
            }
            catch (IntakeException e)
            {
                return new Outcome(rows.ToString(), $"{e.Kind}: {e.Message}");
            }

            return new Outcome(rows.ToString(), null);
        }

        public static async Task<Outcome> OfAsync(Func<ValueTask<IRowSource>> open)
        {
            var rows = new StringBuilder();
            try
            {
                await using var source = await open();
                while (await source.ReadAsync(default))
                {
                    Append(rows, source);
                }
            }
            catch (IntakeException e)
            {
                return new Outcome(rows.ToString(), $"{e.Kind}: {e.Message}");
            }

            return new Outcome(rows.ToString(), null);
        }

        private static void Append(StringBuilder rows, IRowSource source)
        {
            rows.Append(CultureInfo.InvariantCulture, $"{source.RowNumber}@{source.LineNumber} [{string.Join('|', source.Columns)}]");
            for (var i = 0; i < source.FieldCount; i++)
            {
                rows.Append(' ').Append(source.GetString(i) ?? "<null>");
            }

            rows.Append('\n');
        }
    }

    /// <summary>Reads of at most <c>chunk</c> bytes, each completing later on another thread, as a network stream's do.</summary>
    private sealed class YieldingStream(Stream inner, int chunk) : Stream
    {
        public int Reads { get; private set; }

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            Reads++;
            await Task.Yield();
            return await inner.ReadAsync(buffer[..Math.Min(buffer.Length, chunk)], cancellationToken);
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        // The async path must not fall back on these.
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException("read synchronously");

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

    /// <summary>Gives its bytes, then waits for more that never come, until the read is cancelled.</summary>
    private sealed class StalledStream(byte[] head) : Stream
    {
        private int _at;

        public TaskCompletionSource Waiting { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public bool Disposed { get; private set; }

        protected override void Dispose(bool disposing)
        {
            Disposed = true;
            base.Dispose(disposing);
        }

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (_at < head.Length)
            {
                var n = Math.Min(buffer.Length, head.Length - _at);
                head.AsMemory(_at, n).CopyTo(buffer);
                _at += n;
                return n;
            }

            Waiting.TrySetResult();
            await Task.Delay(Timeout.InfiniteTimeSpan, cancellationToken);
            return 0;
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException("read synchronously");

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
