using System.Diagnostics;
using System.Text;
using Intake.Tests.Shared;

namespace Intake.IntegrationTests.Mail;

/// <summary>
/// The Postfix recipe Intake's mail intake relies on, against the real Postfix of scripts/servers/postfix.sh: swaks
/// sends over SMTP, Postfix's <c>pipe</c> transport runs a command with <c>${sender} ${recipient}</c> and the message on
/// stdin, and a command that exits 75 or is killed leaves the mail queued for a retry. The command here is a small shell
/// script (the receiver, <c>intake mail</c>, is tested on its own); each test has a recipient domain of its own.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")] // Postfix and its pipe user exist on Linux only
public sealed class PostfixTransportTests : IDisposable
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(90);
    private readonly string _id = Guid.NewGuid().ToString("N")[..10];
    private readonly string _out;

    public PostfixTransportTests()
    {
        _out = Path.Combine(Path.GetTempPath(), "intake-postfix-" + _id);
        Directory.CreateDirectory(_out);
        // The pipe runs as the unprivileged pipe user: it must be able to write here.
        File.SetUnixFileMode(_out, (UnixFileMode)0b111_111_111);
    }

    private static TestPostfix.Settings Server => TestPostfix.Server;

    private string Domain => $"t{_id}.{Server.Domain}";

    private string Hook => Path.Combine(Server.Hooks, Domain);

    public void Dispose()
    {
        if (TestPostfix.IsReachable && File.Exists(Hook))
        {
            File.Delete(Hook);
        }

        Directory.Delete(_out, recursive: true);
    }

    [PostfixFact]
    public async Task Pipe_GetsTheMessageOnStdin_WithEnvelopeSenderAndRecipientAsArguments()
    {
        WriteHook($"""
            n=$(date +%s%N)
            printf '%s\n%s\n' "$1" "$2" > "{_out}/$n.envelope"
            id -un > "{_out}/$n.user"
            cat > "{_out}/$n.part" && mv "{_out}/$n.part" "{_out}/$n.eml"
            """);
        var recipient = $"reports+acme@{Domain}";

        await SendAsync($"sender-{_id}@example.org", recipient, "System report grid7", $"body line {_id}");

        var message = await WaitForAsync(() => Directory.GetFiles(_out, "*.eml").SingleOrDefault());
        var text = await File.ReadAllTextAsync(message);
        text.ShouldContain("Subject: System report grid7");
        text.ShouldContain($"body line {_id}");
        var envelope = await File.ReadAllLinesAsync(Path.ChangeExtension(message, ".envelope"));
        envelope.ShouldBe([$"sender-{_id}@example.org", recipient]);
        (await File.ReadAllTextAsync(Path.ChangeExtension(message, ".user"))).Trim().ShouldBe(Server.PipeUser);
    }

    [PostfixFact]
    public async Task PipeExit75_KeepsTheMailQueued_AndTheRetryDeliversItExactlyOnce()
    {
        WriteHook($"""
            echo attempt >> "{_out}/attempts"
            if [ ! -e "{_out}/failed-once" ]; then
              : > "{_out}/failed-once"
              cat > /dev/null
              echo "cannot make the message durable now" >&2
              exit 75
            fi
            cat > "{_out}/delivered.$(date +%s%N).eml"
            """);
        var recipient = $"feed@{Domain}";

        await SendAsync($"s-{_id}@example.org", recipient, "retry me", $"retry body {_id}");

        await WaitForAsync(() => LogLines(recipient).Any(l => l.Contains("status=sent", StringComparison.Ordinal)) ? "sent" : null);
        var log = LogLines(recipient);
        log.ShouldContain(l => l.Contains("status=deferred", StringComparison.Ordinal) && l.Contains("cannot make the message durable now", StringComparison.Ordinal));
        log.Count(l => l.Contains("status=sent", StringComparison.Ordinal)).ShouldBe(1);
        (await File.ReadAllLinesAsync(Path.Combine(_out, "attempts"))).Length.ShouldBe(2);
        var delivered = Directory.GetFiles(_out, "delivered.*.eml").ShouldHaveSingleItem();
        (await File.ReadAllTextAsync(delivered)).ShouldContain($"retry body {_id}");
        (await QueueAsync()).ShouldNotContain(recipient);
    }

    [PostfixFact]
    public async Task PipeKilledMidDelivery_IsRetried_AndTheRetryGetsTheWholeMessage()
    {
        WriteHook($"""
            echo attempt >> "{_out}/attempts"
            if [ ! -e "{_out}/killed-once" ]; then
              : > "{_out}/killed-once"
              head -c 200 > "{_out}/partial"
              kill -KILL $$
            fi
            cat > "{_out}/delivered.$(date +%s%N).eml"
            """);
        var recipient = $"feed@{Domain}";
        var body = string.Join("\n", Enumerable.Range(0, 2000).Select(i => $"line {i} of a long report")) + $"\nend of report {_id}";

        await SendAsync($"s-{_id}@example.org", recipient, "killed once", body);

        await WaitForAsync(() => LogLines(recipient).Any(l => l.Contains("status=sent", StringComparison.Ordinal)) ? "sent" : null);
        LogLines(recipient).ShouldContain(l => l.Contains("status=deferred", StringComparison.Ordinal) && l.Contains("signal 9", StringComparison.Ordinal));
        (await File.ReadAllLinesAsync(Path.Combine(_out, "attempts"))).Length.ShouldBe(2);
        new FileInfo(Path.Combine(_out, "partial")).Length.ShouldBe(200);
        var delivered = await File.ReadAllTextAsync(Directory.GetFiles(_out, "delivered.*.eml").ShouldHaveSingleItem());
        delivered.ShouldContain("line 0 of a long report");
        delivered.ShouldContain($"end of report {_id}");
    }

    private void WriteHook(string body)
    {
        File.WriteAllText(Hook, "#!/bin/sh\n" + body.ReplaceLineEndings("\n") + "\n");
        File.SetUnixFileMode(Hook, (UnixFileMode)0b111_101_101);
    }

    /// <summary>Sends one message through Postfix's SMTP port with swaks (installed with Postfix by the script).</summary>
    private static async Task SendAsync(string sender, string recipient, string subject, string body)
    {
        var bodyFile = Path.GetTempFileName();
        try
        {
            await File.WriteAllTextAsync(bodyFile, body);
            var start = new ProcessStartInfo("swaks") { RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (var arg in new[] { "--server", Server.Host, "--port", Server.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--from", sender, "--to", recipient, "--header", "Subject: " + subject, "--body", bodyFile })
            {
                start.ArgumentList.Add(arg);
            }

            using var swaks = Process.Start(start)!;
            var output = ProcessOutput.Collect(swaks);
            await swaks.WaitForExitAsync();
            swaks.ExitCode.ShouldBe(0, $"swaks failed:\n{output()}");
            output().ShouldContain("250 2.0.0 Ok: queued");
        }
        finally
        {
            File.Delete(bodyFile);
        }
    }

    /// <summary>Postfix's log lines about deliveries to <paramref name="recipient"/> (to=&lt;…&gt; status=…).</summary>
    private static List<string> LogLines(string recipient)
    {
        using var stream = new FileStream(Server.Log, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        using var reader = new StreamReader(stream, Encoding.UTF8);
        var lines = new List<string>();
        while (reader.ReadLine() is { } line)
        {
            if (line.Contains($"to=<{recipient}>", StringComparison.OrdinalIgnoreCase))
            {
                lines.Add(line);
            }
        }

        return lines;
    }

    private static async Task<string> QueueAsync()
    {
        var start = new ProcessStartInfo("postqueue", ["-c", Server.Config, "-p"]) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var postqueue = Process.Start(start)!;
        var output = ProcessOutput.Collect(postqueue);
        await postqueue.WaitForExitAsync();
        return output();
    }

    private async Task<string> WaitForAsync(Func<string?> probe)
    {
        var deadline = DateTime.UtcNow + Patience;
        while (true)
        {
            if (probe() is { } found)
            {
                return found;
            }

            if (DateTime.UtcNow > deadline)
            {
                var attempts = Path.Combine(_out, "attempts");
                throw new TimeoutException($"Postfix did not deliver within {Patience.TotalSeconds} s; files: {string.Join(", ", Directory.GetFiles(_out).Select(Path.GetFileName))}; "
                    + $"attempts: {(File.Exists(attempts) ? File.ReadAllLines(attempts).Length : 0)}; log:\n{string.Join("\n", File.ReadLines(Server.Log).TakeLast(30))}");
            }

            await Task.Delay(200);
        }
    }
}
