using Microsoft.Extensions.Logging;
using Spectre.Console;

namespace Intake.Cli;

/// <summary>Decides between the interactive face (tables, progress bars) and the plain one (log lines, JSON).</summary>
internal static class Terminal
{
    public static bool IsInteractive =>
        !Console.IsOutputRedirected && !Console.IsErrorRedirected
        && !string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase)
        && Environment.GetEnvironmentVariable("TERM") is not "dumb";

    /// <summary>
    /// Logs go to standard error, one structured line each; stdout stays for results (tables, JSON).
    /// On a terminal only warnings are logged, since progress bars say the rest.
    /// </summary>
    public static ILoggerFactory CreateLogs(bool interactive, bool verbose) => LoggerFactory.Create(b =>
    {
        b.SetMinimumLevel(verbose ? LogLevel.Debug : interactive ? LogLevel.Warning : LogLevel.Information);
        b.AddSimpleConsole(o =>
        {
            o.SingleLine = true;
            o.UseUtcTimestamp = true;
            o.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ ";
            o.ColorBehavior = Microsoft.Extensions.Logging.Console.LoggerColorBehavior.Disabled;
        });
        b.AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
    });

    public static IAnsiConsole Out { get; } = CreateOut();

    private static IAnsiConsole CreateOut()
    {
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Ansi = IsInteractive ? AnsiSupport.Detect : AnsiSupport.No,
            ColorSystem = IsInteractive ? ColorSystemSupport.Detect : ColorSystemSupport.NoColors,
            Out = new AnsiConsoleOutput(Console.Out),
        });
        if (!IsInteractive)
        {
            // Redirected output has no width; wide enough that a load's row stays on one line in a log or a pipe.
            console.Profile.Width = 200;
        }

        return console;
    }

    public static string Escape(string? s) => Markup.Escape(s ?? "");
}
