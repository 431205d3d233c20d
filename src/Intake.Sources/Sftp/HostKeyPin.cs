using System.ComponentModel;
using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using Intake.Core.Errors;

namespace Intake.Sources.Sftp;

/// <summary>
/// Trusts a server by a configured fingerprint instead of a known_hosts file: the server's keys are
/// fetched with <c>ssh-keyscan</c>, the one whose SHA-256 fingerprint matches is written as the only
/// entry of a private known_hosts file, and ssh then connects with strict checking against that file.
/// </summary>
/// <remarks>
/// ssh-keyscan itself is not authenticated, and need not be: a key is trusted only when it hashes to
/// the configured fingerprint, and ssh verifies the server holds that key's private half during the
/// key exchange. Entries use a fixed <c>HostKeyAlias</c>, so how the host is spelled never matters.
/// </remarks>
internal sealed class HostKeyPin
{
    public const string Alias = "intake-pinned-host";

    private readonly string _expected;
    private readonly string _keyscan;
    private readonly string _host;
    private readonly int _port;
    private readonly TimeSpan _timeout;
    private readonly string _target;
    private volatile string? _knownHostsLine;

    public HostKeyPin(string fingerprint, string keyscan, string host, int port, TimeSpan timeout, string target)
    {
        _expected = Normalize(fingerprint) ?? throw IntakeException.Config(
            $"sftp {target}: host_key_fingerprint '{fingerprint}' is not an OpenSSH SHA256 fingerprint (SHA256: followed by 43 base64 characters, as 'ssh-keygen -lf' prints it)");
        _keyscan = keyscan;
        _host = host;
        _port = port;
        _timeout = timeout;
        _target = target;
    }

    /// <summary>The SHA-256 fingerprint of a key blob, as OpenSSH prints it.</summary>
    public static string Fingerprint(byte[] keyBlob) => "SHA256:" + Convert.ToBase64String(SHA256.HashData(keyBlob)).TrimEnd('=');

    /// <summary>The known_hosts line for the pinned key, fetched and checked once per source.</summary>
    public async Task<string> KnownHostsLineAsync(CancellationToken cancellationToken)
    {
        if (_knownHostsLine is { } cached)
        {
            return cached;
        }

        var offered = await ScanAsync(cancellationToken);
        foreach (var (type, blob) in offered)
        {
            if (string.Equals(Fingerprint(Convert.FromBase64String(blob)), _expected, StringComparison.Ordinal))
            {
                // Two racing first connections compute the same line; either may win.
                return _knownHostsLine = $"{Alias} {type} {blob}";
            }
        }

        var seen = string.Join(", ", offered.Select(k => $"{k.Type} {Fingerprint(Convert.FromBase64String(k.Blob))}"));
        throw IntakeException.Security(
            $"sftp {_target}: the server's host key does not match the configured fingerprint {_expected} (it offers {seen}): " +
            "a different server may be answering; if its key was legitimately replaced, update host_key_fingerprint");
    }

    private async Task<List<(string Type, string Blob)>> ScanAsync(CancellationToken cancellationToken)
    {
        var start = new ProcessStartInfo(_keyscan)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        var seconds = Math.Max(1, (int)Math.Ceiling(_timeout.TotalSeconds));
        foreach (var arg in new[] { "-T", seconds.ToString(CultureInfo.InvariantCulture), "-p", _port.ToString(CultureInfo.InvariantCulture), "--", _host })
        {
            start.ArgumentList.Add(arg);
        }

        Process process;
        try
        {
            process = Process.Start(start) ?? throw new InvalidOperationException("no process");
        }
        catch (Win32Exception ex)
        {
            throw IntakeException.Config(
                $"sftp {_target}: cannot run '{_keyscan}' ({ex.Message}), needed to check host_key_fingerprint; install the OpenSSH client (Debian/Ubuntu: apt-get install openssh-client)",
                ex);
        }

        using (process)
        {
            process.StandardInput.Close();
            try
            {
                var stdout = process.StandardOutput.ReadToEndAsync(cancellationToken);
                var stderr = process.StandardError.ReadToEndAsync(cancellationToken);
                await process.WaitForExitAsync(cancellationToken);
                var keys = new List<(string, string)>();
                foreach (var line in (await stdout).Split('\n', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
                {
                    // "<host> <key type> <base64 key>"; comments go to stderr.
                    var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                    if (parts.Length >= 3 && !parts[0].StartsWith('#') && IsBase64(parts[2]))
                    {
                        keys.Add((parts[1], parts[2]));
                    }
                }

                if (keys.Count == 0)
                {
                    var message = (await stderr).Trim();
                    throw IntakeException.Transient(
                        $"sftp {_target}: no host key could be fetched (refused, timed out, or not an SSH server){(message.Length > 0 ? ": " + message : "")}",
                        null);
                }

                return keys;
            }
            catch (OperationCanceledException)
            {
                try
                {
                    process.Kill();
                }
                catch (InvalidOperationException)
                {
                }

                throw;
            }
        }
    }

    private static bool IsBase64(string text)
    {
        var buffer = new byte[text.Length];
        return Convert.TryFromBase64String(text, buffer, out _);
    }

    /// <summary>"SHA256:abc…" (prefix optional, padding optional) to the form OpenSSH prints, or null.</summary>
    private static string? Normalize(string fingerprint)
    {
        var text = fingerprint.Trim();
        if (text.StartsWith("SHA256:", StringComparison.OrdinalIgnoreCase))
        {
            text = text[7..];
        }

        text = text.TrimEnd('=');
        var buffer = new byte[32];
        return text.Length == 43 && Convert.TryFromBase64String(text + "=", buffer, out var written) && written == 32 ? "SHA256:" + text : null;
    }
}
