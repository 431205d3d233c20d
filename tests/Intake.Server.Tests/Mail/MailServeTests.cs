using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Intake.Catalog;
using Intake.Core.Ports;
using Intake.Server.Auth;
using Intake.Tests.Shared;
using Microsoft.Data.Sqlite;

namespace Intake.Server.Tests.Mail;

/// <summary>
/// The whole HView mail path through a real <c>intake serve --smtp</c> on PostgreSQL: a report sent over SMTP is answered
/// 250 once stored, routed by its recipient and subject, taken apart (its CSV attachment) and loaded; the same message
/// again is one load; a recipient no route takes is refused at RCPT; a message from a sender the route does not allow
/// is kept and errored (config), never dropped.
/// </summary>
public sealed class MailServeTests
{
    [PostgresFact]
    public async Task ReportOverSmtp_IsStoredRoutedExtractedAndLoaded_Once_AndUnroutableMailIsKept()
    {
        var connection = await TestPostgres.CreateDatabaseAsync("mailserve");
        using var workspace = new Workspace(connection);
        File.WriteAllText(Path.Combine(workspace.Root, "pipelines", "mail.yaml"), """
            name: mail
            customer: hview
            source: { kind: mail, max_message_size: 1MiB }
            steps: [receive, route, extract, archive, load]
            csv: { files: ["attachments/*.csv"] }
            load: { table: capacity }
            routes:
              - name: system_report
                recipient: "reports+{customer}@hview.example"
                senders: ["*@hydrastor.example"]
                subject: "^System report of (?<grid>[a-z_]+)$"
                customer: "{customer}"
                category: hydrastor
                type: system_report
                group: "{grid}"
            """);
        string key;
        await using (var catalog = new PostgresCatalog(connection, TimeProvider.System))
        {
            await catalog.MigrateAsync(default);
            key = (await ApiKeys.CreateAsync(catalog, "*", ApiKeyScope.Admin, null, default)).Key;
        }

        var port = FreePort();
        await using var serve = await workspace.StartServeAsync("--workers", "1", "--poll", "200ms", "--smtp", $"127.0.0.1:{port}");
        using var api = serve.Client(key);
        var endpoint = new IPEndPoint(IPAddress.Loopback, port);

        var report = Message("nas1@hydrastor.example", "reports+bobs_burgers@hview.example", "System report of icecream_machine", "<r1@hydrastor.example>",
            ("capacity.csv", "node,used\nn1,42\nn2,17\n"));
        await using (var smtp = await SmtpTestClient.ConnectAsync(endpoint))
        {
            (await smtp.EnvelopeAsync("nas1@hydrastor.example", "reports+bobs_burgers@hview.example")).ShouldAllBe(r => r.StartsWith("250"));
            (await smtp.DataAsync(report)).ShouldStartWith("250");

            // The same message again (a sender that did not hear the 250 retries): answered 250, still one load.
            (await smtp.EnvelopeAsync("nas1@hydrastor.example", "reports+bobs_burgers@hview.example")).ShouldAllBe(r => r.StartsWith("250"));
            (await smtp.DataAsync(report)).ShouldStartWith("250");

            // No route takes this address: refused before the data.
            (await smtp.SendAsync("RSET")).ShouldStartWith("250");
            (await smtp.SendAsync("MAIL FROM:<nas1@hydrastor.example>")).ShouldStartWith("250");
            (await smtp.SendAsync("RCPT TO:<someone@elsewhere.example>")).ShouldStartWith("550");
        }

        // Right address, sender the route does not allow: accepted and kept, then errored (config) with the reason.
        await using (var smtp = await SmtpTestClient.ConnectAsync(endpoint))
        {
            (await smtp.EnvelopeAsync("intruder@evil.example", "reports+bobs_burgers@hview.example")).ShouldAllBe(r => r.StartsWith("250"));
            (await smtp.DataAsync(Message("intruder@evil.example", "reports+bobs_burgers@hview.example", "System report of icecream_machine", "<x1@evil.example>"))).ShouldStartWith("250");
        }

        var loads = await WaitForFinalAsync(api, 2);
        loads.Count.ShouldBe(2);
        var routed = loads.Single(l => l.GetProperty("status").GetString() == "archived");
        routed.GetProperty("customer").GetString().ShouldBe("bobs_burgers");
        routed.GetProperty("inbox_key").GetString()!.ShouldStartWith("bobs_burgers/hydrastor/system_report/icecream_machine/");
        var unroutable = loads.Single(l => l.GetProperty("status").GetString() == "errored");
        unroutable.GetProperty("error_kind").GetString().ShouldBe("config");
        unroutable.GetProperty("error_message").GetString()!.ShouldContain("intruder@evil.example");

        var (_, detail, _) = await api.GetJsonAsync($"/api/v1/loads/{routed.GetProperty("id").GetInt64()}");
        var steps = detail.GetProperty("steps").EnumerateArray().Select(s => s.GetProperty("step").GetString()).ToList();
        steps.ShouldBe(["receive", "route", "extract", "load", "archive"]);

        await using var warehouse = new SqliteConnection($"Data Source={Path.Combine(workspace.Root, ".intake", "warehouse.db")};Pooling=false");
        await warehouse.OpenAsync();
        await using var count = warehouse.CreateCommand();
        count.CommandText = "SELECT group_concat(node || '=' || used, ',') FROM (SELECT node, used FROM capacity ORDER BY node)";
        (await count.ExecuteScalarAsync()).ShouldBe("n1=42,n2=17");
    }

    private static async Task<List<JsonElement>> WaitForFinalAsync(HttpClient api, int expected)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        List<JsonElement> loads = [];
        while (DateTime.UtcNow < deadline)
        {
            var (_, page, _) = await api.GetJsonAsync("/api/v1/loads?pipeline=mail");
            loads = page.GetProperty("items").EnumerateArray().ToList();
            if (loads.Count >= expected && loads.All(l => l.GetProperty("status").GetString() is "archived" or "errored"))
            {
                break;
            }

            await Task.Delay(200);
        }

        return loads;
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static byte[] Message(string from, string to, string subject, string messageId, params (string Name, string Content)[] attachments)
    {
        var text = new StringBuilder();
        text.Append($"From: <{from}>\r\nTo: <{to}>\r\nSubject: {subject}\r\nMessage-ID: {messageId}\r\nMIME-Version: 1.0\r\n");
        text.Append("Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/plain\r\n\r\nDaily report.\r\n");
        foreach (var (name, content) in attachments)
        {
            text.Append($"--b1\r\nContent-Type: text/csv\r\nContent-Disposition: attachment; filename=\"{name}\"\r\n\r\n{content.Replace("\n", "\r\n", StringComparison.Ordinal)}");
        }

        text.Append("--b1--\r\n");
        return Encoding.ASCII.GetBytes(text.ToString());
    }
}
