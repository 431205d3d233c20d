using System.Diagnostics;
using Intake.Sources.Sftp;
using Intake.Sources.Tests.Support;
using Intake.Tests.Shared;

namespace Intake.Sources.Tests.Sftp;

/// <summary>
/// The file-source compliance suite on the test OpenSSH server, in a folder of its own under the served home; a
/// dropped download is the ssh process killed mid-stream, as a network failure ends it.
/// </summary>
[RequiresServer(typeof(SftpFactAttribute))]
public sealed class SftpSourceComplianceTests : FileSourceComplianceTests
{
    private readonly string _scratch = Directory.CreateTempSubdirectory("intake-sftp-compliance-").FullName;
    private string _folder = null!;

    protected override bool ResumesDroppedReads => true;

    protected override Task SetUpAsync()
    {
        _folder = Path.Combine(TestSftp.Server.Home, "t-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(_folder);
        File.WriteAllText(Path.Combine(_scratch, "known_hosts"), TestSftp.Server.KnownHostsLine() + "\n");
        return Task.CompletedTask;
    }

    protected override Task TearDownAsync()
    {
        Directory.Delete(_folder, recursive: true);
        Directory.Delete(_scratch, recursive: true);
        return Task.CompletedTask;
    }

    protected override Task WriteAsync(string key, byte[] content, DateTimeOffset modified)
    {
        var path = Path.Combine(_folder, key);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllBytes(path, content);
        File.SetLastWriteTimeUtc(path, modified.UtcDateTime);
        return Task.CompletedTask;
    }

    protected override Task DeleteAsync(string key)
    {
        File.Delete(Path.Combine(_folder, key));
        return Task.CompletedTask;
    }

    protected override IFileSource CreateSource(IList<string>? include = null, IList<string>? exclude = null, TimeSpan? stableFor = null)
    {
        var server = TestSftp.Server;
        var options = new SftpSourceOptions
        {
            Host = server.Host,
            Port = server.Port,
            User = server.User,
            PrivateKeyFile = server.PrivateKey,
            KnownHostsFile = Path.Combine(_scratch, "known_hosts"),
            RemoteDirectory = _folder, // absolute: works whatever the login folder is
            ConnectTimeout = TimeSpan.FromSeconds(10),
        };
        options.Include = include ?? options.Include;
        options.Exclude = exclude ?? options.Exclude;
        options.StableFor = stableFor ?? options.StableFor;
        return new SftpSource(options, Clock);
    }

    protected override Task<DroppingSource?> CreateSourceDroppingAfterAsync(long bytes)
    {
        var source = new KillingSource(CreateSource(), bytes);
        return Task.FromResult<DroppingSource?>(new DroppingSource(source, () => source.Killed?.Killed == true));
    }

    /// <summary>Kills the ssh process of its first download once <c>bytes</c> have been read from it.</summary>
    private sealed class KillingSource(IFileSource inner, long bytes) : IFileSource
    {
        private int _dropped;

        public KillAfter? Killed { get; private set; }

        public IAsyncEnumerable<SourceFile> ListAsync(CancellationToken cancellationToken) => inner.ListAsync(cancellationToken);

        public async Task<Stream> OpenReadAsync(string key, CancellationToken cancellationToken)
        {
            var stream = (SftpReadStream)await inner.OpenReadAsync(key, cancellationToken);
            return Interlocked.Exchange(ref _dropped, 1) == 0 ? Killed = new KillAfter(stream, bytes) : stream;
        }

        public string Describe(string key) => inner.Describe(key);
    }

    private sealed class KillAfter(SftpReadStream inner, long bytes) : Stream
    {
        private long _read;

        public bool Killed { get; private set; }

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => inner.Length;
        public override long Position { get => _read; set => throw new NotSupportedException(); }

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            var n = await inner.ReadAsync(buffer, cancellationToken);
            _read += n;
            if (!Killed && _read >= bytes)
            {
                Killed = true;
                using var ssh = Process.GetProcessById(inner.ProcessId);
                ssh.Kill();
                await ssh.WaitForExitAsync(cancellationToken);
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
