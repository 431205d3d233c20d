using System.Net.Sockets;

namespace Intake.Tests.Shared;

/// <summary>
/// What every test-server helper shares: reading the settings a <c>scripts/servers/*.sh start</c> prints into an
/// environment variable, checking the server answers, and the rule that a missing server skips a test on a developer
/// machine but fails it in CI (<c>CI=true</c>), where it must not hide.
/// </summary>
public static class TestServers
{
    /// <summary>The <c>key=value;key=value</c> settings in <paramref name="variable"/> (keys without case); empty when unset.</summary>
    public static Dictionary<string, string> Settings(string variable)
    {
        var result = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var part in (Environment.GetEnvironmentVariable(variable) ?? "").Split(';', StringSplitOptions.RemoveEmptyEntries))
        {
            var eq = part.IndexOf('=', StringComparison.Ordinal);
            if (eq > 0)
            {
                result[part[..eq].Trim()] = part[(eq + 1)..].Trim();
            }
        }

        return result;
    }

    /// <summary>Whether something accepts TCP connections at the address.</summary>
    public static bool Answers(string host, int port)
    {
        try
        {
            using var client = new TcpClient();
            client.Connect(host, port);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    /// <summary>The skip reason for a fact whose server is <paramref name="available"/> or not: null (run it) when it is, or in CI.</summary>
    public static string? SkipUnless(bool available, string reason) =>
        available || string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase) ? null : reason;
}
