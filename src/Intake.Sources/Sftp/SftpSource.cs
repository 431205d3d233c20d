using System.Globalization;
using System.Runtime.CompilerServices;
using Intake.Core.Errors;
using Intake.Core.Ports;
using Renci.SshNet.Common;
using Renci.SshNet.Sftp;

namespace Intake.Sources.Sftp;

/// <summary>
/// Offers the files of a folder on an SFTP server to discovery, recursively, filtered by include and
/// exclude patterns, once they look complete; streams them to the fetch step, resuming a download where it
/// stopped when the connection drops; and deletes a file once its load is final (<c>source.remove_after</c>).
/// </summary>
/// <remarks>
/// <para>
/// SSH and SFTP are SSH.NET's (<see cref="SftpConnector"/> logs in and verifies the server); this class
/// decides what is offered and how reads and deletes stay safe. See the folder's README for what is supported.
/// </para>
/// <para>
/// "Complete" follows the same rules as <see cref="LocalDirectorySource"/>: a file is offered when its
/// modification time is at least <see cref="SftpSourceOptions.StableFor"/> old by the injected clock and,
/// when this instance listed it before, its size and time are unchanged since. Dot names, temporary
/// upload names (<see cref="LocalDirectorySource.TemporaryNameSuffixes"/>, <c>~$</c>), symbolic links,
/// special files, names with a backslash and names that are not valid UTF-8 are never offered.
/// </para>
/// </remarks>
public sealed class SftpSource : IRemovableFileSource, IDisposable
{
    private readonly SftpSourceOptions _options;
    private readonly TimeProvider _time;
    private readonly Glob[] _include;
    private readonly Glob[] _exclude;
    private readonly SftpConnector _connector;
    private readonly string _root;
    private readonly string _url;
    private readonly StringComparison _pathComparison;

    // What the previous complete listing saw; replaced whole at the end of a listing, never mutated.
    private volatile Dictionary<string, Observation> _lastSeen = new(StringComparer.Ordinal);

    // The remote folder with every symbolic link resolved, as the server reports it; found on first use.
    private volatile string? _canonicalRoot;

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

        var hasKey = !string.IsNullOrWhiteSpace(options.PrivateKeyFile);
        if (!hasKey && string.IsNullOrEmpty(options.Password))
        {
            throw IntakeException.Config($"sftp source {Target}: set 'key_file' or 'password' (or both), so Intake can log in");
        }

        if (!hasKey && !string.IsNullOrEmpty(options.Passphrase))
        {
            throw IntakeException.Config($"sftp source {Target}: 'passphrase' unlocks a private key, but 'key_file' is not set");
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

        string? fingerprint = null;
        if (hasFingerprint)
        {
            fingerprint = NormalizeFingerprint(options.HostKeyFingerprint!) ?? throw IntakeException.Config(
                $"sftp source {Target}: 'host_key_fingerprint' '{options.HostKeyFingerprint}' is not an OpenSSH SHA256 fingerprint (SHA256: followed by 43 base64 characters, as 'ssh-keygen -lf' prints it)");
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

        var remote = string.IsNullOrWhiteSpace(options.RemoteDirectory) ? "." : options.RemoteDirectory.Trim();
        if (remote.Contains('\0', StringComparison.Ordinal))
        {
            throw IntakeException.Config($"sftp source {Target}: 'path' contains a NUL character");
        }

        _options = options;
        _time = time;
        _root = remote.Length > 1 ? remote.TrimEnd('/') : remote;
        _pathComparison = options.IgnoreCase ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal;
        _include = options.Include.Select(p => Glob.Parse(p, options.IgnoreCase)).ToArray();
        _exclude = (options.Exclude ?? []).Select(p => Glob.Parse(p, options.IgnoreCase)).ToArray();
        _connector = new SftpConnector(new SftpConnector.Settings(
            host,
            options.Port,
            user,
            Target,
            hasKey ? Path.GetFullPath(options.PrivateKeyFile) : null,
            string.IsNullOrEmpty(options.Passphrase) ? null : options.Passphrase,
            string.IsNullOrEmpty(options.Password) ? null : options.Password,
            hasKnownHosts ? Path.GetFullPath(options.KnownHostsFile!) : null,
            fingerprint,
            options.AcceptNewHostKey,
            options.ConnectTimeout));
    }

    /// <summary><c>user@host:port</c>, as messages name the server.</summary>
    public string Target { get; }

    /// <summary>Bytes asked for per read request (SSH.NET caps it to what one SSH packet carries). Tests raise it to get short reads.</summary>
    internal uint ReadChunkSize { get; set; } = 32 * 1024;

    /// <inheritdoc />
    /// <exception cref="IntakeException">Config when the folder is missing or unreadable, or the login fails;
    /// Security when the host key is not the trusted one; Transient when the server cannot be reached.</exception>
    public async IAsyncEnumerable<SourceFile> ListAsync([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow();
        var previous = _lastSeen;
        var seen = new Dictionary<string, Observation>(previous.Count, StringComparer.Ordinal);

        using var connection = await ConnectAsync(cancellationToken);

        // Depth-first with an explicit stack, children pushed in reverse order: keys come out in ordinal
        // order (a folder sorts as "name/"), the same order LocalDirectorySource gives, one folder listing
        // held per level. One connection serves the whole listing.
        var pending = new Stack<(string Key, ISftpFile File)>();
        await PushChildrenAsync(connection, pending, "", cancellationToken);
        while (pending.TryPop(out var item))
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (item.File.IsDirectory)
            {
                await PushChildrenAsync(connection, pending, item.Key, cancellationToken);
                continue;
            }

            if (!IsWanted(item.Key))
            {
                continue;
            }

            var size = item.File.Length;
            var modified = Modified(item.File.Attributes);
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

            yield return new SourceFile(item.Key, size, modified, Fingerprint(size, modified));
        }

        // Only a listing that ran to the end describes the whole folder; an abandoned one would forget files.
        _lastSeen = seen;
    }

    /// <inheritdoc />
    /// <remarks>
    /// The stream reads straight from the server (SSH.NET reads ahead), no temporary file. When the connection
    /// drops it reconnects (up to <see cref="SftpSourceOptions.MaxResumeAttempts"/> times), checks the file still
    /// has the size and modification time it had when opened, opens it again and seeks to the first byte not yet
    /// delivered; a file that changed meanwhile fails as Integrity rather than splicing two versions together.
    /// </remarks>
    /// <exception cref="ArgumentException">The key is not a relative path inside the folder.</exception>
    /// <exception cref="FileNotFoundException">The file is gone, or is a folder.</exception>
    /// <exception cref="IntakeException">Security when the path is a symbolic link or the host key is wrong;
    /// Config for login or permission failures; Transient when the server cannot be reached.</exception>
    public async Task<Stream> OpenReadAsync(string key, CancellationToken cancellationToken)
    {
        var stream = new SftpReadStream(this, key, Describe(key), _options.MaxResumeAttempts, _time);
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
    /// <remarks>
    /// Never through a symbolic link (one swapped in after the listing is refused as Security), and only the
    /// version listed: size and modification time must still give <paramref name="expectedFingerprint"/>. SFTP
    /// has no conditional delete, so a rewrite landing between that check and the delete (one round trip) is lost.
    /// </remarks>
    public async Task<SourceRemoval> DeleteAsync(string key, string expectedFingerprint, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(expectedFingerprint);
        var path = RemotePath(key);
        var location = Describe(key);
        using var connection = await ConnectAsync(cancellationToken);
        ISftpFile file;
        try
        {
            file = await StatAsync(connection, key, path, location, "delete", cancellationToken);
        }
        catch (FileNotFoundException)
        {
            return SourceRemoval.AlreadyGone;
        }

        if (!file.IsRegularFile || Fingerprint(file.Length, Modified(file.Attributes)) != expectedFingerprint)
        {
            return SourceRemoval.Changed;
        }

        try
        {
            await connection.Client.DeleteFileAsync(path, cancellationToken);
            return SourceRemoval.Deleted;
        }
        catch (SftpPathNotFoundException)
        {
            return SourceRemoval.AlreadyGone; // deleted by someone else a moment ago
        }
        catch (Exception ex) when (connection.Failure(ex, "delete", location) is { } failure)
        {
            throw failure;
        }
    }

    /// <inheritdoc />
    /// <remarks>An <c>sftp://user@host:port/path</c> URL; a path relative to the login folder is shown under <c>/~/</c>.</remarks>
    public string Describe(string key) => DescribeRemote(RemotePath(key));

    /// <summary>Releases the private key kept in memory.</summary>
    public void Dispose() => _connector.Dispose();

    /// <summary>Connects and logs in; the caller disposes the connection.</summary>
    internal async Task<SftpConnection> ConnectAsync(CancellationToken cancellationToken)
    {
        var connection = await _connector.ConnectAsync(cancellationToken);
        connection.Client.BufferSize = ReadChunkSize;
        return connection;
    }

    /// <summary>
    /// The file under a key, checked to be reached without a symbolic link: the server resolves links when it
    /// canonicalises the path, so a resolved path other than the folder's own plus the key means a link.
    /// </summary>
    /// <exception cref="FileNotFoundException">Nothing is under the key.</exception>
    /// <exception cref="IntakeException">Security when the key is, or lies under, a symbolic link.</exception>
    internal async Task<ISftpFile> StatAsync(SftpConnection connection, string key, string path, string location, string operation, CancellationToken cancellationToken)
    {
        try
        {
            var root = _canonicalRoot ??= _root == "."
                ? connection.Client.WorkingDirectory
                : (await connection.Client.GetAsync(_root, cancellationToken)).FullName;
            var file = await connection.Client.GetAsync(path, cancellationToken);
            var expected = root.EndsWith('/') ? root + key : root + "/" + key;
            if (!string.Equals(file.FullName, expected, _pathComparison))
            {
                // Listing never offers links; one here was swapped in after the listing.
                throw IntakeException.Security($"{location} is a symbolic link or lies under one (it leads to {file.FullName}); links are not followed");
            }

            return file;
        }
        catch (Exception ex) when (connection.Failure(ex, operation, location) is { } failure)
        {
            throw failure;
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

    internal static DateTimeOffset Modified(SftpFileAttributes attributes) =>
        new(DateTime.SpecifyKind(attributes.LastWriteTimeUtc, DateTimeKind.Utc));

    private static string Fingerprint(long size, DateTimeOffset modified) =>
        string.Create(CultureInfo.InvariantCulture, $"size:{size};mtime:{modified.ToUnixTimeMilliseconds()}");

    private string RemoteFolder(string directoryKey) => directoryKey.Length == 0 ? _root : RemotePath(directoryKey);

    private string DescribeRemote(string path) => _url + (path.StartsWith('/') ? path : path == "." ? "/~" : "/~/" + path);

    private async Task PushChildrenAsync(SftpConnection connection, Stack<(string Key, ISftpFile File)> pending, string directoryKey, CancellationToken cancellationToken)
    {
        var folder = RemoteFolder(directoryKey);
        var location = DescribeRemote(folder);
        var children = new List<(string SortName, ISftpFile File)>();
        try
        {
            await foreach (var file in connection.Client.ListDirectoryAsync(folder, cancellationToken))
            {
                if (!IsSkipped(file))
                {
                    children.Add((file.IsDirectory ? file.Name + "/" : file.Name, file));
                }
            }
        }
        catch (SftpPathNotFoundException) when (directoryKey.Length > 0)
        {
            return; // removed while we listed: nothing to offer from it
        }
        catch (SftpPathNotFoundException ex)
        {
            throw IntakeException.Config($"sftp source: remote directory {location} does not exist (or is not a folder)", ex);
        }
        catch (SftpPermissionDeniedException ex)
        {
            throw IntakeException.Config($"sftp source: no permission to list {location}", ex);
        }
        catch (Exception ex) when (connection.Failure(ex, "list", location) is { } failure)
        {
            throw failure;
        }

        children.Sort(static (a, b) => string.CompareOrdinal(a.SortName, b.SortName));
        for (var i = children.Count - 1; i >= 0; i--)
        {
            var name = children[i].File.Name;
            pending.Push((directoryKey.Length == 0 ? name : directoryKey + "/" + name, children[i].File));
        }
    }

    private bool IsWanted(string key) => _include.Any(g => g.IsMatch(key)) && !_exclude.Any(g => g.IsMatch(key));

    private static bool IsSkipped(ISftpFile file)
    {
        var name = file.Name;

        // U+FFFD: the name's bytes were not valid UTF-8 (the decoder replaced them), so no key could name the file.
        if (name.Length == 0 || name[0] == '.' || name.Contains('\\', StringComparison.Ordinal) || name.Contains('/', StringComparison.Ordinal) ||
            name.Contains('\uFFFD', StringComparison.Ordinal))
        {
            return true;
        }

        if (file.IsDirectory)
        {
            return false;
        }

        // Links could lead outside the folder or loop; devices, sockets and unknown types are not data.
        return !file.IsRegularFile ||
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

    /// <summary>"SHA256:abc…" (prefix optional, padding optional) to the form OpenSSH prints, or null.</summary>
    private static string? NormalizeFingerprint(string fingerprint)
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

    private readonly record struct Observation(long Size, DateTimeOffset Modified);
}
