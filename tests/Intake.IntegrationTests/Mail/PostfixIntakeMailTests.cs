using System.Diagnostics;
using Intake.Catalog;
using Intake.Core.Model;
using Intake.Core.Ports;
using Intake.Tests.Shared;

namespace Intake.IntegrationTests.Mail;

/// <summary>A fact that needs the test Postfix and PostgreSQL (the catalog both the pipe user and the test reach).</summary>
public sealed class PostfixAndPostgresFactAttribute : FactAttribute
{
    public PostfixAndPostgresFactAttribute() =>
        Skip = TestServers.SkipUnless(TestPostfix.IsReachable && TestPostgres.IsReachable, "Postfix or PostgreSQL is not running (scripts/servers/postfix.sh and postgres.sh start them; scripts/test.sh does)");
}

/// <summary>
/// The production mail path: swaks → the real Postfix → its <c>pipe</c> transport running <c>intake mail</c> as an
/// unprivileged user → the message in the inbox and its load in the catalog → a worker routes and archives it. A
/// first delivery that cannot be made durable (the catalog refuses) exits 75: Postfix keeps the mail and retries, and
/// the retry makes exactly one load.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class PostfixIntakeMailTests : IDisposable
{
    private readonly string _id = Guid.NewGuid().ToString("N")[..10];
    private readonly TestWorkspace _ws = new();

    private string Domain => $"m{_id}.{TestPostfix.Server.Domain}";

    private string Hook => Path.Combine(TestPostfix.Server.Hooks, Domain);

    public void Dispose()
    {
        if (TestPostfix.IsReachable && File.Exists(Hook))
        {
            File.Delete(Hook);
        }

        _ws.Dispose();
    }

    [PostfixAndPostgresFact]
    public async Task ReportThroughPostfix_IsOneLoad_AfterATemporaryFailureAndPostfixsRetry_AndIsArchivedUnderItsRoute()
    {
        var connection = await TestPostgres.CreateDatabaseAsync("postfixmail");
        _ws.WriteConfig(catalog: $"  kind: postgres\n  connection: \"{connection}\"");
        File.WriteAllText(Path.Combine(_ws.Root, "pipelines", "mail.yaml"), $$"""
            name: mail
            customer: hview
            source: { kind: mail }
            steps: [receive, route, archive]
            routes:
              - name: system_report
                recipient: "reports+{customer}@{{Domain}}"
                senders: ["*@hydrastor.example"]
                subject: "^System report of (?<grid>[a-z_]+)$"
                customer: "{customer}"
                category: hydrastor
                type: system_report
                group: "{grid}"
            """);
        await using (var catalog = new PostgresCatalog(connection, TimeProvider.System))
        {
            await catalog.MigrateAsync(default);
        }

        // Postfix runs the pipe as its unprivileged user: it must reach the project and write its store.
        Directory.CreateDirectory(_ws.StoreRoot);
        foreach (var path in Directory.EnumerateFileSystemEntries(_ws.Root, "*", SearchOption.AllDirectories).Append(_ws.Root))
        {
            File.SetUnixFileMode(path, (UnixFileMode)0b111_111_111);
        }

        // The first attempt fails as a catalog outage would (a config that does not exist is not it: exit 75 either
        // way, and the test needs the real cause): the hook points intake at an unreachable catalog once.
        var unreachable = Path.Combine(_ws.Root, "unreachable");
        Directory.CreateDirectory(Path.Combine(unreachable, "pipelines"));
        File.Copy(Path.Combine(_ws.Root, "pipelines", "mail.yaml"), Path.Combine(unreachable, "pipelines", "mail.yaml"));
        File.WriteAllText(Path.Combine(unreachable, "intake.yaml"), """
            catalog: { kind: postgres, connection: "Host=127.0.0.1;Port=1;Username=postgres;Database=none;Timeout=2" }
            stores: { local: { kind: local, root: ../.intake/store } }
            """);
        foreach (var path in Directory.EnumerateFileSystemEntries(unreachable, "*", SearchOption.AllDirectories).Append(unreachable))
        {
            File.SetUnixFileMode(path, (UnixFileMode)0b111_111_111);
        }

        var attempts = Path.Combine(_ws.Root, "attempts");
        File.WriteAllText(Hook, $"""
            #!/bin/sh
            export HOME=/tmp DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
            echo attempt >> "{attempts}"
            config="{_ws.Root}"
            [ "$(wc -l < "{attempts}")" -eq 1 ] && config="{unreachable}"
            exec dotnet "{TestWorkspace.CliDll}" mail --config "$config" --sender "$1" --recipient "$2"
            """.ReplaceLineEndings("\n"));
        File.SetUnixFileMode(Hook, (UnixFileMode)0b111_101_101);

        await SwaksAsync("nas1@hydrastor.example", $"reports+bobs_burgers@{Domain}", "System report of icecream_machine", "Capacity: 42%");

        Load? load = null;
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(120);
        await using (var catalog = new PostgresCatalog(connection, TimeProvider.System))
        {
            while (DateTime.UtcNow < deadline && load is null)
            {
                load = (await catalog.ListLoadsAsync(new LoadQuery { Pipeline = "mail" }, default)).SingleOrDefault();
                await Task.Delay(500);
            }
        }

        load.ShouldNotBeNull($"no load after two minutes; pipe attempts: {(File.Exists(attempts) ? File.ReadAllLines(attempts).Length : 0)}; Postfix log:\n{PostfixLog()}");
        File.ReadAllLines(attempts).Length.ShouldBe(2, "the first attempt exits 75 and Postfix retries once");
        PostfixLog().ShouldContain("status=deferred");
        load.Customer.ShouldBe("bobs_burgers");

        var run = await RunIntakeAsync("run", "--once", "--config", _ws.Root);
        run.ShouldContain("1 archived");
        await using (var catalog = new PostgresCatalog(connection, TimeProvider.System))
        {
            var loads = await catalog.ListLoadsAsync(new LoadQuery { Pipeline = "mail" }, default);
            var archived = loads.ShouldHaveSingleItem();
            archived.Status.ShouldBe(LoadStatus.Archived);
            archived.InboxKey!.ShouldStartWith("bobs_burgers/hydrastor/system_report/icecream_machine/");
        }

        Directory.EnumerateFiles(Path.Combine(_ws.StoreRoot, "archive"), "message.eml", SearchOption.AllDirectories).ShouldHaveSingleItem()
            .ShouldContain(Path.Combine("bobs_burgers", "hydrastor", "system_report", "icecream_machine"));
    }

    /// <summary>
    /// A sender that sends the same report again (its Message-ID, Date and body unchanged): Postfix gives each send a
    /// Received: of its own (and the pipe a Return-Path), yet it is one load; another body, or another field below the
    /// trace fields, is a load of its own.
    /// </summary>
    [PostfixAndPostgresFact]
    public async Task SameReportSentTwiceThroughPostfix_IsOneLoad_AnotherBodyOrHeaderIsAnother()
    {
        var connection = await TestPostgres.CreateDatabaseAsync("postfixresend");
        _ws.WriteConfig(catalog: $"  kind: postgres\n  connection: \"{connection}\"");
        File.WriteAllText(Path.Combine(_ws.Root, "pipelines", "mail.yaml"), $$"""
            name: mail
            customer: hview
            source: { kind: mail }
            steps: [receive, route, archive]
            routes:
              - name: system_report
                recipient: "reports+{customer}@{{Domain}}"
                senders: ["*@hydrastor.example"]
                subject: "^System report of (?<grid>[a-z_]+)$"
                customer: "{customer}"
                category: hydrastor
                type: system_report
                group: "{grid}"
            """);
        await using (var catalog = new PostgresCatalog(connection, TimeProvider.System))
        {
            await catalog.MigrateAsync(default);
        }

        Directory.CreateDirectory(_ws.StoreRoot);
        foreach (var path in Directory.EnumerateFileSystemEntries(_ws.Root, "*", SearchOption.AllDirectories).Append(_ws.Root))
        {
            File.SetUnixFileMode(path, (UnixFileMode)0b111_111_111);
        }

        var attempts = Path.Combine(_ws.Root, "attempts");
        File.WriteAllText(Hook, $"""
            #!/bin/sh
            export HOME=/tmp DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
            echo attempt >> "{attempts}"
            exec dotnet "{TestWorkspace.CliDll}" mail --config "{_ws.Root}" --sender "$1" --recipient "$2"
            """.ReplaceLineEndings("\n"));
        File.SetUnixFileMode(Hook, (UnixFileMode)0b111_101_101);

        var recipient = $"reports+bobs_burgers@{Domain}";
        string[] report = ["--header", "Message-Id: <report-7@hydrastor.example>", "--header", "Date: Fri, 13 Jan 2023 11:59:58 +0000"];
        await SwaksAsync("nas1@hydrastor.example", recipient, "System report of icecream_machine", "Capacity: 42%", report);
        await WaitForAttemptsAsync(attempts, 1);
        await Task.Delay(1100); // another second in the Received: field's time, whatever its id
        await SwaksAsync("nas1@hydrastor.example", recipient, "System report of icecream_machine", "Capacity: 42%", report);
        await SwaksAsync("nas1@hydrastor.example", recipient, "System report of icecream_machine", "Capacity: 43%", report);
        await SwaksAsync("nas1@hydrastor.example", recipient, "System report of icecream_machine", "Capacity: 42%", [.. report, "--header", "X-Mailer: reporter 2.0"]);
        await WaitForAttemptsAsync(attempts, 4);

        await using (var catalog = new PostgresCatalog(connection, TimeProvider.System))
        {
            var loads = await catalog.ListLoadsAsync(new LoadQuery { Pipeline = "mail" }, default);
            loads.Count.ShouldBe(3, $"loads: {string.Join("; ", loads.Select(l => l.Fingerprint))}; Postfix log:\n{PostfixLog()}");
            loads.ShouldAllBe(l => l.SourceKey == "report-7@hydrastor.example");
        }

        var inbox = Directory.EnumerateFiles(Path.Combine(_ws.StoreRoot, "inbox"), "message.eml", SearchOption.AllDirectories).ToList();
        inbox.Count.ShouldBe(3);
        inbox.ShouldAllBe(f => File.ReadAllText(f).StartsWith("Return-Path: <nas1@hydrastor.example>", StringComparison.Ordinal)); // kept byte for byte, trace fields too
        PostfixLog().Split('\n').Count(l => l.Contains("status=sent", StringComparison.Ordinal)).ShouldBe(4);
    }

    private async Task WaitForAttemptsAsync(string attempts, int count)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(120);
        while (DateTime.UtcNow < deadline && PostfixLog().Split('\n').Count(l => l.Contains("status=sent", StringComparison.Ordinal)) < count)
        {
            await Task.Delay(300);
        }

        PostfixLog().Split('\n').Count(l => l.Contains("status=sent", StringComparison.Ordinal)).ShouldBe(count, $"pipe attempts: {(File.Exists(attempts) ? File.ReadAllLines(attempts).Length : 0)}; Postfix log:\n{PostfixLog()}");
    }

    private string PostfixLog() =>
        string.Join("\n", File.ReadAllLines(TestPostfix.Server.Log).Where(l => l.Contains(Domain, StringComparison.Ordinal)));

    private static async Task SwaksAsync(string sender, string recipient, string subject, string body, string[]? more = null)
    {
        var start = new ProcessStartInfo("swaks") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in new[] { "--server", TestPostfix.Server.Host, "--port", TestPostfix.Server.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--from", sender, "--to", recipient, "--header", "Subject: " + subject, "--body", body }.Concat(more ?? []))
        {
            start.ArgumentList.Add(arg);
        }

        using var swaks = Process.Start(start)!;
        var output = ProcessOutput.Collect(swaks);
        await swaks.WaitForExitAsync();
        swaks.ExitCode.ShouldBe(0, $"swaks failed:\n{output()}");
    }

    private static async Task<string> RunIntakeAsync(params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add(TestWorkspace.CliDll);
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        using var p = Process.Start(psi)!;
        var output = ProcessOutput.Collect(p);
        await p.WaitForExitAsync();
        return output();
    }
}
