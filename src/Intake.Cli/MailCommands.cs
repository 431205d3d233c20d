using System.CommandLine;
using Intake.Core.Errors;
using Intake.Engine.Configuration;
using Intake.Engine.Mail;
using Intake.Engine.Runtime;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Intake.Cli;

/// <summary>
/// <c>intake mail</c>: one message on standard input, as Postfix's <c>pipe</c> transport delivers it, taken in through the
/// Mail slice's receiver. Its exit codes are the ones Postfix understands (sysexits), not Intake's usual ones.
/// </summary>
internal static class MailCommands
{
    /// <summary>EX_NOUSER: no mail route takes the recipient; Postfix bounces the message.</summary>
    public const int NoUser = 67;

    /// <summary>EX_UNAVAILABLE: the message is over the size limit; Postfix bounces it.</summary>
    public const int TooLarge = 69;

    /// <summary>
    /// EX_TEMPFAIL: the message could not be made durable (disk full, store or catalog down), or Intake cannot run now (its
    /// configuration is invalid, the command line is wrong): Postfix keeps the message and tries again later.
    /// </summary>
    public const int TempFail = 75;

    public const string HelpText = """
        Exit codes (sysexits, as Postfix reads them): 0 accepted, or received before (one load either way);
        67 no route takes the recipient (bounced); 69 the message is too large (bounced);
        75 cannot take it now: not on disk yet, store or catalog down, or the configuration invalid (Postfix tries again).
        """;

    public static Command Build()
    {
        var pipeline = new Option<string[]>("--pipeline", "-p") { Description = "Only the routes of this mail pipeline (repeatable)" };
        var recipient = new Option<string[]>("--recipient", "-r")
        {
            Description = "The envelope recipient (Postfix: ${recipient}); repeatable. Without one, the message's To and Cc decide",
            AllowMultipleArgumentsPerToken = true,
        };
        var sender = new Option<string?>("--sender", "-f") { Description = "The envelope sender (Postfix: ${sender}); empty for a bounce" };
        var client = new Option<string?>("--client") { Description = "Where the message came from, for the record (Postfix: ${client_address})" };
        var cmd = new Command("mail", $"""
            Read one message (RFC 5322) on standard input and take it in: it is routed by the routes of the mail pipelines,
            written to the inbox (durably) and registered as a load, which 'intake run' or 'intake serve' carries on.
            For Postfix's master.cf: flags=Rq user=intake argv=/usr/local/bin/intake mail --config /etc/intake --sender ${"{"}sender{"}"} --recipient ${"{"}recipient{"}"}
            {HelpText}
            """)
        {
            pipeline, recipient, sender, client,
        };
        cmd.SetAction((parse, ct) => ReceiveAsync(parse, parse.GetValue(pipeline), parse.GetValue(recipient) ?? [], parse.GetValue(sender), parse.GetValue(client), ct));
        return cmd;
    }

    private static async Task<int> ReceiveAsync(ParseResult parse, string[]? pipelines, string[] recipients, string? sender, string? client, CancellationToken ct)
    {
        MailPhases.Mark("main");
        IntakeConfig config;
        try
        {
            config = ConfigLoader.Load(ConfigLoader.Locate(parse.GetValue<string?>("--config")));
        }
        catch (ConfigException e)
        {
            return Answer(TempFail, $"cannot take mail now, the configuration is invalid: {e.Message}");
        }

        MailPhases.Mark("configuration read");
        using var logs = parse.GetValue<bool>("--verbose") ? Terminal.CreateLogs(interactive: false, verbose: true) : null;
        try
        {
            await using var runtime = await IntakeRuntime.OpenAsync(config, OutageOptions.OneShot, TimeProvider.System, logs ?? (ILoggerFactory)NullLoggerFactory.Instance, ct);
            MailPhases.Mark("catalog opened");
            var receiver = new MailReceiver(runtime, pipelines is { Length: > 0 } ? pipelines : null);
            var envelope = new MailEnvelope(sender, recipients.SelectMany(r => r.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)).ToList(), client ?? "pipe");
            await using var stdin = Console.OpenStandardInput();
            var receipt = await receiver.ReceiveAsync(stdin, envelope, ct);
            MailPhases.Mark("received");
            return Answer(receipt.Outcome switch
            {
                MailReceiveOutcome.Accepted or MailReceiveOutcome.Duplicate => ExitCodes.Ok,
                MailReceiveOutcome.RecipientUnknown => NoUser,
                MailReceiveOutcome.TooLarge => TooLarge,
                _ => TempFail,
            }, receipt.Message);
        }
        catch (IntakeException e)
        {
            // The catalog unreachable, a store that cannot be opened: nothing was taken, Postfix tries again.
            return Answer(TempFail, $"cannot take mail now: {e.Message}");
        }
        catch (ArgumentException e)
        {
            return Answer(TempFail, $"cannot take mail now: {e.Message}");
        }
    }

    /// <summary>One line on standard error, which Postfix puts in its log (and in the bounce when it bounces).</summary>
    private static int Answer(int code, string message)
    {
        Console.Error.WriteLine($"intake mail: {message.ReplaceLineEndings(" ")}");
        return code;
    }
}
