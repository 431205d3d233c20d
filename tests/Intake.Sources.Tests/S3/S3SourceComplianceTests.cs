using Intake.Sources.S3;
using Intake.Sources.Tests.Support;
using Intake.Tests.Shared;

namespace Intake.Sources.Tests.S3;

/// <summary>
/// The file-source compliance suite on the S3 test server, under a prefix of a bucket of its own; a dropped
/// download is a response body that breaks off, as a reset connection ends it.
/// </summary>
[RequiresServer(typeof(S3FactAttribute))]
public sealed class S3SourceComplianceTests : FileSourceComplianceTests
{
    protected override bool Removes => true;

    private const string Prefix = "outgoing/daily";
    private string _bucket = null!;

    /// <summary>S3 shows an object only once its upload has finished.</summary>
    protected override bool AppearsWhole => true;

    protected override bool ListsInKeyOrder => false;

    protected override async Task SetUpAsync() => _bucket = await TestS3.Http.CreateBucketAsync();

    // The modification time is the server's: S3 keeps no time of the producer's.
    protected override Task WriteAsync(string key, byte[] content, DateTimeOffset modified) => TestS3.Http.PutAsync(_bucket, $"{Prefix}/{key}", content);

    protected override async Task DeleteAsync(string key)
    {
        using var client = TestS3.Http.Client();
        await client.DeleteObjectAsync(_bucket, $"{Prefix}/{key}");
    }

    protected override IFileSource CreateSource(IList<string>? include = null, IList<string>? exclude = null, TimeSpan? stableFor = null) =>
        Own(new S3Source(Options(include, exclude)));

    protected override Task<DroppingSource?> CreateSourceDroppingAfterAsync(long bytes)
    {
        DroppingHandler? handler = null;
        var source = Own(new S3Source(Options(), inner => handler = new DroppingHandler(inner, bytes)));
        return Task.FromResult<DroppingSource?>(new DroppingSource(source, () => handler?.Dropped == true));
    }

    private S3SourceOptions Options(IList<string>? include = null, IList<string>? exclude = null) => TestS3.Http.SourceOptions(_bucket, o =>
    {
        o.Prefix = Prefix;
        o.Include = include ?? o.Include;
        o.Exclude = exclude ?? o.Exclude;
    });

    /// <summary>Breaks off the body of the first object download after <c>bytes</c> bytes.</summary>
    private sealed class DroppingHandler(HttpMessageHandler inner, long bytes) : DelegatingHandler(inner)
    {
        private int _dropped;

        public bool Dropped => Volatile.Read(ref _dropped) == 1 && _body?.BrokeOff == true;

        private BreaksOff? _body;

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var response = await base.SendAsync(request, cancellationToken);
            var isDownload = request.Method == HttpMethod.Get && !(request.RequestUri?.Query.Contains("list-type", StringComparison.Ordinal) ?? false);
            if (!isDownload || !response.IsSuccessStatusCode || Interlocked.Exchange(ref _dropped, 1) == 1)
            {
                return response;
            }

            _body = new BreaksOff(await response.Content.ReadAsStreamAsync(cancellationToken), bytes);
            var body = new StreamContent(_body);
            foreach (var (name, values) in response.Content.Headers)
            {
                body.Headers.TryAddWithoutValidation(name, values);
            }

            response.Content = body;
            return response;
        }
    }

    private sealed class BreaksOff(Stream inner, long bytes) : Stream
    {
        private long _read;

        public bool BrokeOff { get; private set; }

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => _read; set => throw new NotSupportedException(); }

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (_read >= bytes)
            {
                BrokeOff = true;
                throw new IOException("the test cut the connection");
            }

            var n = await inner.ReadAsync(buffer[..(int)Math.Min(buffer.Length, bytes - _read)], cancellationToken);
            _read += n;
            return n;
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer, offset, count).GetAwaiter().GetResult();

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                inner.Dispose();
            }

            base.Dispose(disposing);
        }
    }
}
