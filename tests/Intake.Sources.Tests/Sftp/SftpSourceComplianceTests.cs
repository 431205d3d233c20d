using Intake.Sources.Sftp;
using Intake.Sources.Tests.Support;
using Intake.Tests.Shared;

namespace Intake.Sources.Tests.Sftp;

/// <summary>
/// The file-source compliance suite on the test OpenSSH server, in a folder of its own under the served home; a
/// dropped download is its connection reset mid-stream by a TCP relay, as a network failure ends it.
/// </summary>
[RequiresServer(typeof(SftpFactAttribute))]
public sealed class SftpSourceComplianceTests : FileSourceComplianceTests
{
    private readonly string _scratch = Directory.CreateTempSubdirectory("intake-sftp-compliance-").FullName;
    private string _folder = null!;
    private TcpProxy? _proxy;

    protected override bool ResumesDroppedReads => true;

    protected override bool Removes => true;

    protected override Task SetUpAsync()
    {
        _folder = Path.Combine(TestSftp.Server.Home, "t-" + Guid.NewGuid().ToString("N")[..12]);
        OpenToTheServerUser(Directory.CreateDirectory(_folder).FullName);
        File.WriteAllText(Path.Combine(_scratch, "known_hosts"), TestSftp.Server.KnownHostsLine() + "\n");
        return Task.CompletedTask;
    }

    protected override async Task TearDownAsync()
    {
        if (_proxy is not null)
        {
            await _proxy.DisposeAsync();
        }

        Directory.Delete(_folder, recursive: true);
        Directory.Delete(_scratch, recursive: true);
    }

    protected override Task WriteAsync(string key, byte[] content, DateTimeOffset modified)
    {
        var path = Path.Combine(_folder, key);
        for (var folder = Path.GetDirectoryName(path)!; folder.Length > _folder.Length; folder = Path.GetDirectoryName(folder)!)
        {
            OpenToTheServerUser(Directory.CreateDirectory(folder).FullName);
        }

        File.WriteAllBytes(path, content);
        File.SetLastWriteTimeUtc(path, modified.UtcDateTime);
        return Task.CompletedTask;
    }

    protected override Task DeleteAsync(string key)
    {
        File.Delete(Path.Combine(_folder, key));
        return Task.CompletedTask;
    }

    protected override IFileSource CreateSource(IList<string>? include = null, IList<string>? exclude = null, TimeSpan? stableFor = null) =>
        CreateSource(TestSftp.Server.Port, include, exclude, stableFor);

    private SftpSource CreateSource(int port, IList<string>? include = null, IList<string>? exclude = null, TimeSpan? stableFor = null)
    {
        var server = TestSftp.Server;
        var options = new SftpSourceOptions
        {
            Host = server.Host,
            Port = port,
            User = server.User,
            PrivateKeyFile = server.PrivateKey,
            KnownHostsFile = port == server.Port ? Path.Combine(_scratch, "known_hosts") : null,
            HostKeyFingerprint = port == server.Port ? null : server.HostKeyFingerprint(), // the relay's port is in no known_hosts
            RemoteDirectory = _folder, // absolute: works whatever the login folder is
            ConnectTimeout = TimeSpan.FromSeconds(10),
        };
        options.Include = include ?? options.Include;
        options.Exclude = exclude ?? options.Exclude;
        options.StableFor = stableFor ?? options.StableFor;
        return new SftpSource(options, Clock);
    }

    /// <summary>The tests write as themselves; the server's user deletes (remove_after), so it needs write access to the folders.</summary>
    private static void OpenToTheServerUser(string folder)
    {
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(folder, (UnixFileMode)0b111_111_111);
        }
    }

    protected override Task<DroppingSource?> CreateSourceDroppingAfterAsync(long bytes)
    {
        _proxy = new TcpProxy(TestSftp.Server.Host, TestSftp.Server.Port);
        var source = new CuttingSource(CreateSource(_proxy.Port), _proxy, bytes);
        return Task.FromResult<DroppingSource?>(new DroppingSource(source, () => _proxy.Cuts > 0));
    }

    /// <summary>Resets the relayed connections once its first download has delivered <c>bytes</c>.</summary>
    private sealed class CuttingSource(IFileSource inner, TcpProxy proxy, long bytes) : IFileSource
    {
        private int _dropped;

        public IAsyncEnumerable<SourceFile> ListAsync(CancellationToken cancellationToken) => inner.ListAsync(cancellationToken);

        public async Task<Stream> OpenReadAsync(string key, CancellationToken cancellationToken)
        {
            var stream = await inner.OpenReadAsync(key, cancellationToken);
            return Interlocked.Exchange(ref _dropped, 1) == 0 ? new CutAfter(stream, proxy, bytes) : stream;
        }

        public string Describe(string key) => inner.Describe(key);
    }

    private sealed class CutAfter(Stream inner, TcpProxy proxy, long bytes) : Stream
    {
        private long _read;
        private bool _cut;

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => inner.Length;
        public override long Position { get => _read; set => throw new NotSupportedException(); }

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            var n = await inner.ReadAsync(buffer, cancellationToken);
            _read += n;
            if (!_cut && _read >= bytes)
            {
                _cut = true;
                proxy.CutAll();
            }

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

        public override async ValueTask DisposeAsync()
        {
            await inner.DisposeAsync();
            await base.DisposeAsync();
        }
    }
}
