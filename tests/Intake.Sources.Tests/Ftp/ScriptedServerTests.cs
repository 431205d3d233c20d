using System.Net;
using System.Net.Sockets;
using Intake.Core.Errors;
using Intake.Sources.Ftp;

namespace Intake.Sources.Tests.Ftp;

/// <summary>What vsftpd cannot show (MLSD, refusing REST or EPSV, 421), against <see cref="ScriptedFtpServer"/>; and a refused connection.</summary>
public class ScriptedServerTests
{
    private static readonly DateTimeOffset T = new(2025, 6, 7, 8, 9, 10, 250, TimeSpan.Zero);

    [Fact]
    public async Task List_WithMlsd_TakesExactTimesFromTheFacts_AndSkipsLinks()
    {
        await using var server = new ScriptedFtpServer();
        server.Files["/in/a.csv"] = ("aaa"u8.ToArray(), T);
        server.Files["/in/sub/b.csv"] = ("bb"u8.ToArray(), T);
        server.Links.Add("/in/link.csv");

        var files = await FtpSourceTests.ListAllAsync(new FtpSource(Options(server, "in"), TimeProvider.System));

        files.Select(f => f.Key).ShouldBe(["a.csv", "sub/b.csv"]);
        files[0].Fingerprint.ShouldBe($"size:3;mtime:{T.ToUnixTimeMilliseconds()}"); // milliseconds included
        server.Commands.ShouldContain("MLSD");
        server.Commands.ShouldNotContain(c => c.StartsWith("MDTM", StringComparison.Ordinal) || c.StartsWith("LIST", StringComparison.Ordinal));
    }

    [Fact]
    public async Task List_WithMlsdTurnedOff_UsesListAndMdtm()
    {
        await using var server = new ScriptedFtpServer();
        server.Files["/in/a.csv"] = ("aaa"u8.ToArray(), T);
        server.Links.Add("/in/link.csv");
        var options = Options(server, "/in");
        options.UseMlsd = false;

        var file = (await FtpSourceTests.ListAllAsync(new FtpSource(options, TimeProvider.System))).ShouldHaveSingleItem();

        file.Key.ShouldBe("a.csv");
        file.Modified.ShouldBe(T.AddMilliseconds(-250)); // MDTM here has whole seconds
        server.Commands.ShouldContain("LIST");
        server.Commands.ShouldContain("MDTM /in/a.csv");
        server.Commands.ShouldNotContain("MLSD");
    }

    [Fact]
    public async Task OpenRead_WhenTheServerRefusesRest_StartsAtZeroAndSkipsToTheOffset()
    {
        await using var server = new ScriptedFtpServer { RefuseRest = true };
        var content = TestFtp.RandomBytes(200_000, seed: 10);
        server.Files["/a.bin"] = (content, T);

        await using var stream = await new FtpSource(Options(server, ""), TimeProvider.System).OpenReadAsync("a.bin", 150_000, CancellationToken.None);

        FtpSourceTests.ShouldBeSameBytes(await FtpSourceTests.ReadAllAsync(stream), content[150_000..]);
        server.Commands.ShouldContain("REST 150000");
    }

    [Fact]
    public async Task Download_WhenTheServerRefusesEpsv_UsesPasvToTheControlHostNotTheAnnouncedAddress()
    {
        await using var server = new ScriptedFtpServer { RefuseEpsv = true }; // and PASV announces 0.0.0.0
        var content = TestFtp.RandomBytes(50_000, seed: 11);
        server.Files["/a.bin"] = (content, T);
        var source = new FtpSource(Options(server, "/"), TimeProvider.System);

        await using var stream = await source.OpenResumableReadAsync("a.bin", content.Length, null, CancellationToken.None);

        FtpSourceTests.ShouldBeSameBytes(await FtpSourceTests.ReadAllAsync(stream), content);
        server.Commands.ShouldContain("PASV");
    }

    [Fact]
    public async Task Connect_WhenTheServerTurnsConnectionsAway_IsTransient()
    {
        await using var server = new ScriptedFtpServer { Greeting = "421 Too many connections, try later" };

        var e = await Should.ThrowAsync<IntakeException>(() => FtpClient.ConnectAsync(Options(server, ""), TimeProvider.System, CancellationToken.None));

        e.Kind.ShouldBe(ErrorKind.Transient);
        e.Message.ShouldContain("Too many connections");
    }

    [Fact]
    public async Task Connect_WhenRefused_IsTransientSayingSo()
    {
        var options = new FtpSourceOptions { Host = "127.0.0.1", Port = UnusedPort(), User = "u", Password = "p" };

        var e = await Should.ThrowAsync<IntakeException>(() => FtpSourceTests.ListAllAsync(new FtpSource(options, TimeProvider.System)));

        e.Kind.ShouldBe(ErrorKind.Transient);
        e.Message.ShouldContain("connection refused");
    }

    [Fact]
    public void Options_WithoutHostOrWithBadThumbprint_AreConfig()
    {
        Should.Throw<IntakeException>(() => new FtpSource(new FtpSourceOptions(), TimeProvider.System)).Kind.ShouldBe(ErrorKind.Config);
        Should.Throw<IntakeException>(() => new FtpSource(new FtpSourceOptions { Host = "h", CertificateThumbprint = "abc" }, TimeProvider.System))
            .Kind.ShouldBe(ErrorKind.Config);
    }

    private static FtpSourceOptions Options(ScriptedFtpServer server, string remoteDirectory) => new()
    {
        Host = "127.0.0.1",
        Port = server.Port,
        User = "u",
        Password = server.Password,
        RemoteDirectory = remoteDirectory,
        StableFor = TimeSpan.Zero,
        ConnectTimeout = TimeSpan.FromSeconds(5),
        ReadTimeout = TimeSpan.FromSeconds(10),
    };

    private static int UnusedPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port; // closed again on dispose: nothing listens there
    }
}
