using System.Diagnostics;
using System.Text;
using System.Text.Json;

namespace Intake.IntegrationTests.Mail;

/// <summary>
/// <c>intake mail</c> as Postfix's pipe transport runs it: a real process, the message on standard input, the answer in
/// its exit code (sysexits) and one line on standard error.
/// </summary>
public sealed class MailCommandTests : IDisposable
{
    private const string Recipient = "reports+bobs.s3cret-token@hview.example";
    private const string Sender = "nas1@hydrastor.example";
    private readonly TestWorkspace _ws = new();

    public MailCommandTests()
    {
        _ws.WriteConfig();
        WritePipeline();
    }

    public void Dispose() => _ws.Dispose();

    private string StoreRoot => _ws.StoreRoot;

    private void WritePipeline(string source = "{ kind: mail }") =>
        File.WriteAllText(Path.Combine(_ws.Root, "pipelines", "mail.yaml"), $$"""
            name: mail
            customer: acme
            source: {{source}}
            steps: [receive, route, archive]
            routes:
              - name: system_report
                recipient: "reports+{customer}.{token}@hview.example"
                token: s3cret-token
                senders: ["*@hydrastor.example"]
                subject: "^System report of (?<grid>[A-Za-z0-9_]+)$"
                customer: "{customer}"
                category: hydrastor
                group: "{grid}"
            """);

    private static byte[] Message(string id = "r1@hydrastor.example", int bodyBytes = 16) => Encoding.UTF8.GetBytes(
        $"From: <{Sender}>\r\nTo: <{Recipient}>\r\nSubject: System report of icecream_machine\r\nMessage-ID: <{id}>\r\n\r\n{new string('x', bodyBytes)}\r\n");

    private Process Start(params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet")
        {
            RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = _ws.Root,
        };
        psi.ArgumentList.Add(TestWorkspace.CliDll);
        psi.ArgumentList.Add("mail");
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        return Process.Start(psi)!;
    }

    /// <summary>Runs <c>intake mail</c> as Postfix's master.cf line does, the message on standard input.</summary>
    private async Task<(int Exit, string Stderr)> MailAsync(byte[] message, string recipient = Recipient, params string[] extra)
    {
        using var p = Start(["--config", _ws.Root, "--sender", Sender, "--recipient", recipient, .. extra]);
        var stderr = p.StandardError.ReadToEndAsync();
        var stdout = p.StandardOutput.ReadToEndAsync();
        try
        {
            await p.StandardInput.BaseStream.WriteAsync(message);
            p.StandardInput.Close();
        }
        catch (IOException)
        {
            // It stopped reading (a message over the limit): Postfix sees the same broken pipe and reads the exit code.
        }

        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        await p.WaitForExitAsync(timeout.Token);
        await stdout;
        return (p.ExitCode, (await stderr).Trim());
    }

    private long Loads() => _ws.Scalar(_ws.CatalogPath, "SELECT COUNT(*) FROM intake_loads");

    private List<string> InboxMessages() =>
        Directory.Exists(Path.Combine(StoreRoot, "inbox"))
            ? Directory.EnumerateFiles(Path.Combine(StoreRoot, "inbox"), "*", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(StoreRoot, f)).ToList()
            : [];

    [Fact]
    public async Task Mail_ExitCodes_AreTheOnesPostfixReads_AndTheLoadRunsThroughItsSteps()
    {
        var accepted = await MailAsync(Message());
        var duplicate = await MailAsync(Message());
        var unknown = await MailAsync(Message("r2@hydrastor.example"), "reports+bobs.guessed@hview.example");

        accepted.Exit.ShouldBe(0, accepted.Stderr);
        accepted.Stderr.ShouldStartWith("intake mail: accepted as load 1 of pipeline mail (route system_report: bobs/hydrastor/system_report/icecream_machine)");
        duplicate.Exit.ShouldBe(0, duplicate.Stderr);
        duplicate.Stderr.ShouldBe("intake mail: received before as load 1 of pipeline mail; not registered again");
        unknown.Exit.ShouldBe(67, unknown.Stderr);
        unknown.Stderr.ShouldBe("intake mail: no mail route takes reports+bobs.guessed@hview.example");
        Loads().ShouldBe(1);
        InboxMessages().ShouldHaveSingleItem().ShouldStartWith("inbox/bobs/hydrastor/system_report/icecream_machine/");

        (await _ws.RunCliAsync("run", "--once")).ExitCode.ShouldBe(0);
        var show = await _ws.RunCliAsync("show", "1", "--json");
        show.ExitCode.ShouldBe(0, show.Stderr);
        using var doc = JsonDocument.Parse(show.Stdout);
        doc.RootElement.GetProperty("load").GetProperty("status").GetString().ShouldBe("archived");
        doc.RootElement.GetProperty("steps").EnumerateArray().Select(s => s.GetProperty("step").GetString()).ShouldBe(["receive", "route", "archive"]);
    }

    [Fact]
    public async Task Mail_OverTheLimit_Exits69_AndKeepsNothing()
    {
        WritePipeline("{ kind: mail, max_message_size: 4KiB }");

        var (exit, stderr) = await MailAsync(Message(bodyBytes: 1024 * 1024));

        exit.ShouldBe(69, stderr);
        stderr.ShouldBe("intake mail: the message is larger than 4096 bytes, the most this address takes");
        InboxMessages().ShouldBeEmpty();
    }

    [Fact]
    public async Task Mail_StoreCannotWrite_Exits75_ThenPostfixsRetryIsOneLoad()
    {
        Directory.CreateDirectory(StoreRoot);
        File.WriteAllText(Path.Combine(StoreRoot, "inbox"), "in the way"); // the inbox cannot be written

        var failed = await MailAsync(Message());
        File.Delete(Path.Combine(StoreRoot, "inbox"));
        var retried = await MailAsync(Message());

        failed.Exit.ShouldBe(75, failed.Stderr);
        failed.Stderr.ShouldStartWith("intake mail: cannot keep the message now, try again later:");
        retried.Exit.ShouldBe(0, retried.Stderr);
        Loads().ShouldBe(1);
        InboxMessages().ShouldHaveSingleItem();
    }

    [Fact]
    public async Task Mail_InvalidConfiguration_Exits75_SoPostfixKeepsTheMail()
    {
        File.WriteAllText(Path.Combine(_ws.Root, "pipelines", "mail.yaml"), "name: mail\nsource: { kind: mail }\nsteps: [receive, route]\n");

        var (exit, stderr) = await MailAsync(Message());

        exit.ShouldBe(75);
        stderr.ShouldStartWith("intake mail: cannot take mail now, the configuration is invalid:");
        stderr.ShouldContain("routes: is required for source.kind: mail");
    }

    [Fact]
    public async Task Mail_WrongCommandLine_Exits75_SoPostfixKeepsTheMail()
    {
        var (exit, stderr) = await MailAsync(Message(), Recipient, "--pipeline"); // an option without its value

        exit.ShouldBe(75);
        stderr.ShouldContain("--pipeline");
    }

    [Fact]
    public async Task Mail_KilledWhileReading_KeepsNothing_AndThePostfixRetryIsOneLoad()
    {
        using (var p = Start("--config", _ws.Root, "--sender", Sender, "--recipient", Recipient))
        {
            var message = Message(bodyBytes: 256 * 1024);
            await p.StandardInput.BaseStream.WriteAsync(message.AsMemory(0, message.Length / 2));
            await p.StandardInput.BaseStream.FlushAsync();
            p.Kill(entireProcessTree: true); // SIGKILL: no clean-up of any kind runs
            await p.WaitForExitAsync();
        }

        InboxMessages().ShouldBeEmpty();
        var retried = await MailAsync(Message(bodyBytes: 256 * 1024));

        retried.Exit.ShouldBe(0, retried.Stderr);
        Loads().ShouldBe(1);
        InboxMessages().ShouldHaveSingleItem();
    }

    /// <summary>
    /// A full disk, for real: the store's folder is a 512 KiB tmpfs and the message 2 MiB. Needs root (mount); skipped
    /// where the test does not run as root.
    /// </summary>
    [RootFact]
    public async Task Mail_DiskFull_Exits75_WithoutALoad_AndTheRetryOnceThereIsSpaceIsOneLoad()
    {
        Directory.CreateDirectory(StoreRoot);
        (await RunAsync("mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", StoreRoot)).ShouldBeTrue("mount a tmpfs as the store's folder");

        (int Exit, string Stderr) full;
        try
        {
            full = await MailAsync(Message(bodyBytes: 2 * 1024 * 1024));
        }
        finally
        {
            await RunAsync("umount", StoreRoot);
        }

        full.Exit.ShouldBe(75, full.Stderr);
        full.Stderr.ShouldContain("No space left on device");
        Loads().ShouldBe(0);

        var retried = await MailAsync(Message(bodyBytes: 2 * 1024 * 1024));
        retried.Exit.ShouldBe(0, retried.Stderr);
        Loads().ShouldBe(1);
    }

    private static async Task<bool> RunAsync(string file, params string[] args)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        try
        {
            using var p = Process.Start(psi)!;
            await p.WaitForExitAsync();
            return p.ExitCode == 0;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return false;
        }
    }
}

/// <summary>A fact that mounts file systems: it needs root on Linux, and is skipped elsewhere.</summary>
public sealed class RootFactAttribute : FactAttribute
{
    public RootFactAttribute() =>
        Skip = OperatingSystem.IsLinux() && Environment.IsPrivilegedProcess ? null : "needs root on Linux (it mounts a tmpfs)";
}
