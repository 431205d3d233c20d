using System.Net;
using System.Text;
using Intake.Core.Errors;
using Intake.Core.Model;
using Intake.Engine.Configuration;
using Intake.Server.Hosting;
using Intake.Server.Mail;

namespace Intake.Server.Tests.Mail;

/// <summary>
/// <c>intake serve --smtp</c>: the listener hosted by the server next to the API and the workers (in this process, on a
/// SQLite catalog, with the test's receiver), and the command line's checks of the SMTP options.
/// </summary>
public sealed class SmtpServeTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("intake-smtp-serve-").FullName;

    public SmtpServeTests()
    {
        Directory.CreateDirectory(Path.Combine(_root, "pipelines"));
        Directory.CreateDirectory(Path.Combine(_root, "incoming"));
        Directory.CreateDirectory(Path.Combine(_root, "mail"));
        File.WriteAllText(Path.Combine(_root, "intake.yaml"), """
            catalog: { kind: sqlite, path: .intake/catalog.db }
            stores:
              local: { kind: local, root: .intake/store }
            warehouses:
              main: { kind: sqlite, path: .intake/warehouse.db }
            """);
        File.WriteAllText(Path.Combine(_root, "pipelines", "orders.yaml"), """
            name: orders
            customer: acme
            source: { kind: local, path: ../incoming }
            steps: [fetch, load]
            load: { table: orders }
            """);
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
            // SQLite may still hold a file for a moment; the temp folder is cleaned by the OS
        }
    }

    private ServerOptions Options(FolderMailReceiver? receiver) => new()
    {
        Urls = "http://127.0.0.1:0",
        Workers = 1,
        DiscoverEvery = TimeSpan.FromHours(1),
        Smtp = new SmtpListenerOptions { Endpoint = new IPEndPoint(IPAddress.Loopback, 0) },
        MailReceiver = receiver is null ? null : (_, _) => receiver,
    };

    [Fact]
    public async Task Serve_WithSmtp_AcceptsMailThroughTheReceiver_AndStopsListeningWithTheServer()
    {
        var receiver = new FolderMailReceiver(Path.Combine(_root, "mail"), 1_000_000, "reports@hview.example");
        var config = ConfigLoader.Load(ConfigLoader.Locate(_root));
        IPEndPoint endpoint;
        await using (var server = await IntakeServer.StartAsync(config, Options(receiver)))
        {
            endpoint = server.SmtpEndpoint.ShouldNotBeNull();
            await using var client = await SmtpTestClient.ConnectAsync(endpoint);
            await client.EnvelopeAsync("grid7@hview.example", "reports@hview.example");

            var reply = await client.DataAsync(Encoding.ASCII.GetBytes("Subject: served\r\n\r\nhello\r\n"));

            reply.ShouldStartWith("250 ");
            receiver.Received.ShouldHaveSingleItem();
        }

        Intake.Tests.Shared.TestServers.Answers("127.0.0.1", endpoint.Port).ShouldBeFalse();
    }

    /// <summary>
    /// A message through the listener into the Mail slice's receiver, carried by the server's worker through route, extract,
    /// module and archive: <c>/metrics</c> counts each of its steps, the receive step (recorded by the receiver) included.
    /// </summary>
    [Fact]
    public async Task Serve_WithSmtp_MailLoadSteps_AreCountedInTheMetrics()
    {
        File.WriteAllText(Path.Combine(_root, "pipelines", "mail.yaml"), """
            name: mail
            customer: acme
            source: { kind: mail }
            steps: [receive, route, extract, archive]
            routes:
              - name: report
                recipient: "reports@hview.example"
                senders: ["*@hview.example"]
            modules:
              - { name: summary, kind: text, from: body, pairs: whole, table: reports }
            """);
        var config = ConfigLoader.Load(ConfigLoader.Locate(_root));
        var options = Options(null) with
        {
            Poll = TimeSpan.FromMilliseconds(50),
            MailReceiver = (runtime, observer) => new Intake.Engine.Mail.MailReceiver(runtime, observer: observer),
        };
        await using var server = await IntakeServer.StartAsync(config, options);
        await using (var client = await SmtpTestClient.ConnectAsync(server.SmtpEndpoint.ShouldNotBeNull()))
        {
            await client.EnvelopeAsync("grid7@hview.example", "reports@hview.example");
            (await client.DataAsync(Encoding.ASCII.GetBytes("From: <grid7@hview.example>\r\nSubject: report\r\nMessage-ID: <m1@hview.example>\r\n\r\nCapacity: 42%\r\n"))).ShouldStartWith("250 ");
        }

        var catalog = server.State.Runtime.Catalog;
        Load? load = null;
        for (var i = 0; i < 400 && load?.Status is not (LoadStatus.Archived or LoadStatus.Errored); i++)
        {
            await Task.Delay(50);
            load = (await catalog.ListLoadsAsync(new LoadQuery { Pipeline = "mail" }, default)).SingleOrDefault();
        }

        load.ShouldNotBeNull().Status.ShouldBe(LoadStatus.Archived, string.Join("\n", (await catalog.GetStepsAsync(load.Id, default)).Select(s => $"{s.Step} {s.Outcome} {s.ErrorKind} {s.Message}")));
        using var http = new HttpClient { BaseAddress = new Uri(server.Addresses[0]) };
        var metrics = await http.GetStringAsync("/metrics");
        foreach (var step in new[] { "receive", "route", "extract", "module", "archive" })
        {
            metrics.ShouldContain($"intake_step_duration_seconds_count{{pipeline=\"mail\",step=\"{step}\",outcome=\"succeeded\"}} 1");
        }

        metrics.ShouldContain("intake_rows_total{pipeline=\"mail\",step=\"module\",direction=\"out\"} 1");
        metrics.ShouldContain("intake_loads_processed_total{pipeline=\"mail\",status=\"archived\"} 1");
    }

    [Fact]
    public async Task Serve_WithSmtpButNoReceiver_RefusesToStart_NamingTheOption()
    {
        var config = ConfigLoader.Load(ConfigLoader.Locate(_root));

        var error = await Should.ThrowAsync<IntakeException>(() => IntakeServer.StartAsync(config, Options(null)));

        error.Kind.ShouldBe(ErrorKind.Config);
        error.Message.ShouldContain("--smtp");
    }

    [Fact]
    public async Task Serve_WithoutSmtp_ListensForNoMail()
    {
        var config = ConfigLoader.Load(ConfigLoader.Locate(_root));

        await using var server = await IntakeServer.StartAsync(config, Options(null) with { Smtp = null });

        server.SmtpEndpoint.ShouldBeNull();
    }

    [Theory]
    [InlineData("--smtp", "localhost", "is not ADDRESS:PORT")]
    [InlineData("--smtp", "127.0.0.1", "is not ADDRESS:PORT")]
    [InlineData("--smtp-max-size", "25MiB", "needs --smtp")]
    [InlineData("--smtp-tls-cert", "/nonexistent/cert.pem", "needs --smtp")]
    public async Task Serve_WithABadSmtpOption_ExitsWithUsage(string option, string value, string expected)
    {
        using var workspace = new Workspace("Host=127.0.0.1;Port=1;Username=nobody");

        var result = await workspace.RunCliAsync("serve", option, value);

        result.ExitCode.ShouldBe(2, result.Stderr);
        result.Stderr.ShouldContain(expected);
    }

    [Fact]
    public async Task Serve_WithAnUnreadableCertificate_ExitsWithUsage()
    {
        using var workspace = new Workspace("Host=127.0.0.1;Port=1;Username=nobody");
        var cert = Path.Combine(workspace.Root, "cert.pem");
        File.WriteAllText(cert, "not a certificate");

        var result = await workspace.RunCliAsync("serve", "--smtp", "127.0.0.1:0", "--smtp-tls-cert", cert, "--smtp-tls-key", cert);

        result.ExitCode.ShouldBe(2, result.Stderr);
        result.Stderr.ShouldContain("--smtp-tls-cert");
        result.Stderr.ShouldContain("cannot be read");
    }
}
