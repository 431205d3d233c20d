using System.Text.RegularExpressions;
using Intake.Core.Errors;

namespace Intake.Sources.Sftp;

/// <summary>
/// Turns what the OpenSSH client printed on stderr into an <see cref="IntakeException"/> of the right
/// kind. ssh reports every failure with exit status 255, so its message is the only signal; the phrases
/// matched here have been stable across OpenSSH releases for many years.
/// </summary>
internal static partial class SshErrors
{
    private static readonly string[] HostKeyPhrases =
    [
        "Host key verification failed",
        "REMOTE HOST IDENTIFICATION HAS CHANGED",
        "you have requested strict checking",
        "Host key for",
    ];

    private static readonly string[] NetworkPhrases =
    [
        "Connection refused",
        "timed out",
        "Timeout",
        "Connection reset",
        "Connection closed",
        "Broken pipe",
        "Network is unreachable",
        "No route to host",
        "kex_exchange_identification",
        "Could not resolve hostname",
        "Temporary failure in name resolution",
        "Connection to",
        "Received disconnect",
        "client_loop",
    ];

    /// <summary>Classifies a failure to connect, authenticate or start the sftp subsystem.</summary>
    public static IntakeException Classify(string stderr, string target, string user, string keyFile)
    {
        var text = Condense(stderr);
        if (HostKeyPhrases.Any(p => text.Contains(p, StringComparison.OrdinalIgnoreCase)))
        {
            // ssh's full warning is a page of advice; the verdict and the offered fingerprint are what matter.
            var verdict = stderr.Split('\n', StringSplitOptions.TrimEntries)
                .FirstOrDefault(l => l.Contains("you have requested strict checking", StringComparison.OrdinalIgnoreCase)) ?? text;
            var offered = Fingerprint().Match(stderr);
            return IntakeException.Security(
                $"sftp {target}: the server's host key is not the one trusted for it: {verdict}" +
                (offered.Success ? $" The server offers {offered.Value}." : "") +
                " A different server may be answering; if its key was legitimately replaced, update the known_hosts file or the fingerprint.");
        }

        if (Has(text, "UNPROTECTED PRIVATE KEY FILE") || Has(text, "bad permissions"))
        {
            return IntakeException.Config($"sftp {target}: the private key {keyFile} is readable by other users and ssh refuses it; make it mode 600 (chmod 600). ssh: {text}");
        }

        if (Has(text, "Load key") || Has(text, "no such identity") || Has(text, "incorrect passphrase") || Has(text, "invalid format"))
        {
            return IntakeException.Config($"sftp {target}: cannot use the private key {keyFile} (missing, unreadable, not an OpenSSH private key, or protected by a passphrase). ssh: {text}");
        }

        if (Has(text, "Permission denied") || Has(text, "Too many authentication failures") || Has(text, "Authentication failed"))
        {
            return IntakeException.Config(
                $"sftp {target}: user '{user}' was refused with the key {keyFile}: the server does not accept that key for that user " +
                $"(is its public key in the user's authorized_keys? is the key without a passphrase?). ssh: {text}");
        }

        if (Has(text, "subsystem request failed"))
        {
            return IntakeException.Config($"sftp {target}: the server does not offer the sftp subsystem (check 'Subsystem sftp' in its sshd_config). ssh: {text}");
        }

        if (Has(text, "Unable to negotiate") || Has(text, "no matching"))
        {
            return IntakeException.Config($"sftp {target}: client and server share no key exchange, cipher or host key algorithm. ssh: {text}");
        }

        if (Has(text, "Bad configuration option") || Has(text, "Bad port") || Has(text, "usage:") || Has(text, "illegal option"))
        {
            return IntakeException.Config($"sftp {target}: the installed ssh rejected its options (too old an OpenSSH?). ssh: {text}");
        }

        var reason = NetworkPhrases.Any(p => text.Contains(p, StringComparison.OrdinalIgnoreCase))
            ? text
            : text.Length > 0 ? text : "ssh exited without a message";

        // Anything else is most likely the network or an overloaded server (MaxStartups drops
        // connections silently): worth a retry, which a configuration error would not be.
        return IntakeException.Transient($"sftp {target}: cannot connect: {reason}", null);
    }

    /// <summary>A connection that worked and then broke (server gone, network down, keep-alives unanswered).</summary>
    public static IntakeException ConnectionLost(string stderr, string target, Exception? inner = null)
    {
        var text = Condense(stderr);
        return IntakeException.Transient($"sftp {target}: connection lost{(text.Length > 0 ? ": " + text : "")}", inner);
    }

    /// <summary>A status reply for an operation on a path, for statuses that have no better mapping at the call site.</summary>
    public static Exception Status(SftpStatus status, string message, string operation, string location) => status switch
    {
        SftpStatus.NoSuchFile => new FileNotFoundException($"{location}: no such file ({operation})", location),
        SftpStatus.PermissionDenied => IntakeException.Config($"{location}: permission denied ({operation}); the server does not let this user read it"),
        SftpStatus.OperationUnsupported => IntakeException.Config($"{location}: the server does not support {operation}: {message}"),
        SftpStatus.NoConnection or SftpStatus.ConnectionLost =>
            IntakeException.Transient($"{location}: {operation} failed, connection lost: {message}", null),
        _ => IntakeException.Transient($"{location}: {operation} failed ({status}): {message}"),
    };

    [GeneratedRegex("SHA256:[A-Za-z0-9+/]{43}")]
    private static partial Regex Fingerprint();

    private static bool Has(string text, string phrase) => text.Contains(phrase, StringComparison.OrdinalIgnoreCase);

    /// <summary>ssh's stderr on one line, banner art and blank lines dropped, bounded for a step record.</summary>
    private static string Condense(string stderr)
    {
        var lines = stderr
            .Split('\n', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
            .Where(l => !l.StartsWith('@') && !l.StartsWith('+') && !l.StartsWith('|'));
        var text = string.Join(" ", lines);
        return text.Length <= 600 ? text : text[..300] + " … " + text[^300..];
    }
}
