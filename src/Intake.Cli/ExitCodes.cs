using Intake.Core.Errors;

namespace Intake.Cli;

/// <summary>What the process exit code tells a script. Documented in the README and in --help.</summary>
public static class ExitCodes
{
    /// <summary>Everything asked for was done.</summary>
    public const int Ok = 0;
    /// <summary>An unexpected internal failure; the message says where.</summary>
    public const int InternalError = 1;
    /// <summary>Invalid command line or configuration; nothing was done.</summary>
    public const int Usage = 2;
    /// <summary>The run finished but one or more loads ended errored.</summary>
    public const int LoadsFailed = 3;
    /// <summary>The catalog, a store, a warehouse or a pipeline's source could not be reached.</summary>
    public const int Unavailable = 4;
    /// <summary>The load (or pipeline) asked for does not exist.</summary>
    public const int NotFound = 5;
    /// <summary>intake audit found loads that break an invariant.</summary>
    public const int AuditProblems = 6;
    /// <summary>Interrupted (Ctrl-C or SIGTERM); loads in progress were handed back.</summary>
    public const int Interrupted = 130;

    public const string HelpText = """
        Exit codes: 0 ok; 1 internal error; 2 invalid command line or configuration;
        3 one or more loads errored; 4 catalog, store or warehouse unreachable;
        5 not found; 6 audit found problems; 130 interrupted.
        """;

    /// <summary>A failure every command reports the same way: a bad configuration, or something unreachable.</summary>
    internal static bool IsReported(IntakeException e) => e.Kind is ErrorKind.Config or ErrorKind.Transient;

    /// <summary>Tells the user about <paramref name="e"/> (one of <see cref="IsReported"/>) and returns the exit code for it.</summary>
    internal static int Report(IntakeException e)
    {
        if (e.Kind == ErrorKind.Transient)
        {
            Console.Error.WriteLine($"intake: unavailable: {e.Message}");
            return Unavailable;
        }

        Console.Error.WriteLine($"intake: {e.Message}");
        return Usage;
    }
}
