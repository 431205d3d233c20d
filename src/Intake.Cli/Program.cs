using System.CommandLine;
using Intake.Cli;

var root = Commands.Build(args);
var parse = root.Parse(args);
if (parse.Errors.Count > 0)
{
    foreach (var error in parse.Errors)
    {
        Console.Error.WriteLine($"intake: {error.Message}");
    }

    Console.Error.WriteLine("Run 'intake --help' (or 'intake COMMAND --help') for usage.");

    // Postfix keeps a message whose pipe command exits 75 and bounces on most other codes: a wrong master.cf line must not lose mail.
    return parse.CommandResult.Command.Name == "mail" ? MailCommands.TempFail : ExitCodes.Usage;
}

var code = await parse.InvokeAsync();
if (parse.CommandResult.Command.Name == "mail")
{
    Intake.Engine.Mail.MailPhases.Mark("exit"); // INTAKE_MAIL_PHASES=1: the runtime closed, the answer given
}

return code;
