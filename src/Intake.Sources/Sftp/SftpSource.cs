using System.Diagnostics;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;
using Intake.Core.Errors;
using Intake.Core.Ports;

namespace Intake.Sources.Sftp;

/// <summary>
/// Offers the files of a folder on an SFTP server to discovery, recursively, filtered by include and
/// exclude patterns, once they look complete; and streams them to the fetch step, resuming a download
/// where it stopped when the connection drops.
/// </summary>
/// <remarks>
/// <para>
/// No SSH library is available to Intake, so the OpenSSH client does the SSH part: each listing and
/// each download runs one <c>ssh -s HOST sftp</c> process (key authentication only, batch mode, never a
/// password; host key always verified), and this class speaks the SFTP protocol (version 3) over that
/// process's stdin and stdout. That route needs no shell on the server (OpenSSH's <c>internal-sftp</c>,
/// nologin and chrooted accounts all work), reads exact names (spaces, quotes, any UTF-8) and exact
/// second-precision modification times instead of parsing <c>sftp ls</c> output (minute precision at
/// best), and streams downloads without a temporary file. See the folder's README for what is supported.
/// </para>
/// <para>
/// "Complete" follows the same rules as <see cref="LocalDirectorySource"/>: a file is offered when its
/// modification time is at least <see cref="SftpSourceOptions.StableFor"/> old by the injected clock and,
/// when this instance listed it before, its size and time are unchanged since. Dot names, temporary
/// upload names (<see cref="LocalDirectorySource.TemporaryNameSuffixes"/>, <c>~$</c>), symbolic links,
/// special files, names with a backslash and names that are not valid UTF-8 are never offered.
/// </para>
/// </remarks>
public sealed class SftpSource : IFileSource
{
    private readonly SftpSourceOptions _options;
    private readonly TimeProvider _time;
    private readonly Glob[] _include;
    private readonly Glob[] _exclude;
    private readonly HostKeyPin? _pin;
    private readonly SshContext _context;
    private readonly string _keyFile;
    private readonly string? _knownHostsFile;
    private readonly string _root;
    private readonly string _url;

    // What the previous complete listing saw; replaced whole at the end of a listing, never mutated.
    private volatile Dictionary<string, Observation> _lastSeen = new(StringComparer.Ordinal);

    /// <summary>Validates the options (all failures are Config) and compiles the patterns. Does not connect.</summary>
    public SftpSource(SftpSourceOptions options, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(time);

        var host = options.Host?.Trim() ?? "";
        if (host.Length == 0 || host[0] == '-' || host.Any(c => char.IsWhiteSpace(c) || char.IsControl(c) || c is '@' or '/' or '%'))
        {
            throw IntakeException.Config($"sftp source: 'host' '{options.Host}' is not a host name or address");
        }

        if (options.Port is < 1 or > 65535)
        {
            throw IntakeException.Config($"sftp source {host}: 'port' {options.Port} is not between 1 and 65535");
        }

        var user = options.User ?? "";
        if (user.Length == 0 || user[0] == '-' || user.Any(c => char.IsWhiteSpace(c) || char.IsControl(c)))
        {
            throw IntakeException.Config($"sftp source {host}: 'user' '{options.User}' is not a login name");
        }

        Target = string.Create(CultureInfo.InvariantCulture, $"{user}@{(host.Contains(':', StringComparison.Ordinal) ? $"[{host}]" : host)}:{options.Port}");
        _url = "sftp://" + Target;

        if (string.IsNullOrWhiteSpace(options.PrivateKeyFile))
        {
            throw IntakeException.Config($"sftp source {Target}: 'key_file' is not set; the SFTP source authenticates with a key only");
        }

        var hasKnownHosts = !string.IsNullOrWhiteSpace(options.KnownHostsFile);
        var hasFingerprint = !string.IsNullOrWhiteSpace(options.HostKeyFingerprint);
        if (hasKnownHosts == hasFingerprint)
        {
            throw IntakeException.Config(
                $"sftp source {Target}: set exactly one of 'known_hosts' and 'host_key_fingerprint', so the server is verified one way");
        }

        if (options.AcceptNewHostKey && !hasKnownHosts)
        {
            throw IntakeException.Config($"sftp source {Target}: 'accept_new_host_key' needs 'known_hosts', the dedicated file new keys are recorded in");
        }

        if (options.StableFor < TimeSpan.Zero)
        {
            throw IntakeException.Config($"sftp source {Target}: 'stable_for' cannot be negative ({options.StableFor})");
        }

        if (options.ConnectTimeout <= TimeSpan.Zero)
        {
            throw IntakeException.Config($"sftp source {Target}: 'timeout' must be positive ({options.ConnectTimeout})");
        }

        if (options.MaxResumeAttempts < 0)
        {
            throw IntakeException.Config($"sftp source {Target}: 'max_resume_attempts' cannot be negative ({options.MaxResumeAttempts})");
        }

        if (options.Include is null || options.Include.Count == 0)
        {
            throw IntakeException.Config($"sftp source {Target}: 'include' is empty, so no file could ever be taken (the default is **/*)");
        }

        if (string.IsNullOrWhiteSpace(options.SshExecutable))
        {
            throw IntakeException.Config($"sftp source {Target}: no ssh client program is set (the OpenSSH client, found on PATH by default)");
        }

        var remote = string.IsNullOrWhiteSpace(options.RemoteDirectory) ? "." : options.RemoteDirectory.Trim();
        if (remote.Contains('\0', StringComparison.Ordinal))
        {
            throw IntakeException.Config($"sftp source {Target}: 'path' contains a NUL character");
        }

        _options = options;
        _time = time;
        _root = remote.Length > 1 ? remote.TrimEnd('/') : remote;
        _keyFile = Path.GetFullPath(options.PrivateKeyFile);
        _knownHostsFile = hasKnownHosts ? Path.GetFullPath(options.KnownHostsFile!) : null;
        _context = new SshContext(Target, user, _keyFile, options.ConnectTimeout);
        _include = options.Include.Select(p => Glob.Parse(p, options.IgnoreCase)).ToArray();
        _exclude = (options.Exclude ?? []).Select(p => Glob.Parse(p, options.IgnoreCase)).ToArray();
        if (hasFingerprint)
        {
            _pin = new HostKeyPin(options.HostKeyFingerprint!, KeyscanExecutable(options.SshExecutable), host, options.Port, options.ConnectTimeout, Target);
        }
    }

    /// <summary><c>user@host:port</c>, as messages name the server.</summary>
    public string Target { get; }

    /// <summary>Bytes asked for per read request. Tests raise it above what the server serves at once (OpenSSH: 255 KiB) to get short reads.</summary>
    internal uint ReadChunkSize { get; set; } = SftpReadStream.DefaultChunkSize;

    /// <inheritdoc />
    /// <exception cref="IntakeException">Config when the folder is missing or unreadable, or the login fails;
    /// Security when the host key is not the trusted one; Transient when the server cannot be reached.</exception>
    public async IAsyncEnumerable<SourceFile> ListAsync([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow();
        var previous = _lastSeen;
        var seen = new Dictionary<string, Observation>(previous.Count, StringComparer.Ordinal);

        await using var session = await ConnectAsync(cancellationToken);

        // Depth-first with an explicit stack, children pushed in reverse order: keys come out in ordinal
        // order (a folder sorts as "name/"), the same order LocalDirectorySource gives, one folder listing
        // held per level. One connection serves the whole listing.
        var pending = new Stack<(string Key, SftpAttributes Attributes)>();
        await PushChildrenAsync(session, pending, "", cancellationToken);
        while (pending.TryPop(out var item))
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (item.Attributes.IsDirectory)
            {
                await PushChildrenAsync(session, pending, item.Key, cancellationToken);
                continue;
            }

            if (!IsWanted(item.Key))
            {
                continue;
            }

            if (item.Attributes is not { Size: { } size, ModifiedUnixSeconds: { } seconds })
            {
                throw IntakeException.Config($"sftp {Describe(item.Key)}: the server reports no size or modification time, so changes could not be recognised");
            }

            var modified = DateTimeOffset.FromUnixTimeSeconds(seconds);
            var observation = new Observation(size, modified);
            seen[item.Key] = observation;

            if (now - modified < _options.StableFor)
            {
                continue; // written to recently: possibly still being uploaded
            }

            if (previous.TryGetValue(item.Key, out var before) && before != observation)
            {
                continue; // changed since the last listing although its time looks old: wait for one quiet listing
            }

            yield return new SourceFile(item.Key, size, modified, string.Create(CultureInfo.InvariantCulture, $"size:{size};mtime:{modified.ToUnixTimeMilliseconds()}"));
        }

        // Only a listing that ran to the end describes the whole folder; an abandoned one would forget files.
        _lastSeen = seen;
    }

    /// <inheritdoc />
    /// <remarks>
    /// The stream reads straight from the server with up to 1 MiB in flight (32 requests of 32 KiB), no
    /// temporary file. When the connection drops it reconnects (up to
    /// <see cref="SftpSourceOptions.MaxResumeAttempts"/> times), checks the file still has the size and
    /// modification time it had when opened, and continues at the byte it stopped at; a file that changed
    /// meanwhile fails as Integrity rather than splicing two versions together.
    /// </remarks>
    /// <exception cref="ArgumentException">The key is not a relative path inside the folder.</exception>
    /// <exception cref="FileNotFoundException">The file is gone, or is a folder.</exception>
    /// <exception cref="IntakeException">Security when the path is a symbolic link or the host key is wrong;
    /// Config for login or permission failures; Transient when the server cannot be reached.</exception>
    public async Task<Stream> OpenReadAsync(string key, CancellationToken cancellationToken)
    {
        var path = RemotePath(key);
        var stream = new SftpReadStream(this, path, Describe(key), _options.MaxResumeAttempts, _time, ReadChunkSize);
        try
        {
            await stream.OpenAsync(cancellationToken);
            return stream;
        }
        catch
        {
            await stream.DisposeAsync();
            throw;
        }
    }

    /// <inheritdoc />
    /// <remarks>An <c>sftp://user@host:port/path</c> URL; a path relative to the login folder is shown under <c>/~/</c>.</remarks>
    public string Describe(string key) => DescribeRemote(RemotePath(key));

    /// <summary>Starts ssh and opens an SFTP session; the caller disposes it.</summary>
    internal async Task<SftpSession> ConnectAsync(CancellationToken cancellationToken)
    {
        if (!File.Exists(_keyFile))
        {
            throw IntakeException.Config($"sftp {Target}: the private key file {_keyFile} does not exist");
        }

        string knownHosts;
        DirectoryInfo? privateFolder = null;
        if (_pin is not null)
        {
            var line = await _pin.KnownHostsLineAsync(cancellationToken);

            // A folder of our own (mode 700) per connection: nobody else can plant or swap the file, and
            // it is gone as soon as ssh has checked the key.
            privateFolder = Directory.CreateTempSubdirectory("intake-sftp-");
            knownHosts = Path.Combine(privateFolder.FullName, "known_hosts");
            await File.WriteAllTextAsync(knownHosts, line + "\n", cancellationToken);
        }
        else
        {
            knownHosts = _knownHostsFile!;
            if (_options.AcceptNewHostKey)
            {
                Directory.CreateDirectory(Path.GetDirectoryName(knownHosts)!);
            }
            else if (!File.Exists(knownHosts))
            {
                throw IntakeException.Config($"sftp {Target}: the known_hosts file {knownHosts} does not exist (create it with ssh-keyscan and check the key, or set host_key_fingerprint)");
            }
        }

        try
        {
            return await SftpSession.OpenAsync(StartInfo(knownHosts), _context, _time, cancellationToken);
        }
        finally
        {
            privateFolder?.Delete(recursive: true);
        }
    }

    /// <summary>The server-side path of a key: the remote folder joined with the key.</summary>
    internal string RemotePath(string key)
    {
        ValidateKey(key);
        return _root switch
        {
            "." => key,
            "/" => "/" + key,
            _ => _root + "/" + key,
        };
    }

    private string RemoteFolder(string directoryKey) => directoryKey.Length == 0 ? _root : RemotePath(directoryKey);

    private string DescribeRemote(string path) => _url + (path.StartsWith('/') ? path : path == "." ? "/~" : "/~/" + path);

    private ProcessStartInfo StartInfo(string knownHosts)
    {
        var start = new ProcessStartInfo(_options.SshExecutable)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            StandardErrorEncoding = Encoding.UTF8,
        };
        var seconds = Math.Max(1, (int)Math.Ceiling(_options.ConnectTimeout.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
        var args = new List<string>
        {
            // No ssh_config of the account or the machine: the same behaviour wherever Intake runs.
            "-F", "none",
            "-T", "-x", "-a", "-e", "none",
            "-o", "BatchMode=yes",
            "-o", "ConnectTimeout=" + seconds,
            // A silent dead connection is noticed after about a minute instead of hanging a download.
            "-o", "ServerAliveInterval=15",
            "-o", "ServerAliveCountMax=4",
            "-o", "IdentitiesOnly=yes",
            "-o", "IdentityAgent=none",
            // IdentityFile rather than -i: ssh drops an -i path it cannot stat before expanding %-tokens,
            // so a path with '%' (escaped as "%%") would silently fall back to the account's default keys.
            "-o", "IdentityFile=" + SshConfigValue(_keyFile),
            "-o", "PreferredAuthentications=publickey",
            "-o", "PasswordAuthentication=no",
            "-o", "KbdInteractiveAuthentication=no",
            "-o", "GSSAPIAuthentication=no",
            "-o", "HostbasedAuthentication=no",
            "-o", "StrictHostKeyChecking=" + (_options.AcceptNewHostKey ? "accept-new" : "yes"),
            "-o", "UserKnownHostsFile=" + SshConfigValue(knownHosts),
            "-o", "GlobalKnownHostsFile=none",
            "-o", "UpdateHostKeys=no",
            "-o", "CheckHostIP=no",
            "-o", "HashKnownHosts=no",
            "-o", "ControlMaster=no",
            "-o", "ControlPath=none",
            "-o", "ClearAllForwardings=yes",
            "-o", "LogLevel=ERROR",
        };
        if (_pin is not null)
        {
            args.AddRange(["-o", "HostKeyAlias=" + HostKeyPin.Alias]);
        }

        args.AddRange(["-p", _options.Port.ToString(CultureInfo.InvariantCulture), "-l", _context.User, "-s", "--", _options.Host.Trim(), "sftp"]);
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        return start;
    }

    private async Task PushChildrenAsync(SftpSession session, Stack<(string Key, SftpAttributes Attributes)> pending, string directoryKey, CancellationToken cancellationToken)
    {
        var folder = RemoteFolder(directoryKey);
        var location = DescribeRemote(folder);
        byte[] handle;
        using (var opened = await session.RequestAsync(SftpProtocol.OpenDir, w => w.String(folder), cancellationToken))
        {
            if (opened.Type == SftpProtocol.Handle)
            {
                handle = opened.Bytes();
            }
            else if (opened.Type == SftpProtocol.Status && SftpSession.ReadStatus(opened) is var (status, message))
            {
                if (status == SftpStatus.NoSuchFile && directoryKey.Length > 0)
                {
                    return; // removed while we listed: nothing to offer from it
                }

                throw status switch
                {
                    SftpStatus.NoSuchFile => IntakeException.Config($"sftp source: remote directory {location} does not exist (or is not a folder)"),
                    SftpStatus.PermissionDenied => IntakeException.Config($"sftp source: no permission to list {location}"),
                    _ => SshErrors.Status(status, message, "list", location),
                };
            }
            else
            {
                throw SftpSession.Unexpected(opened, "opendir", location);
            }
        }

        var children = new List<(string Name, string SortName, SftpAttributes Attributes)>();
        while (true)
        {
            using var batch = await session.RequestAsync(SftpProtocol.ReadDir, w => w.String(handle), cancellationToken);
            if (batch.Type == SftpProtocol.Status)
            {
                var (status, message) = SftpSession.ReadStatus(batch);
                if (status == SftpStatus.Eof)
                {
                    break;
                }

                throw SshErrors.Status(status, message, "list", location);
            }

            if (batch.Type != SftpProtocol.Name)
            {
                throw SftpSession.Unexpected(batch, "readdir", location);
            }

            var count = batch.UInt32();
            for (var i = 0; i < count; i++)
            {
                var name = batch.Utf8String();
                batch.Bytes(); // the "ls -l" long name: never parsed, the attributes are exact
                var attributes = batch.Attributes();
                if (name is null || IsSkipped(name, attributes))
                {
                    continue;
                }

                children.Add((name, attributes.IsDirectory ? name + "/" : name, attributes));
            }
        }

        using (var closed = await session.RequestAsync(SftpProtocol.Close, w => w.String(handle), cancellationToken))
        {
            // A failed close of a directory handle loses nothing; the session ends soon anyway.
        }

        children.Sort(static (a, b) => string.CompareOrdinal(a.SortName, b.SortName));
        for (var i = children.Count - 1; i >= 0; i--)
        {
            var name = children[i].Name;
            pending.Push((directoryKey.Length == 0 ? name : directoryKey + "/" + name, children[i].Attributes));
        }
    }

    private bool IsWanted(string key) => _include.Any(g => g.IsMatch(key)) && !_exclude.Any(g => g.IsMatch(key));

    private static bool IsSkipped(string name, SftpAttributes attributes)
    {
        if (name.Length == 0 || name[0] == '.' || name.Contains('\\', StringComparison.Ordinal) || name.Contains('/', StringComparison.Ordinal))
        {
            return true;
        }

        if (attributes.IsDirectory)
        {
            return false;
        }

        // Links could lead outside the folder or loop; devices, sockets and unknown types are not data.
        return !attributes.IsRegularFile ||
            name.StartsWith("~$", StringComparison.Ordinal) ||
            LocalDirectorySource.TemporaryNameSuffixes.Any(s => name.EndsWith(s, StringComparison.OrdinalIgnoreCase));
    }

    private static void ValidateKey(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        if (key.Length == 0 || key[0] == '/' || key.Contains('\\', StringComparison.Ordinal) || key.Contains('\0', StringComparison.Ordinal) ||
            key.Split('/').Any(s => s is "" or "." or ".."))
        {
            // Keys come from our own listing; anything else may be an attempt to read outside the folder.
            throw new ArgumentException($"'{key.Replace('\0', '?')}' is not a relative path inside the source folder.", nameof(key));
        }
    }

    /// <summary>ssh-keyscan next to the configured ssh, or on PATH when ssh is given by name.</summary>
    private static string KeyscanExecutable(string ssh)
    {
        var folder = Path.GetDirectoryName(ssh);
        return string.IsNullOrEmpty(folder) ? "ssh-keyscan" : Path.Combine(folder, "ssh-keyscan");
    }

    /// <summary>
    /// A file path as the value of a <c>-o</c> option: ssh splits such values at spaces and honours double
    /// quotes with backslash escapes, and expands %-tokens.
    /// </summary>
    private static string SshConfigValue(string path)
    {
        var escaped = path.Replace("%", "%%", StringComparison.Ordinal);
        return escaped.Any(c => char.IsWhiteSpace(c) || c is '"' or '\\' or '\'')
            ? "\"" + escaped.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal) + "\""
            : escaped;
    }

    private readonly record struct Observation(long Size, DateTimeOffset Modified);
}
