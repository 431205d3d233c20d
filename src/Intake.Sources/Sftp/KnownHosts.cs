using System.Buffers.Binary;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;

namespace Intake.Sources.Sftp;

/// <summary>What a known_hosts file says about the key a server presented.</summary>
internal enum KnownHostVerdict
{
    /// <summary>An entry for the host holds exactly this key.</summary>
    Trusted,

    /// <summary>No entry names the host at all.</summary>
    Unknown,

    /// <summary>Entries name the host, none with this key: a different server, or a replaced key.</summary>
    Changed,

    /// <summary>The key is marked <c>@revoked</c>.</summary>
    Revoked,
}

/// <summary>
/// Reads an OpenSSH known_hosts file the way <c>ssh</c> checks it: host patterns with <c>*</c>, <c>?</c> and <c>!</c>,
/// hashed names (<c>|1|salt|hash</c>), <c>[host]:port</c> for a port other than 22, and <c>@revoked</c> keys.
/// <c>@cert-authority</c> lines are ignored (host certificates are not supported).
/// </summary>
/// <remarks>The file is read again for every connection, so an operator's edit applies to the next one without a restart.</remarks>
internal static class KnownHosts
{
    /// <summary>How the file names a host: <c>host</c> on port 22, <c>[host]:port</c> otherwise (as OpenSSH writes it).</summary>
    public static string HostName(string host, int port) =>
        port == 22 ? host.ToLowerInvariant() : string.Create(CultureInfo.InvariantCulture, $"[{host.ToLowerInvariant()}]:{port}");

    /// <summary>The key types (<c>ssh-ed25519</c>, <c>ssh-rsa</c>, …) the file holds for the host; empty when it names the host nowhere.</summary>
    public static HashSet<string> KeyTypesFor(string file, string hostName)
    {
        var types = new HashSet<string>(StringComparer.Ordinal);
        foreach (var entry in Read(file))
        {
            if (entry.Marker is null && Matches(entry.Hosts, hostName))
            {
                types.Add(entry.KeyType);
            }
        }

        return types;
    }

    /// <summary>Checks a presented key blob against the file.</summary>
    public static (KnownHostVerdict Verdict, int Line) Check(string file, string hostName, byte[] keyBlob)
    {
        var named = 0;
        foreach (var entry in Read(file))
        {
            if (entry.Marker == "@revoked" && entry.Blob.AsSpan().SequenceEqual(keyBlob))
            {
                return (KnownHostVerdict.Revoked, entry.Line);
            }
        }

        foreach (var entry in Read(file))
        {
            if (entry.Marker is not null || !Matches(entry.Hosts, hostName))
            {
                continue;
            }

            if (entry.Blob.AsSpan().SequenceEqual(keyBlob))
            {
                return (KnownHostVerdict.Trusted, entry.Line);
            }

            named = named == 0 ? entry.Line : named;
        }

        return named == 0 ? (KnownHostVerdict.Unknown, 0) : (KnownHostVerdict.Changed, named);
    }

    /// <summary>Appends an entry (trust on first use); creates the file (mode 600 where the system has modes) and its folder.</summary>
    public static void Add(string file, string hostName, byte[] keyBlob)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(file)!);
        var line = $"{hostName} {KeyType(keyBlob)} {Convert.ToBase64String(keyBlob)}\n";
        var options = new FileStreamOptions { Mode = FileMode.Append, Access = FileAccess.Write, Share = FileShare.Read };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        using var stream = new FileStream(file, options);
        stream.Write(Encoding.ASCII.GetBytes(line));
        stream.Flush(flushToDisk: true);
    }

    /// <summary>The key type named at the start of an SSH public key blob (<c>ssh-ed25519</c>, <c>ssh-rsa</c>, <c>ecdsa-sha2-nistp256</c>).</summary>
    public static string KeyType(byte[] keyBlob)
    {
        if (keyBlob.Length >= 4)
        {
            var length = BinaryPrimitives.ReadUInt32BigEndian(keyBlob);
            if (length > 0 && length <= keyBlob.Length - 4)
            {
                return Encoding.ASCII.GetString(keyBlob, 4, (int)length);
            }
        }

        return "unknown";
    }

    /// <summary>The SHA-256 fingerprint of a key blob, as OpenSSH prints it.</summary>
    public static string Fingerprint(byte[] keyBlob) => "SHA256:" + Convert.ToBase64String(SHA256.HashData(keyBlob)).TrimEnd('=');

    private static IEnumerable<Entry> Read(string file)
    {
        var number = 0;
        foreach (var raw in File.ReadLines(file))
        {
            number++;
            var line = raw.Trim();
            if (line.Length == 0 || line[0] == '#')
            {
                continue;
            }

            var fields = line.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
            string? marker = null;
            if (fields[0].StartsWith('@'))
            {
                marker = fields[0];
                fields = fields[1..];
            }

            if (fields.Length < 3)
            {
                continue;
            }

            byte[] blob;
            try
            {
                blob = Convert.FromBase64String(fields[2]);
            }
            catch (FormatException)
            {
                continue; // ssh skips a line it cannot read, and so do we
            }

            yield return new Entry(number, marker, fields[0], fields[1], blob);
        }
    }

    private static bool Matches(string patterns, string hostName)
    {
        if (patterns.StartsWith("|1|", StringComparison.Ordinal))
        {
            var parts = patterns.Split('|');
            if (parts.Length != 4)
            {
                return false;
            }

            try
            {
                // Hashed names are HMAC-SHA1 by OpenSSH's definition of the format; a lookup, not a protection.
#pragma warning disable CA5350
                var hash = HMACSHA1.HashData(Convert.FromBase64String(parts[2]), Encoding.UTF8.GetBytes(hostName));
#pragma warning restore CA5350
                return CryptographicOperations.FixedTimeEquals(hash, Convert.FromBase64String(parts[3]));
            }
            catch (FormatException)
            {
                return false;
            }
        }

        // ssh: a negated pattern that matches rules the line out, whatever else matches.
        var matched = false;
        foreach (var pattern in patterns.Split(','))
        {
            var negated = pattern.StartsWith('!');
            var text = negated ? pattern[1..] : pattern;
            if (Wildcard(text).IsMatch(hostName))
            {
                if (negated)
                {
                    return false;
                }

                matched = true;
            }
        }

        return matched;
    }

    private static Regex Wildcard(string pattern) => new(
        "^" + Regex.Escape(pattern.ToLowerInvariant()).Replace(@"\*", ".*", StringComparison.Ordinal).Replace(@"\?", ".", StringComparison.Ordinal) + "$",
        RegexOptions.CultureInvariant | RegexOptions.IgnoreCase);

    private sealed record Entry(int Line, string? Marker, string Hosts, string KeyType, byte[] Blob);
}
