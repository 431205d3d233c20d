using Intake.Sources.Ftp;
using Intake.Sources.Tests.Support;
using Intake.Tests.Shared;

namespace Intake.Sources.Tests.Ftp;

/// <summary>The file-source compliance suite on the test vsftpd; dropped downloads through <see cref="FtpProxy"/>.</summary>
[RequiresServer(typeof(FtpFactAttribute))]
public sealed class FtpSourceComplianceTests : FileSourceComplianceTests
{
    private TestFolder _folder = null!;

    protected override bool ResumesDroppedReads => true;

    protected override Task SetUpAsync()
    {
        _folder = TestFtp.NewFolder();
        return Task.CompletedTask;
    }

    protected override Task TearDownAsync()
    {
        _folder.Dispose();
        return Task.CompletedTask;
    }

    protected override Task WriteAsync(string key, byte[] content, DateTimeOffset modified)
    {
        _folder.Write(key, content, modified);
        return Task.CompletedTask;
    }

    protected override Task DeleteAsync(string key)
    {
        File.Delete(Path.Combine(_folder.LocalPath, key));
        return Task.CompletedTask;
    }

    protected override IFileSource CreateSource(IList<string>? include = null, IList<string>? exclude = null, TimeSpan? stableFor = null) =>
        new FtpSource(Options(include, exclude, stableFor), Clock);

    protected override Task<DroppingSource?> CreateSourceDroppingAfterAsync(long bytes)
    {
        var proxy = Own(new FtpProxy(TestFtp.Host, TestFtp.Port) { CutDataAfterBytes = bytes, CutsLeft = 1, CutWithReset = true });
        var options = Options();
        options.Host = "127.0.0.1";
        options.Port = proxy.Port;
        return Task.FromResult<DroppingSource?>(new DroppingSource(new FtpSource(options, Clock), () => proxy.Cuts == 1));
    }

    private FtpSourceOptions Options(IList<string>? include = null, IList<string>? exclude = null, TimeSpan? stableFor = null)
    {
        var options = TestFtp.Options(_folder.RemotePath);
        options.Include = include ?? options.Include;
        options.Exclude = exclude ?? options.Exclude;
        options.StableFor = stableFor ?? options.StableFor;
        return options;
    }
}
