using System.Diagnostics;
using System.Globalization;

namespace Intake.Engine.Mail;

/// <summary>
/// A diagnostic of <c>intake mail</c>'s cost: with <c>INTAKE_MAIL_PHASES=1</c> in the environment, each phase of a
/// delivery (configuration read, catalog opened, message spooled, routed, durable, registered) is written to standard
/// error with the process's CPU time and the wall time since the process started. Off, it costs one check per phase.
/// bench/mail/README.md has the breakdown it gave.
/// </summary>
public static class MailPhases
{
    private static readonly bool Enabled = Environment.GetEnvironmentVariable("INTAKE_MAIL_PHASES") == "1";
    private static TimeSpan _lastCpu;

    /// <summary>Writes one line for the phase just finished, when enabled.</summary>
    public static void Mark(string phase)
    {
        if (!Enabled)
        {
            return;
        }

        var cpu = Environment.CpuUsage.TotalTime;
        using var self = Process.GetCurrentProcess();
        var wall = TimeProvider.System.GetUtcNow().UtcDateTime - self.StartTime.ToUniversalTime();
        Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"intake mail phase: {phase,-22} cpu {cpu.TotalSeconds:0.000} s (+{(cpu - _lastCpu).TotalSeconds:0.000})  wall {wall.TotalSeconds:0.000} s"));
        _lastCpu = cpu;
    }
}
