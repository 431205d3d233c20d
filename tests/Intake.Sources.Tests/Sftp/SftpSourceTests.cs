using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using Intake.Core.Errors;
using Intake.Sources.Sftp;
using Intake.Tests.Shared;

namespace Intake.Sources.Tests.Sftp;

/// <summary>
/// The SFTP source against a real OpenSSH server (internal-sftp, a nologin account; keys of every type, a key with a
/// passphrase, a password, and a port that accepts only keyboard-interactive). Each test works in a folder of its own
/// under the served home; files are written there directly and their modification times set relative to the test
/// clock. A dropped connection is a TCP relay in front of the server resetting it, as a network failure does.
/// </summary>
public sealed class SftpSourceTests : IDisposable
{
    private static readonly TimeSpan StableFor = TimeSpan.FromSeconds(60);

    private readonly ManualTimeProvider _clock = new();
    private readonly string _name = "t-" + Guid.NewGuid().ToString("N")[..12];
    private readonly string _scratch = Directory.CreateTempSubdirectory("intake-sftp-test-").FullName;
    private string? _folder;

    public void Dispose()
    {
        if (_folder is not null && Directory.Exists(_folder))
        {
            Directory.Delete(_folder, recursive: true);
        }

        Directory.Delete(_scratch, recursive: true);
    }

    /// <summary>The test's folder on the server, as a local path.</summary>
    private string Folder
    {
        get
        {
            if (_folder is null)
            {
                _folder = Path.Combine(TestSftp.Server.Home, _name);
                Directory.CreateDirectory(_folder);
            }

            return _folder;
        }
    }

    private string KnownHosts(string? line = null)
    {
        var path = Path.Combine(_scratch, "known_hosts");
        File.WriteAllText(path, (line ?? TestSftp.Server.KnownHostsLine()) + "\n");
        return path;
    }

    private SftpSourceOptions Options(Action<SftpSourceOptions>? configure = null)
    {
        var server = TestSftp.Server;
        var options = new SftpSourceOptions
        {
            Host = server.Host,
            Port = server.Port,
            User = server.User,
            PrivateKeyFile = server.PrivateKey,
            KnownHostsFile = KnownHosts(),
            RemoteDirectory = Folder, // absolute: works whatever the login folder is
            StableFor = StableFor,
            ConnectTimeout = TimeSpan.FromSeconds(10),
        };
        configure?.Invoke(options);
        return options;
    }

    private SftpSource Source(Action<SftpSourceOptions>? configure = null) => new(Options(configure), _clock);

    /// <summary>Connects through the relay, trusting the server by its pinned fingerprint (the relay's port is in no known_hosts).</summary>
    private static Action<SftpSourceOptions> Through(TcpProxy proxy) => o =>
    {
        o.Port = proxy.Port;
        o.KnownHostsFile = null;
        o.HostKeyFingerprint = TestSftp.Server.HostKeyFingerprint();
    };

    /// <summary>Logs in by password only (no key), on the given port of the test server.</summary>
    private Action<SftpSourceOptions> ByPassword(string password, int? port = null) => o =>
    {
        o.PrivateKeyFile = "";
        o.Password = password;
        if (port is { } p)
        {
            o.Port = p;
            o.KnownHostsFile = KnownHosts($"[{TestSftp.Server.Host}]:{p} {string.Join(' ', File.ReadAllText(TestSftp.Server.HostPublicKey).Split(' ')[..2])}");
        }
    };

    /// <summary>Writes a file on the server whose last write was <paramref name="age"/> before the test clock's now.</summary>
    private string Write(string key, byte[] content, TimeSpan? age = null)
    {
        var path = Path.Combine(Folder, key);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllBytes(path, content);
        File.SetLastWriteTimeUtc(path, (_clock.GetUtcNow() - (age ?? TimeSpan.FromMinutes(5))).UtcDateTime);
        return path;
    }

    private string Write(string key, string content, TimeSpan? age = null) => Write(key, System.Text.Encoding.UTF8.GetBytes(content), age);

    private static async Task<List<SourceFile>> ListAsync(IFileSource source)
    {
        var files = new List<SourceFile>();
        await foreach (var file in source.ListAsync(CancellationToken.None))
        {
            files.Add(file);
        }

        return files;
    }

    private static async Task<byte[]> ReadAllAsync(Stream stream)
    {
        using var copy = new MemoryStream();
        await stream.CopyToAsync(copy);
        return copy.ToArray();
    }

    private static byte[] RandomBytes(int length)
    {
        var bytes = new byte[length];
        new Random(length).NextBytes(bytes);
        return bytes;
    }

    private string GenerateKey(string name)
    {
        var path = Path.Combine(_scratch, name);
        var start = new ProcessStartInfo("ssh-keygen") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in new[] { "-q", "-t", "ed25519", "-N", "", "-C", "other", "-f", path })
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start)!;
        process.WaitForExit();
        process.ExitCode.ShouldBe(0, process.StandardError.ReadToEnd());
        return path;
    }

    private static async Task<IntakeException> FailureAsync(SftpSource source) =>
        await Should.ThrowAsync<IntakeException>(async () => await ListAsync(source));

    [SftpFact]
    public async Task List_NestedFoldersWithGlobs_OffersMatchingFilesInKeyOrderWithExactSizeTimeAndFingerprint()
    {
        Write("z.csv", "last");
        Write("a.csv", "a,b\n1,2\n", TimeSpan.FromMinutes(7));
        Write("sub/deep/c.csv", "c");
        Write("sub/b.csv", "bb");
        Write("sub/notes.txt", "not data");
        Write("archive/old.csv", "old");
        Write(".hidden.csv", "dot file");
        Write("sub/upload.csv.part", "still uploading");

        var files = await ListAsync(Source(o =>
        {
            o.Include = ["**/*.csv"];
            o.Exclude = ["archive/**"];
        }));

        files.Select(f => f.Key).ShouldBe(["a.csv", "sub/b.csv", "sub/deep/c.csv", "z.csv"]);
        var a = files[0];
        a.Size.ShouldBe(8);
        a.Modified.ShouldBe(_clock.GetUtcNow() - TimeSpan.FromMinutes(7));
        a.Fingerprint.ShouldBe($"size:8;mtime:{a.Modified.ToUnixTimeMilliseconds()}");
    }

    [SftpFact]
    public async Task List_FileWrittenRecently_IsOfferedOnlyOnceQuietForStableFor()
    {
        Write("new.csv", "x", TimeSpan.FromSeconds(10));
        var source = Source();

        (await ListAsync(source)).ShouldBeEmpty();

        _clock.Advance(TimeSpan.FromMinutes(1));
        (await ListAsync(source)).Select(f => f.Key).ShouldBe(["new.csv"]);
    }

    [SftpFact]
    public async Task ListAndRead_NamesWithSpacesQuotesAndNonAscii_RoundTrip()
    {
        const string odd = "my file 'x' \"y\" $HOME;`z`.csv";
        Write(odd, "quoted");
        Write("folder with space/grüße ünïcödé.csv", "unicode");
        var source = Source();

        var keys = (await ListAsync(source)).Select(f => f.Key).ToList();

        keys.ShouldBe(["folder with space/grüße ünïcödé.csv", odd]);
        await using (var stream = await source.OpenReadAsync(odd, CancellationToken.None))
        {
            System.Text.Encoding.UTF8.GetString(await ReadAllAsync(stream)).ShouldBe("quoted");
        }

        await using (var stream = await source.OpenReadAsync(keys[0], CancellationToken.None))
        {
            System.Text.Encoding.UTF8.GetString(await ReadAllAsync(stream)).ShouldBe("unicode");
        }
    }

    [SftpFact]
    public async Task List_SymbolicLink_IsNotOfferedAndCannotBeOpened()
    {
        // The link's own time is the machine's now: move the test clock past it, so only its being a link can keep it out.
        _clock.Set(new DateTimeOffset(2099, 1, 1, 0, 0, 0, TimeSpan.Zero));
        var target = Write("real.csv", "data");
        File.CreateSymbolicLink(Path.Combine(Folder, "link.csv"), target);
        var source = Source();

        (await ListAsync(source)).Select(f => f.Key).ShouldBe(["real.csv"]);
        var ex = await Should.ThrowAsync<IntakeException>(() => source.OpenReadAsync("link.csv", CancellationToken.None));
        ex.Kind.ShouldBe(ErrorKind.Security);
    }

    [SftpFact]
    public async Task List_MissingRemoteDirectory_ThrowsConfigNamingIt()
    {
        var source = Source(o => o.RemoteDirectory = Folder + "/missing");

        var ex = await FailureAsync(source);

        ex.Kind.ShouldBe(ErrorKind.Config);
        ex.Message.ShouldContain("missing");
    }

    [SftpFact]
    public async Task OpenRead_FileOfSeveralMegabytes_StreamsItByteExact()
    {
        var content = RandomBytes((3 * 1024 * 1024) + 12345); // not a multiple of the read size
        Write("big.bin", content);
        var source = Source();

        await using var stream = await source.OpenReadAsync("big.bin", CancellationToken.None);
        var read = await ReadAllAsync(stream);

        read.Length.ShouldBe(content.Length);
        SHA256.HashData(read).ShouldBe(SHA256.HashData(content));
    }

    [SftpFact]
    public async Task OpenRead_ServerAnsweringWithLessThanAsked_StillStreamsByteExact()
    {
        var content = RandomBytes((3 * 1024 * 1024) + 777);
        Write("short-reads.bin", content);
        var source = Source();
        source.ReadChunkSize = 1024 * 1024; // more than OpenSSH returns per read (255 KiB): every reply is short

        await using var stream = await source.OpenReadAsync("short-reads.bin", CancellationToken.None);
        var read = await ReadAllAsync(stream);

        ((SftpReadStream)stream).Resumes.ShouldBe(0);
        SHA256.HashData(read).ShouldBe(SHA256.HashData(content));
    }

    [SftpFact]
    public async Task OpenRead_EmptyFile_ReturnsNoBytes()
    {
        Write("empty.csv", []);

        await using var stream = await Source().OpenReadAsync("empty.csv", CancellationToken.None);

        (await ReadAllAsync(stream)).ShouldBeEmpty();
    }

    [SftpFact]
    public async Task OpenRead_MissingFileOrFolder_ThrowsFileNotFound()
    {
        Write("sub/present.csv", "x");
        var source = Source();

        var missing = await Should.ThrowAsync<FileNotFoundException>(() => source.OpenReadAsync("gone.csv", CancellationToken.None));
        missing.Message.ShouldContain("gone.csv");
        await Should.ThrowAsync<FileNotFoundException>(() => source.OpenReadAsync("sub", CancellationToken.None));
    }

    [SftpFact]
    public async Task OpenRead_ConnectionDroppedMidDownload_ResumesWhereItStoppedByteExact()
    {
        var content = RandomBytes(4 * 1024 * 1024);
        Write("resume.bin", content);
        await using var proxy = new TcpProxy(TestSftp.Server.Host, TestSftp.Server.Port);
        var source = Source(Through(proxy));
        await using var stream = await source.OpenReadAsync("resume.bin", CancellationToken.None);
        var received = new MemoryStream();
        var buffer = new byte[64 * 1024];
        while (received.Length < 1024 * 1024)
        {
            var n = await stream.ReadAsync(buffer);
            n.ShouldBeGreaterThan(0);
            received.Write(buffer, 0, n);
        }

        // Cut the connection the way a network failure does: reset, with reads in flight.
        proxy.CutAll();
        await stream.CopyToAsync(received);

        proxy.Cuts.ShouldBe(1);
        ((SftpReadStream)stream).Resumes.ShouldBe(1);
        received.Length.ShouldBe(content.Length);
        SHA256.HashData(received.ToArray()).ShouldBe(SHA256.HashData(content));
    }

    [SftpFact]
    public async Task OpenRead_FileChangedWhileConnectionWasDown_FailsAsIntegrityInsteadOfSplicing()
    {
        var path = Write("changing.bin", RandomBytes(2 * 1024 * 1024));
        await using var proxy = new TcpProxy(TestSftp.Server.Host, TestSftp.Server.Port);
        var source = Source(Through(proxy));
        await using var stream = await source.OpenReadAsync("changing.bin", CancellationToken.None);
        var buffer = new byte[64 * 1024];
        (await stream.ReadAsync(buffer)).ShouldBeGreaterThan(0);

        File.WriteAllBytes(path, RandomBytes(3 * 1024 * 1024));
        proxy.CutAll();

        var ex = await Should.ThrowAsync<IntakeException>(() => stream.CopyToAsync(Stream.Null));
        ex.Kind.ShouldBe(ErrorKind.Integrity);
    }

    [SftpFact]
    public async Task OpenRead_ServerGoneForGood_FailsAsTransientAfterTheResumeAttempts_NeverEndingShort()
    {
        Write("gone.bin", RandomBytes(2 * 1024 * 1024));
        var proxy = new TcpProxy(TestSftp.Server.Host, TestSftp.Server.Port);
        var source = Source(o =>
        {
            Through(proxy)(o);
            o.MaxResumeAttempts = 1;
        });
        await using var stream = await source.OpenReadAsync("gone.bin", CancellationToken.None);
        (await stream.ReadAsync(new byte[64 * 1024])).ShouldBeGreaterThan(0);

        await proxy.DisposeAsync(); // the relay stops listening: reconnecting is refused

        var ex = await Should.ThrowAsync<IntakeException>(() => stream.CopyToAsync(Stream.Null));
        ex.Kind.ShouldBe(ErrorKind.Transient);
        ex.Message.ShouldContain("could not be resumed");
    }

    [SftpFact]
    public async Task Connect_KeyTheServerDoesNotAccept_FailsAsConfig()
    {
        var source = Source(o => o.PrivateKeyFile = GenerateKey("stranger"));

        var ex = await FailureAsync(source);

        ex.Kind.ShouldBe(ErrorKind.Config);
        ex.Message.ShouldContain("Permission denied");
    }

    [SftpFact]
    public async Task Connect_HostNotInKnownHosts_FailsAsSecurity()
    {
        var source = Source(o => o.KnownHostsFile = KnownHosts("# nothing trusted yet"));

        var ex = await FailureAsync(source);

        ex.Kind.ShouldBe(ErrorKind.Security);
    }

    [SftpFact]
    public async Task Connect_HostKeyDifferentFromKnownHosts_FailsAsSecurity()
    {
        var other = File.ReadAllText(GenerateKey("impostor") + ".pub").Split(' ');
        var server = TestSftp.Server;
        var source = Source(o => o.KnownHostsFile = KnownHosts($"[{server.Host}]:{server.Port} {other[0]} {other[1]}"));

        var ex = await FailureAsync(source);

        ex.Kind.ShouldBe(ErrorKind.Security);
        ex.Message.ShouldContain("host key");
    }

    [SftpFact]
    public async Task Connect_ByMatchingFingerprint_ListsWithoutAKnownHostsFile()
    {
        Write("a.csv", "a");
        var blob = Convert.FromBase64String(File.ReadAllText(TestSftp.Server.HostPublicKey).Split(' ')[1]);
        var fingerprint = "SHA256:" + Convert.ToBase64String(SHA256.HashData(blob)).TrimEnd('=');

        var files = await ListAsync(Source(o =>
        {
            o.KnownHostsFile = null;
            o.HostKeyFingerprint = fingerprint;
        }));

        files.Select(f => f.Key).ShouldBe(["a.csv"]);
    }

    [SftpFact]
    public async Task Connect_ByOtherFingerprint_FailsAsSecurityNamingHostExpectedAndPresentedFingerprints()
    {
        Write("a.csv", "a");
        var blob = Convert.FromBase64String(File.ReadAllText(GenerateKey("impostor") + ".pub").Split(' ')[1]);
        var pinned = "SHA256:" + Convert.ToBase64String(SHA256.HashData(blob)).TrimEnd('=');
        var source = Source(o =>
        {
            o.KnownHostsFile = null;
            o.HostKeyFingerprint = pinned;
            o.PrivateKeyFile = "";
            o.Password = "never sent to a server that is not the pinned one";
        });

        var ex = await FailureAsync(source);

        ex.Kind.ShouldBe(ErrorKind.Security);
        ex.Message.ShouldContain($"{TestSftp.Server.User}@{TestSftp.Server.Host}:{TestSftp.Server.Port}");
        ex.Message.ShouldContain("expected " + pinned);
        ex.Message.ShouldContain(TestSftp.Server.HostKeyFingerprint());
        ex.Message.ShouldNotContain("never sent");
        await Should.ThrowAsync<IntakeException>(() => source.OpenReadAsync("a.csv", CancellationToken.None));
    }

    [SftpFact]
    public async Task Connect_KeyAndKnownHostsPathsWithSpacesPercentAndQuotes_AreUsedAsGiven()
    {
        Write("a.csv", "a");
        var odd = Directory.CreateDirectory(Path.Combine(_scratch, "keys 100% \"mine\" 'here'")).FullName;
        var key = Path.Combine(odd, "id %d %h");
        File.Copy(TestSftp.Server.PrivateKey, key);
        var knownHosts = Path.Combine(odd, "known hosts %u");
        File.Copy(KnownHosts(), knownHosts);

        var files = await ListAsync(Source(o =>
        {
            o.PrivateKeyFile = key;
            o.KnownHostsFile = knownHosts;
        }));

        files.Select(f => f.Key).ShouldBe(["a.csv"]);
    }

    [SftpFact]
    public async Task Connect_AcceptNewHostKeyOptedIn_RecordsTheKeyInTheDedicatedFile()
    {
        Write("a.csv", "a");
        var file = Path.Combine(_scratch, "trusted", "known_hosts");

        var files = await ListAsync(Source(o =>
        {
            o.KnownHostsFile = file;
            o.AcceptNewHostKey = true;
        }));

        files.Count.ShouldBe(1);
        var recorded = File.ReadAllText(file);
        recorded.ShouldContain(File.ReadAllText(TestSftp.Server.HostPublicKey).Split(' ')[1]);
    }

    [SftpFact]
    public async Task Connect_NothingListeningOnThePort_FailsAsTransientSayingSo()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop(); // nothing listens there any more: the connection is refused

        var ex = await FailureAsync(Source(o => o.Port = port));

        ex.Kind.ShouldBe(ErrorKind.Transient);
        ex.Message.ShouldContain("Connection refused");
    }

    [Fact]
    public async Task Connect_KeyFileMissing_FailsAsConfigNamingKeyFileBeforeConnecting()
    {
        var knownHosts = Path.Combine(_scratch, "known_hosts");
        File.WriteAllText(knownHosts, "");
        var source = new SftpSource(new SftpSourceOptions
        {
            Host = "127.0.0.1",
            Port = 1, // nothing listens there: only a check before connecting can name the key
            User = "u",
            PrivateKeyFile = Path.Combine(_scratch, "no-such-key"),
            KnownHostsFile = knownHosts,
        }, _clock);

        var ex = await FailureAsync(source);

        ex.Kind.ShouldBe(ErrorKind.Config);
        ex.Message.ShouldContain("key_file");
        ex.Message.ShouldContain("no-such-key");
    }

    [Fact]
    public void Create_WithNeitherKeyNorPassword_IsRejectedAsConfigNamingBoth()
    {
        var ex = Should.Throw<IntakeException>(() => new SftpSource(new SftpSourceOptions
        {
            Host = "example.org",
            User = "u",
            KnownHostsFile = "known_hosts",
        }, _clock));

        ex.Kind.ShouldBe(ErrorKind.Config);
        ex.Message.ShouldContain("'key_file' or 'password'");
    }

    [Theory]
    [InlineData(null, null)]
    [InlineData("known_hosts", "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU")]
    public void Create_WithoutExactlyOneWayToVerifyTheServer_IsRejectedAsConfig(string? knownHosts, string? fingerprint)
    {
        var ex = Should.Throw<IntakeException>(() => new SftpSource(new SftpSourceOptions
        {
            Host = "example.org",
            User = "u",
            PrivateKeyFile = "key",
            KnownHostsFile = knownHosts,
            HostKeyFingerprint = fingerprint,
        }, _clock));

        ex.Kind.ShouldBe(ErrorKind.Config);
    }

    [Theory]
    [InlineData("-oProxyCommand=x")]
    [InlineData("user@host")]
    [InlineData("two words")]
    public void Create_HostThatCouldBeReadAsAnOption_IsRejectedAsConfig(string host)
    {
        var ex = Should.Throw<IntakeException>(() => new SftpSource(new SftpSourceOptions
        {
            Host = host,
            User = "u",
            PrivateKeyFile = "key",
            KnownHostsFile = "known_hosts",
        }, _clock));

        ex.Kind.ShouldBe(ErrorKind.Config);
    }

    [Fact]
    public void Create_FingerprintNotInOpenSshForm_IsRejectedAsConfig()
    {
        var ex = Should.Throw<IntakeException>(() => new SftpSource(new SftpSourceOptions
        {
            Host = "example.org",
            User = "u",
            PrivateKeyFile = "key",
            HostKeyFingerprint = "MD5:16:27:ac:a5:76:28:2d:36:63:1b:56:4d:eb:df:a6:48",
        }, _clock));

        ex.Kind.ShouldBe(ErrorKind.Config);
    }

    [SftpPasswordFact]
    public async Task Connect_WithEachKeyType_ListsAndReads()
    {
        Write("a.csv", "a");
        var server = TestSftp.Server;
        foreach (var key in new[] { server.PrivateKey, server.RsaKey!, server.EcdsaKey! })
        {
            var source = Source(o => o.PrivateKeyFile = key);

            (await ListAsync(source)).Select(f => f.Key).ShouldBe(["a.csv"], key);
            await using var stream = await source.OpenReadAsync("a.csv", CancellationToken.None);
            (await ReadAllAsync(stream)).ShouldBe("a"u8.ToArray());
        }
    }

    [SftpPasswordFact]
    public async Task Connect_KeyWithItsPassphrase_Lists()
    {
        Write("a.csv", "a");

        var files = await ListAsync(Source(o =>
        {
            o.PrivateKeyFile = TestSftp.Server.PassphraseKey!;
            o.Passphrase = TestSftp.Server.Passphrase;
        }));

        files.Select(f => f.Key).ShouldBe(["a.csv"]);
    }

    [SftpPasswordFact]
    public async Task Connect_KeyWithAPassphraseButNoneConfigured_FailsAsConfigSayingToSetPassphrase()
    {
        var ex = await FailureAsync(Source(o => o.PrivateKeyFile = TestSftp.Server.PassphraseKey!));

        ex.Kind.ShouldBe(ErrorKind.Config);
        ex.Message.ShouldContain(TestSftp.Server.PassphraseKey!);
        ex.Message.ShouldContain("set 'passphrase'");
    }

    [SftpPasswordFact]
    public async Task Connect_KeyWithAWrongPassphrase_FailsAsConfigNamingKeyAndPassphrase_WithoutShowingIt()
    {
        var ex = await FailureAsync(Source(o =>
        {
            o.PrivateKeyFile = TestSftp.Server.PassphraseKey!;
            o.Passphrase = "not-the-passphrase";
        }));

        ex.Kind.ShouldBe(ErrorKind.Config);
        ex.Message.ShouldContain(TestSftp.Server.PassphraseKey!);
        ex.Message.ShouldContain("'passphrase'");
        ex.Message.ShouldNotContain("not-the-passphrase");
    }

    [SftpPasswordFact]
    public async Task Connect_ByPassword_ListsAndReads()
    {
        Write("a.csv", "by password");
        var source = Source(ByPassword(TestSftp.Server.Password!));

        (await ListAsync(source)).Select(f => f.Key).ShouldBe(["a.csv"]);
        await using var stream = await source.OpenReadAsync("a.csv", CancellationToken.None);
        System.Text.Encoding.UTF8.GetString(await ReadAllAsync(stream)).ShouldBe("by password");
    }

    [SftpPasswordFact]
    public async Task Connect_WrongPassword_FailsAsConfigSayingPermissionDenied_WithoutShowingIt()
    {
        var ex = await FailureAsync(Source(ByPassword("wrong-password-123")));

        ex.Kind.ShouldBe(ErrorKind.Config);
        ex.Message.ShouldContain("Permission denied");
        ex.Message.ShouldContain("'password'");
        ex.Message.ShouldNotContain("wrong-password-123");
    }

    [SftpPasswordFact]
    public async Task Connect_ServerAskingOnlyKeyboardInteractive_ThePasswordAnswersItsPrompt()
    {
        Write("a.csv", "a");
        var server = TestSftp.Server;

        var files = await ListAsync(Source(ByPassword(server.Password!, server.KeyboardInteractivePort)));

        files.Select(f => f.Key).ShouldBe(["a.csv"]);
    }

    [SftpPasswordFact]
    public async Task Connect_ServerAskingOnlyKeyboardInteractive_WrongPassword_FailsAsConfig()
    {
        var server = TestSftp.Server;

        var ex = await FailureAsync(Source(ByPassword("wrong-password-456", server.KeyboardInteractivePort)));

        ex.Kind.ShouldBe(ErrorKind.Config);
        ex.Message.ShouldContain("Permission denied");
        ex.Message.ShouldNotContain("wrong-password-456");
    }

    [SftpPasswordFact]
    public async Task Connect_KeyWhereTheServerAsksOnlyKeyboardInteractive_FailsAsConfigNamingTheKey()
    {
        // The keyboard-interactive port refuses keys: a key alone fails there as a refused login.
        var server = TestSftp.Server;
        var ex = await FailureAsync(Source(o =>
        {
            o.Port = server.KeyboardInteractivePort!.Value;
            o.KnownHostsFile = null;
            o.HostKeyFingerprint = server.HostKeyFingerprint();
        }));

        ex.Kind.ShouldBe(ErrorKind.Config);
        ex.Message.ShouldContain(server.PrivateKey);
    }

    [SftpFact]
    public async Task Delete_TheListedVersion_RemovesItFromTheServer()
    {
        var path = Write("done.csv", "x");
        OpenFolderToTheServerUser();
        var source = Source();
        var listed = (await ListAsync(source)).ShouldHaveSingleItem();

        var outcome = await source.DeleteAsync(listed.Key, listed.Fingerprint, CancellationToken.None);

        outcome.ShouldBe(SourceRemoval.Deleted);
        File.Exists(path).ShouldBeFalse();
        (await source.DeleteAsync(listed.Key, listed.Fingerprint, CancellationToken.None)).ShouldBe(SourceRemoval.AlreadyGone);
    }

    [SftpFact]
    public async Task Delete_FileRewrittenSinceListing_IsLeftWhereItIs()
    {
        Write("rewritten.csv", "old");
        OpenFolderToTheServerUser();
        var source = Source();
        var listed = (await ListAsync(source)).ShouldHaveSingleItem();
        var path = Write("rewritten.csv", "new and longer", TimeSpan.FromMinutes(1));

        var outcome = await source.DeleteAsync(listed.Key, listed.Fingerprint, CancellationToken.None);

        outcome.ShouldBe(SourceRemoval.Changed);
        File.ReadAllText(path).ShouldBe("new and longer");
    }

    [SftpFact]
    public async Task Delete_SymbolicLinkSwappedInAfterListing_IsRefusedAsSecurity_AndItsTargetStays()
    {
        Write("data.csv", "x");
        var target = Write("elsewhere.csv", "keep me");
        OpenFolderToTheServerUser();
        var source = Source();
        var listed = (await ListAsync(source)).First(f => f.Key == "data.csv");
        File.Delete(Path.Combine(Folder, "data.csv"));
        File.CreateSymbolicLink(Path.Combine(Folder, "data.csv"), target);

        var ex = await Should.ThrowAsync<IntakeException>(() => source.DeleteAsync(listed.Key, listed.Fingerprint, CancellationToken.None));

        ex.Kind.ShouldBe(ErrorKind.Security);
        File.ReadAllText(target).ShouldBe("keep me");
    }

    /// <summary>The test's folder is root's; the server's user needs to write in it to delete.</summary>
    private void OpenFolderToTheServerUser()
    {
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(Folder, (UnixFileMode)0b111_111_111);
        }
    }

    [SftpPasswordFact]
    public async Task Connect_PinnedFingerprintOfTheServersSecondHostKey_Connects()
    {
        // The server offers ed25519 first; the pin is its RSA key, which a client asking once would never see.
        Write("a.csv", "a");

        var files = await ListAsync(Source(o =>
        {
            o.KnownHostsFile = null;
            o.HostKeyFingerprint = TestSftp.Server.HostKeyFingerprint(TestSftp.Server.RsaHostPublicKey);
        }));

        files.Select(f => f.Key).ShouldBe(["a.csv"]);
    }

    [SftpPasswordFact]
    public async Task Connect_KnownHostsHoldingOnlyTheServersRsaKey_Connects()
    {
        Write("a.csv", "a");
        var server = TestSftp.Server;
        var rsa = File.ReadAllText(server.RsaHostPublicKey!).Split(' ');

        var files = await ListAsync(Source(o => o.KnownHostsFile = KnownHosts($"[{server.Host}]:{server.Port} {rsa[0]} {rsa[1]}")));

        files.Select(f => f.Key).ShouldBe(["a.csv"]);
    }

    [SftpFact]
    public async Task Connect_KnownHostsWithHashedNamesAndWildcards_AreMatchedAsSshDoes()
    {
        Write("a.csv", "a");
        var server = TestSftp.Server;
        var key = string.Join(' ', File.ReadAllText(server.HostPublicKey).Split(' ')[..2]);
        var name = $"[{server.Host}]:{server.Port}";
        var salt = RandomNumberGenerator.GetBytes(20);
#pragma warning disable CA5350 // known_hosts hashes names with HMAC-SHA1: the format, as ssh-keygen -H writes it
        var hashed = $"|1|{Convert.ToBase64String(salt)}|{Convert.ToBase64String(HMACSHA1.HashData(salt, System.Text.Encoding.UTF8.GetBytes(name)))}";
#pragma warning restore CA5350

        (await ListAsync(Source(o => o.KnownHostsFile = KnownHosts($"{hashed} {key}")))).Count.ShouldBe(1);
        (await ListAsync(Source(o => o.KnownHostsFile = KnownHosts($"[127.0.0.*]:{server.Port} {key}")))).Count.ShouldBe(1);
        (await FailureAsync(Source(o => o.KnownHostsFile = KnownHosts($"[127.0.0.*]:{server.Port},!{name} {key}")))).Kind.ShouldBe(ErrorKind.Security);
    }
}
