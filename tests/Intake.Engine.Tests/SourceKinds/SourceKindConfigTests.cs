using Intake.Sources;
using Intake.Sources.Ftp;
using Intake.Sources.S3;
using Intake.Sources.Sftp;

namespace Intake.Engine.Tests.SourceKinds;

/// <summary>
/// Reading each kind's <c>source:</c> into its adapter's options: defaults written once (in the options class),
/// every option settable or deliberately not, the adapter's own checks run at start (what <c>intake validate</c>
/// reports), and the steps and keys a kind owns.
/// </summary>
public sealed class SourceKindConfigTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("intake-kinds-").FullName;

    public SourceKindConfigTests()
    {
        File.WriteAllText(Path.Combine(_dir, "intake.yaml"), "catalog: { kind: sqlite, path: c.db }\n");
        Directory.CreateDirectory(Path.Combine(_dir, "pipelines"));
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>A pipeline whose <c>source:</c> block is <paramref name="source"/> (indented keys, kind first).</summary>
    private IntakeConfig Load(string source, string steps = "[fetch]", string more = "")
    {
        File.WriteAllText(Path.Combine(_dir, "pipelines", "p.yaml"), $"""
            name: p
            source:
            {source}
            steps: {steps}
            {more}
            """);
        return ConfigLoader.Load(Path.Combine(_dir, "intake.yaml"));
    }

    private ConfigException Refused(string source, string steps = "[fetch]", string more = "") =>
        Should.Throw<ConfigException>(() => Load(source, steps, more));

    private static T Options<T>(IntakeConfig config) => config.Pipelines.ShouldHaveSingleItem().Source.Options.ShouldBeOfType<T>();

    [Fact]
    public void Local_WithOnlyAPath_KeepsThePipelineDefaults()
    {
        var o = Options<LocalDirectorySourceOptions>(Load("  kind: local\n  path: in"));

        o.Directory.ShouldBe(Path.Combine(_dir, "pipelines", "in"));
        o.Include.ShouldBe(["**/*"]);
        o.Exclude.ShouldBeEmpty();
        o.StableFor.ShouldBe(TimeSpan.FromSeconds(10));
        o.IgnoreCase.ShouldBeFalse();
    }

    [Fact]
    public void Ftp_WithOnlyItsRequiredKeys_KeepsThePipelineDefaults_AndResumesByThePipelinesRetry()
    {
        var config = Load("  kind: ftp\n  host: ftp.example.com\n  user: u", more: "retry: { max_attempts: 5, base_delay: 2s, max_delay: 1m }");
        var o = Options<FtpSourceOptions>(config);

        (o.Host, o.Port, o.User, o.Password, o.Tls).ShouldBe(("ftp.example.com", 21, "u", "", FtpTlsMode.None));
        (o.ConnectTimeout, o.ReadTimeout).ShouldBe((TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(30)));
        o.RemoteDirectory.ShouldBe("/");
        o.StableFor.ShouldBe(TimeSpan.FromSeconds(10));
        o.Include.ShouldBe(["**/*"]);
        o.Exclude.ShouldBeEmpty();
        (o.UseMlsd, o.UseEpsv, o.IgnoreCase, o.CertificateThumbprint).ShouldBe((true, true, false, null));
        (o.Resume.MaxRetries, o.Resume.BaseDelay, o.Resume.MaxDelay).ShouldBe((4, TimeSpan.FromSeconds(2), TimeSpan.FromMinutes(1)));
        config.Pipelines[0].Source.Path.ShouldBe("/");
    }

    [Fact]
    public void Ftp_EverySettableKey_ReachesTheAdapterOptions()
    {
        var o = Options<FtpSourceOptions>(Load("""
              kind: ftp
              host: ftp.example.com
              port: 2121
              user: u
              password: secret
              tls: explicit
              certificate_thumbprint: "AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01"
              use_mlsd: false
              use_epsv: false
              timeout: 7s
              path: /out
              include: "**/*.csv"
              exclude: "tmp/**"
              ignore_case: true
              stable_for: 2m
            """));

        (o.Port, o.Password, o.Tls, o.UseMlsd, o.UseEpsv, o.IgnoreCase).ShouldBe((2121, "secret", FtpTlsMode.Explicit, false, false, true));
        o.CertificateThumbprint.ShouldNotBeNull();
        (o.ConnectTimeout, o.ReadTimeout, o.StableFor).ShouldBe((TimeSpan.FromSeconds(7), TimeSpan.FromSeconds(7), TimeSpan.FromMinutes(2)));
        o.RemoteDirectory.ShouldBe("/out");
        o.Include.ShouldBe(["**/*.csv"]);
        o.Exclude.ShouldBe(["tmp/**"]);
    }

    [Fact]
    public void Sftp_WithOnlyItsRequiredKeys_KeepsThePipelineDefaults()
    {
        var o = Options<SftpSourceOptions>(Load("  kind: sftp\n  host: h\n  user: u\n  key_file: id_ed25519\n  known_hosts: known_hosts"));

        (o.Host, o.Port, o.User).ShouldBe(("h", 22, "u"));
        o.PrivateKeyFile.ShouldBe(Path.Combine(_dir, "pipelines", "id_ed25519"));
        o.KnownHostsFile.ShouldBe(Path.Combine(_dir, "pipelines", "known_hosts"));
        (o.RemoteDirectory, o.StableFor, o.ConnectTimeout).ShouldBe((".", TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(30)));
        (o.AcceptNewHostKey, o.MaxResumeAttempts, o.IgnoreCase).ShouldBe((false, 3, false));
        (o.Password, o.Passphrase).ShouldBe((null, null));
    }

    [Fact]
    public void Sftp_EverySettableKey_ReachesTheAdapterOptions()
    {
        var o = Options<SftpSourceOptions>(Load("""
              kind: sftp
              host: h
              port: 2222
              user: u
              key_file: /keys/id
              passphrase: "${SFTP_TEST_PASSPHRASE:-unlock me}"
              password: "${SFTP_TEST_PASSWORD:-s3cret}"
              known_hosts: /keys/known_hosts
              accept_new_host_key: true
              path: /upload
              include: "**/*.gz"
              exclude: "old/**"
              ignore_case: true
              stable_for: 1m
              timeout: 5s
              max_resume_attempts: 7
            """));

        (o.Port, o.PrivateKeyFile, o.KnownHostsFile, o.AcceptNewHostKey, o.RemoteDirectory).ShouldBe((2222, "/keys/id", "/keys/known_hosts", true, "/upload"));
        (o.Passphrase, o.Password).ShouldBe(("unlock me", "s3cret")); // secrets as ${VAR}, like every other secret
        o.Include.ShouldBe(["**/*.gz"]);
        o.Exclude.ShouldBe(["old/**"]);
        o.IgnoreCase.ShouldBeTrue();
        (o.StableFor, o.ConnectTimeout, o.MaxResumeAttempts).ShouldBe((TimeSpan.FromMinutes(1), TimeSpan.FromSeconds(5), 7));
    }

    [Fact]
    public void S3_WithOnlyItsRequiredKeys_KeepsTheAdapterDefaults()
    {
        var o = Options<S3SourceOptions>(Load("  kind: s3\n  url: http://127.0.0.1:4569\n  bucket: b\n  access_key: a\n  secret_key: s"));

        (o.ServiceUrl, o.Bucket, o.Region, o.Prefix).ShouldBe(("http://127.0.0.1:4569", "b", "us-east-1", null));
        (o.ForcePathStyle, o.IgnoreCase, o.MaxErrorRetry, o.RequestTimeout, o.ListPageSize).ShouldBe((true, false, 3, TimeSpan.FromMinutes(5), 1000));
        o.Include.ShouldBe(["**/*"]);
        o.Exclude.ShouldBeEmpty();
    }

    [Fact]
    public void S3_EverySettableKey_ReachesTheAdapterOptions_AndStableForAndTimeoutAreStillAccepted()
    {
        var o = Options<S3SourceOptions>(Load("""
              kind: s3
              url: https://s3.example.com
              bucket: b
              prefix: in/daily
              region: eu-west-1
              access_key: a
              secret_key: s
              force_path_style: false
              include: "**/*.csv"
              exclude: "archive/**"
              ignore_case: true
              max_error_retry: 5
              request_timeout: 2m
              list_page_size: 100
              stable_for: 1m
              timeout: 10s
            """));

        (o.Prefix, o.Region, o.ForcePathStyle, o.IgnoreCase).ShouldBe(("in/daily", "eu-west-1", false, true));
        (o.MaxErrorRetry, o.RequestTimeout, o.ListPageSize).ShouldBe((5, TimeSpan.FromMinutes(2), 100));
        o.Include.ShouldBe(["**/*.csv"]);
        o.Exclude.ShouldBe(["archive/**"]);
    }

    [Fact]
    public void Local_IgnoreCase_IsSettable()
    {
        Options<LocalDirectorySourceOptions>(Load("  kind: local\n  path: in\n  ignore_case: true")).IgnoreCase.ShouldBeTrue();
    }

    [Fact]
    public void Validate_ABadIncludePattern_IsReportedAtStartWithTheSourcesLine()
    {
        var e = Refused("  kind: local\n  path: in\n  include: \"[unclosed\"");

        var error = e.Errors.ShouldHaveSingleItem();
        (error.File, error.Line, error.Key).ShouldBe((Path.Combine("pipelines", "p.yaml"), 3, "source"));
        error.Reason.ShouldContain("[unclosed");
    }

    [Fact]
    public void Validate_ABadExcludePattern_OnEachFileKind_IsReportedAtStart()
    {
        foreach (var source in new[]
        {
            "  kind: local\n  path: in",
            "  kind: ftp\n  host: h\n  user: u",
            "  kind: sftp\n  host: h\n  user: u\n  key_file: k\n  known_hosts: kh",
            "  kind: s3\n  url: http://127.0.0.1:1\n  bucket: b\n  access_key: a\n  secret_key: s",
        })
        {
            var e = Refused(source + "\n  exclude: \"a//b\"");
            e.Errors.ShouldHaveSingleItem().Reason.ShouldContain("a//b", customMessage: source);
        }
    }

    [Fact]
    public void Validate_SettingsTheAdapterRefuses_AreReportedNamingKeysThePipelineAccepts()
    {
        Refused("  kind: sftp\n  host: h\n  user: u\n  key_file: k\n  known_hosts: kh\n  host_key_fingerprint: \"SHA256:abc\"")
            .Errors.ShouldHaveSingleItem().Reason.ShouldContain("set exactly one of 'known_hosts' and 'host_key_fingerprint'");
        Refused("  kind: sftp\n  host: h\n  user: u\n  key_file: k\n  known_hosts: kh\n  timeout: 0s")
            .Errors.ShouldHaveSingleItem().Reason.ShouldContain("'timeout' must be positive");
        Refused("  kind: sftp\n  host: h\n  user: u\n  key_file: k\n  host_key_fingerprint: \"SHA256:abc\"\n  accept_new_host_key: true")
            .Errors.ShouldHaveSingleItem().Reason.ShouldContain("'accept_new_host_key' needs 'known_hosts'");
        Refused("  kind: sftp\n  host: h\n  user: u\n  known_hosts: kh")
            .Errors.ShouldHaveSingleItem().Reason.ShouldContain("set 'key_file' or 'password'");
        Refused("  kind: sftp\n  host: h\n  user: u\n  password: p\n  passphrase: x\n  known_hosts: kh")
            .Errors.ShouldHaveSingleItem().Reason.ShouldContain("'passphrase' unlocks a private key, but 'key_file' is not set");
        Refused("  kind: ftp\n  host: h\n  user: u\n  certificate_thumbprint: abc")
            .Errors.ShouldHaveSingleItem().Reason.ShouldContain("'certificate_thumbprint'");
        Refused("  kind: ftp\n  host: h\n  user: u\n  tls: explicit\n  trust_certificate: missing.pem")
            .Errors.ShouldHaveSingleItem().Reason.ShouldContain("missing.pem");
        var s3 = Refused("  kind: s3\n  url: http://127.0.0.1:1\n  bucket: b\n  access_key: a\n  secret_key: s\n  list_page_size: 5000\n  trust_certificate: missing.pem");
        s3.Errors.Select(x => x.Key).ShouldBe(["source", "source"]);
        s3.Errors.ShouldContain(x => x.Reason.Contains("'list_page_size' must be between 1 and 1000", StringComparison.Ordinal));
        s3.Errors.ShouldContain(x => x.Reason.Contains("'trust_certificate'", StringComparison.Ordinal) && !x.Reason.Contains("ca_file", StringComparison.Ordinal));
    }

    [Fact]
    public void Validate_ProblemsAlreadyReportedByTheReader_AreNotReportedAgainByTheAdapter()
    {
        var e = Refused("  kind: ftp\n  user: u");

        e.Errors.ShouldHaveSingleItem().Key.ShouldBe("source.host");
    }

    [Fact]
    public void Steps_OfAnotherKind_AreRefusedNamingTheKindTheyNeed()
    {
        Refused("  kind: local\n  path: in", steps: "[pull, load]", more: "load: { table: t }").Errors
            .ShouldContain(x => x.Key == "steps" && x.Reason == "'pull' reads an HTTP API; it needs source.kind: http");
        Refused("  kind: local\n  path: in", steps: "[fetch, export]").Errors
            .ShouldContain(x => x.Key == "steps" && x.Reason == "'export' reads a database; it needs source.kind: database");
        Refused("  kind: local\n  path: in", steps: "[decompress]").Errors
            .ShouldContain(x => x.Key == "steps" && x.Reason == "the first step must be 'fetch' (it copies the original into the inbox)");
    }

    [Fact]
    public void PipelineKeys_OfAnotherKind_AreRefusedNamingTheKindTheyNeed()
    {
        var error = Refused("  kind: local\n  path: in", more: "export: { format: csv }").Errors.ShouldHaveSingleItem();

        (error.Key, error.Reason).ShouldBe(("export", "is only for pipelines with source.kind: database"));
    }

    [Fact]
    public void UnknownKind_IsRefusedListingTheRegisteredKinds_WithoutJudgingItsOtherKeys()
    {
        var error = Refused("  kind: gopher\n  host: h", steps: "[fetch, decompress]").Errors.ShouldHaveSingleItem();

        (error.Key, error.Reason).ShouldBe(("source.kind", "'gopher' is not a source kind (local, ftp, sftp, s3, http, database, mail)"));
    }

    [Theory]
    [InlineData("yesterday", "2026-03-09T00:00:00+00:00")]
    [InlineData("today", "2026-03-10T00:00:00+00:00")]
    [InlineData("2024-01-01T06:00:00+02:00", "2024-01-01T04:00:00+00:00")]
    [InlineData("7d", "2026-03-03T12:30:00+00:00")]
    [InlineData("90m", "2026-03-10T11:00:00+00:00")]
    public void Database_DefaultStart_IsReadIntoTheStartOfTheFirstWindow(string setting, string expected)
    {
        File.WriteAllText(Path.Combine(_dir, "intake.yaml"), "catalog: { kind: sqlite, path: c.db }\nstores: { local: { kind: local, root: store } }\n");
        var o = Options<Intake.Sources.Database.DatabaseSourceOptions>(Load(
            $"  kind: database\n  database: {{ kind: sqlite, path: source.db }}\n  table: records\n  partition_column: study\n  time_column: at\n  default_start: \"{setting}\"",
            steps: "[export]"));

        o.DefaultStart.Text.ShouldBe(setting);
        o.DefaultStart.Resolve(new DateTimeOffset(2026, 3, 10, 12, 30, 0, TimeSpan.Zero)).ShouldBe(DateTimeOffset.Parse(expected, System.Globalization.CultureInfo.InvariantCulture));
    }

    [Fact]
    public void Database_DefaultStart_ThatIsNoStart_IsRefused()
    {
        File.WriteAllText(Path.Combine(_dir, "intake.yaml"), "catalog: { kind: sqlite, path: c.db }\nstores: { local: { kind: local, root: store } }\n");
        var error = Refused(
            "  kind: database\n  database: { kind: sqlite, path: source.db }\n  table: records\n  partition_column: study\n  time_column: at\n  default_start: last week",
            steps: "[export]").Errors.ShouldHaveSingleItem();

        error.Key.ShouldBe("source.default_start");
    }
}
