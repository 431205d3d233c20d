using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Intake.Engine.Mail;
using Intake.Server.Mail;
using Microsoft.Extensions.Logging.Abstractions;

namespace Intake.Server.Tests.Mail;

/// <summary>
/// The embedded SMTP listener against a real SMTP conversation over a socket, with a receiver that writes to a folder:
/// the reply codes a sender sees (250, 552, 550, 451) and the durability rule (250 only after the receiver answered).
/// </summary>
public sealed class SmtpListenerTests : IAsyncLifetime
{
    private const string Known = "reports+acme@hview.example";
    private readonly string _folder = Directory.CreateTempSubdirectory("intake-smtp-").FullName;
    private FolderMailReceiver _receiver = null!;
    private SmtpListener _listener = null!;

    public async Task InitializeAsync()
    {
        _receiver = new FolderMailReceiver(_folder, maxMessageBytes: 64 * 1024, Known, "alerts@hview.example");
        _listener = await StartAsync(_receiver, new SmtpListenerOptions { Endpoint = new IPEndPoint(IPAddress.Loopback, 0) });
    }

    public async Task DisposeAsync()
    {
        await _listener.DisposeAsync();
        Directory.Delete(_folder, recursive: true);
    }

    private static Task<SmtpListener> StartAsync(IMailReceiver receiver, SmtpListenerOptions options) =>
        SmtpListener.StartAsync(receiver, options, NullLogger.Instance, CancellationToken.None);

    private static byte[] Message(string subject, string body) =>
        Encoding.ASCII.GetBytes($"From: grid7@hview.example\r\nTo: {Known}\r\nSubject: {subject}\r\nMessage-ID: <{Guid.NewGuid():N}@hview.example>\r\n\r\n{body}\r\n");

    [Fact]
    public async Task Message_IsAnswered250_WithTheExactBytesAndEnvelopeHandedToTheReceiver()
    {
        // A line that starts with a dot is sent as ".." (dot-stuffing): the receiver must get it back with one dot.
        var message = Message("System report", "grid: grid7\r\n.hidden line\r\n..two dots\r\nend");
        await using var client = await SmtpTestClient.ConnectAsync(_listener.Endpoint);
        client.Greeting.ShouldStartWith("220");

        (await client.EnvelopeAsync("grid7@hview.example", Known)).ShouldAllBe(r => r.StartsWith("250", StringComparison.Ordinal));
        var reply = await client.DataAsync(message);

        reply.ShouldStartWith("250 ");
        reply.ShouldContain("load 1001");
        var (file, envelope) = _receiver.Received.ShouldHaveSingleItem();
        (await File.ReadAllBytesAsync(file)).ShouldBe(message);
        envelope.Sender.ShouldBe("grid7@hview.example");
        envelope.Recipients.ShouldBe([Known]);
        envelope.Client.ShouldNotBeNull().ShouldContain("127.0.0.1");
    }

    [Fact]
    public async Task Reply250_IsSentOnlyAfterTheReceiverAnswered()
    {
        _receiver.Gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var client = await SmtpTestClient.ConnectAsync(_listener.Endpoint);
        await client.EnvelopeAsync("grid7@hview.example", Known);
        (await client.SendAsync("DATA")).ShouldStartWith("354");

        await client.SendContentAsync(Message("held", "wait for the disk"));
        await _receiver.Stored.Task.WaitAsync(TimeSpan.FromSeconds(30));

        // The receiver has the message but has not answered: the sender must not have heard anything yet.
        client.Available.ShouldBe(0);
        _receiver.Gate.SetResult();
        (await client.ReadReplyAsync()).ShouldStartWith("250 ");
    }

    [Fact]
    public async Task Ehlo_AnnouncesTheReceiversSizeLimit()
    {
        await using var client = await SmtpTestClient.ConnectAsync(_listener.Endpoint);

        var ehlo = await client.SendAsync("EHLO client.example");

        ehlo.Split('\n').ShouldContain(l => l.EndsWith("SIZE 65536", StringComparison.Ordinal));
        ehlo.ShouldNotContain("STARTTLS");
    }

    [Fact]
    public async Task MailFrom_WithAnnouncedSizeOverTheLimit_Is552_BeforeAnyData()
    {
        await using var client = await SmtpTestClient.ConnectAsync(_listener.Endpoint);
        await client.SendAsync("EHLO client.example");

        var reply = await client.SendAsync("MAIL FROM:<grid7@hview.example> SIZE=100000");

        reply.ShouldStartWith("552");
        _receiver.Received.ShouldBeEmpty();
    }

    [Fact]
    public async Task MessageOverTheLimit_WithoutSize_Is552_AndNeverReachesTheReceiver()
    {
        await using var client = await SmtpTestClient.ConnectAsync(_listener.Endpoint);
        await client.EnvelopeAsync("grid7@hview.example", Known);

        var reply = await client.DataAsync(Message("too big", string.Join("\r\n", Enumerable.Repeat(new string('x', 998), 100))));

        reply.ShouldStartWith("552");
        _receiver.Received.ShouldBeEmpty();
    }

    [Fact]
    public async Task MessageFarOverTheLimit_Is552_AndWhatFollowsIsNeverTakenForCommands()
    {
        await using var client = await SmtpTestClient.ConnectAsync(_listener.Endpoint);
        await client.EnvelopeAsync("grid7@hview.example", Known);
        (await client.SendAsync("DATA")).ShouldStartWith("354");
        // 200 KB against a 64 KiB limit, then lines that would be a whole new transaction if read as commands.
        var smuggled = $"RSET\r\nMAIL FROM:<evil@example.org>\r\nRCPT TO:<{Known}>\r\nDATA\r\nSubject: smuggled\r\n\r\nsmuggled\r\n.\r\n";
        await client.WriteAsync(Encoding.ASCII.GetBytes(string.Concat(Enumerable.Repeat(new string('x', 998) + "\r\n", 200)) + ".\r\n" + smuggled));

        (await client.ReadReplyAsync()).ShouldStartWith("552 ");
        await Should.ThrowAsync<IOException>(async () =>
        {
            while (true)
            {
                (await client.ReadReplyAsync()).ShouldNotStartWith("250");
            }
        });
        _receiver.Received.ShouldBeEmpty();
    }

    [Fact]
    public async Task CommandLineWithoutEnd_IsRefused_AndTheSessionClosed()
    {
        await using var client = await SmtpTestClient.ConnectAsync(_listener.Endpoint);

        await client.WriteAsync(Encoding.ASCII.GetBytes("EHLO " + new string('a', 200_000)));

        (await client.ReadReplyAsync()).ShouldStartWith("500 ");
    }

    [Fact]
    public async Task MessageOverTheLimit_WithAFalseSmallSize_Is552()
    {
        await using var client = await SmtpTestClient.ConnectAsync(_listener.Endpoint);
        await client.SendAsync("EHLO client.example");
        (await client.SendAsync("MAIL FROM:<grid7@hview.example> SIZE=100")).ShouldStartWith("250");
        (await client.SendAsync($"RCPT TO:<{Known}>")).ShouldStartWith("250");

        var reply = await client.DataAsync(Message("lied", string.Join("\r\n", Enumerable.Repeat(new string('y', 998), 100))));

        reply.ShouldStartWith("552");
        _receiver.Received.ShouldBeEmpty();
    }

    [Fact]
    public async Task UnknownRecipient_Is550AtRcpt_AndTheKnownOneStillGetsTheMessage()
    {
        await using var client = await SmtpTestClient.ConnectAsync(_listener.Endpoint);

        var replies = await client.EnvelopeAsync("grid7@hview.example", "nobody@hview.example", Known);

        replies[0].ShouldStartWith("550");
        replies[0].ShouldContain("nobody@hview.example");
        replies[1].ShouldStartWith("250");
        (await client.DataAsync(Message("one of two", "x"))).ShouldStartWith("250");
        _receiver.Received.ShouldHaveSingleItem().Envelope.Recipients.ShouldBe([Known]);
    }

    [Fact]
    public async Task OnlyUnknownRecipients_NoMessageIsTaken()
    {
        await using var client = await SmtpTestClient.ConnectAsync(_listener.Endpoint);

        (await client.EnvelopeAsync("grid7@hview.example", "nobody@hview.example")).ShouldHaveSingleItem().ShouldStartWith("550");

        (await client.SendAsync("DATA")).ShouldStartWith("5");
        _receiver.Received.ShouldBeEmpty();
    }

    [Theory]
    [InlineData(MailReceiveOutcome.TemporaryFailure, "451")]
    [InlineData(MailReceiveOutcome.TooLarge, "552")]
    [InlineData(MailReceiveOutcome.RecipientUnknown, "550")]
    [InlineData(MailReceiveOutcome.Duplicate, "250")]
    public async Task ReceiverOutcome_IsTheSmtpReply(MailReceiveOutcome outcome, string code)
    {
        _receiver.Answer = outcome;
        await using var client = await SmtpTestClient.ConnectAsync(_listener.Endpoint);
        await client.EnvelopeAsync("grid7@hview.example", Known);

        var reply = await client.DataAsync(Message("outcome", outcome.ToString()));

        reply.ShouldStartWith(code + " ");
    }

    [Fact]
    public async Task ReceiverThatThrows_Is451_SoTheSenderRetries_AndTheSessionGoesOn()
    {
        _receiver.Throw = true;
        await using var client = await SmtpTestClient.ConnectAsync(_listener.Endpoint);
        await client.EnvelopeAsync("grid7@hview.example", Known);

        var reply = await client.DataAsync(Message("fails", "x"));

        reply.ShouldStartWith("451 ");
        reply.ShouldNotContain("IOException");
        _receiver.Throw = false;
        (await client.SendAsync("MAIL FROM:<grid7@hview.example>")).ShouldStartWith("250");
        (await client.SendAsync($"RCPT TO:<{Known}>")).ShouldStartWith("250");
        (await client.DataAsync(Message("retried", "x"))).ShouldStartWith("250 ");
    }

    [Fact]
    public async Task TwoMessagesInOneSession_AreTwoReceives()
    {
        await using var client = await SmtpTestClient.ConnectAsync(_listener.Endpoint);
        await client.EnvelopeAsync("grid7@hview.example", Known);
        (await client.DataAsync(Message("first", "1"))).ShouldStartWith("250");
        (await client.SendAsync("MAIL FROM:<>")).ShouldStartWith("250"); // a bounce: empty sender
        (await client.SendAsync("RCPT TO:<alerts@hview.example>")).ShouldStartWith("250");
        (await client.DataAsync(Message("second", "2"))).ShouldStartWith("250");

        var received = _receiver.Received.ToArray();
        received.Length.ShouldBe(2);
        received[1].Envelope.Sender.ShouldBeNullOrEmpty();
        received[1].Envelope.Recipients.ShouldBe(["alerts@hview.example"]);
    }

    [Fact]
    public async Task OwnLimitBelowTheReceivers_IsTheOneAnnouncedAndEnforced()
    {
        var receiver = new FolderMailReceiver(_folder, maxMessageBytes: 1_000_000, Known);
        await using var listener = await StartAsync(receiver, new SmtpListenerOptions { Endpoint = new IPEndPoint(IPAddress.Loopback, 0), MaxMessageBytes = 2000 });
        await using var client = await SmtpTestClient.ConnectAsync(listener.Endpoint);

        (await client.SendAsync("EHLO client.example")).ShouldContain("SIZE 2000");
        (await client.SendAsync("MAIL FROM:<a@b.example>")).ShouldStartWith("250");
        (await client.SendAsync($"RCPT TO:<{Known}>")).ShouldStartWith("250");
        (await client.DataAsync(Message("3 KB", new string('z', 3000)))).ShouldStartWith("552");
    }

    [Fact]
    public async Task SessionLimit_MakesTheNextConnectionWaitUntilASessionEnds()
    {
        await using var listener = await StartAsync(_receiver, new SmtpListenerOptions { Endpoint = new IPEndPoint(IPAddress.Loopback, 0), MaxSessions = 1 });
        var first = await SmtpTestClient.ConnectAsync(listener.Endpoint);
        await using var second = await SmtpTestClient.ConnectAsync(listener.Endpoint, readGreeting: false);

        var greeting = second.ReadReplyAsync();
        await Task.Delay(500);
        greeting.IsCompleted.ShouldBeFalse("the second session was served while the first held the only place");

        (await first.SendAsync("QUIT")).ShouldStartWith("221");
        await first.DisposeAsync();
        (await greeting.WaitAsync(TimeSpan.FromSeconds(30))).ShouldStartWith("220");
    }

    [Fact]
    public async Task StartTls_WithACertificate_IsOffered_AndMailFlowsOverTls()
    {
        using var certificate = SelfSigned();
        await using var listener = await StartAsync(_receiver, new SmtpListenerOptions { Endpoint = new IPEndPoint(IPAddress.Loopback, 0), Certificate = certificate });
        await using var client = await SmtpTestClient.ConnectAsync(listener.Endpoint);
        (await client.SendAsync("EHLO client.example")).ShouldContain("STARTTLS");

        await client.StartTlsAsync(certificate);
        await client.EnvelopeAsync("grid7@hview.example", Known);
        var reply = await client.DataAsync(Message("over tls", "secret report"));

        reply.ShouldStartWith("250 ");
        (await File.ReadAllTextAsync(_receiver.Received.ShouldHaveSingleItem().File)).ShouldContain("secret report");
    }

    [Fact]
    public async Task AddressInUse_FailsToStart()
    {
        await Should.ThrowAsync<System.Net.Sockets.SocketException>(() =>
            StartAsync(_receiver, new SmtpListenerOptions { Endpoint = _listener.Endpoint }));
    }

    [Theory]
    [InlineData("127.0.0.1:2525", "127.0.0.1:2525")]
    [InlineData("0.0.0.0:25", "0.0.0.0:25")]
    [InlineData("[::1]:2525", "[::1]:2525")]
    [InlineData("2600", "127.0.0.1:2600")]
    public void Endpoint_IsReadFromTheOption(string text, string expected)
    {
        SmtpListenerOptions.TryParseEndpoint(text, out var endpoint).ShouldBeTrue();
        endpoint.ToString().ShouldBe(expected);
    }

    [Theory]
    [InlineData("127.0.0.1")]
    [InlineData("localhost:2525")]
    [InlineData("127.0.0.1:99999")]
    [InlineData("::1")]
    [InlineData("")]
    public void Endpoint_WithoutAnAddressAndPort_IsRefused(string text) =>
        SmtpListenerOptions.TryParseEndpoint(text, out _).ShouldBeFalse();

    private static X509Certificate2 SelfSigned()
    {
        using var key = RSA.Create(2048);
        var request = new CertificateRequest("CN=localhost", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName("localhost");
        request.CertificateExtensions.Add(san.Build());
        using var ephemeral = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
        // Through PKCS#12 so the key is usable by SslStream on every platform.
        return X509CertificateLoader.LoadPkcs12(ephemeral.Export(X509ContentType.Pkcs12), null);
    }
}
