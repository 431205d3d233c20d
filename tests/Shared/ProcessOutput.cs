using System.Diagnostics;
using System.Text;

namespace Intake.Tests.Shared;

/// <summary>What a child process writes, collected as it runs.</summary>
public static class ProcessOutput
{
    /// <summary>Starts reading stdout and stderr; the function returns everything written so far.</summary>
    public static Func<string> Collect(Process process)
    {
        ArgumentNullException.ThrowIfNull(process);
        var output = new StringBuilder();
        void Add(string? line)
        {
            if (line is not null)
            {
                lock (output)
                {
                    output.AppendLine(line);
                }
            }
        }

        process.OutputDataReceived += (_, e) => Add(e.Data);
        process.ErrorDataReceived += (_, e) => Add(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return () =>
        {
            lock (output)
            {
                return output.ToString();
            }
        };
    }
}
