using System.Globalization;
using System.Runtime.CompilerServices;
using Intake.Core.Errors;
using Intake.Core.Ports;

namespace Intake.Sources.Ftp;

/// <summary>
/// Offers the files of an FTP or FTPS folder to discovery, recursively, filtered by include and exclude
/// patterns, once they look complete; and downloads them, resuming cut transfers.
/// </summary>
/// <remarks>
/// <para>
/// <b>Fingerprint.</b> <c>size:&lt;bytes&gt;;mtime:&lt;unix ms&gt;</c>, from MLSD facts when the server
/// offers MLSD, else from the LIST size and the exact time of MDTM (one round trip per matching file).
/// Without MDTM the LIST time is used: minute precision, in the server's time zone.
/// </para>
/// <para>
/// <b>When a file counts as complete.</b> FTP has no "upload finished" signal, so completeness is
/// inferred, and a file is offered when it has not changed since the previous listing by this instance
/// (size and time) and either:
/// <list type="number">
/// <item>its exact modification time (MLSD or MDTM, UTC) is at least <see cref="FtpSourceOptions.StableFor"/>
/// before now by the injected clock; this offers old files in the very first listing, so a one-shot run works; or</item>
/// <item>this instance has seen it with the same size and time for at least <c>StableFor</c>. This rule needs
/// two listings, and covers what rule 1 cannot: servers whose clock runs ahead (times in the future), and
/// servers with only LIST times, which are in an unknown time zone and are therefore never trusted for rule 1.</item>
/// </list>
/// "Not changed since the previous listing" catches uploaders that set an old modification time before they
/// finish (<c>MFMT</c>, or clients preserving the source time): such a file waits for one quiet listing.
/// Observations live in memory only; after a restart, rule 1 or a new <c>StableFor</c> of observation applies.
/// <c>StableFor</c> zero offers every file at once.
/// </para>
/// <para>
/// Never offered: names starting with '.' (and everything in such folders), temporary upload names
/// (<see cref="LocalDirectorySource.TemporaryNameSuffixes"/>, <c>~$</c>), symbolic links, and names with a
/// backslash. Each listing and each download uses its own connection, so downloads can run side by side.
/// </para>
/// </remarks>
public sealed class FtpSource : IResumableFileSource
{
    // Folders nested deeper than this are a loop (some servers show links as folders) or a mistake.
    private const int MaxDepth = 64;

    private readonly FtpSourceOptions _options;
    private readonly TimeProvider _time;
    private readonly Glob[] _include;
    private readonly Glob[] _exclude;
    private string? _root;

    // What the previous complete listing saw. Replaced whole at the end of a listing, never mutated, so a
    // concurrent listing only ever compares against a consistent snapshot.
    private volatile Dictionary<string, Observation> _lastSeen = new(StringComparer.Ordinal);

    /// <summary>Validates the options and compiles the patterns; connects only when used.</summary>
    /// <exception cref="IntakeException">Config, naming the setting.</exception>
    public FtpSource(FtpSourceOptions options, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(time);
        options.Validate();
        _options = options;
        _time = time;
        _include = options.Include.Select(p => Glob.Parse(p, options.IgnoreCase)).ToArray();
        _exclude = (options.Exclude ?? []).Select(p => Glob.Parse(p, options.IgnoreCase)).ToArray();
        if (options.RemoteDirectory.StartsWith('/'))
        {
            _root = NormalizeDirectory(options.RemoteDirectory);
        }
    }

    /// <inheritdoc />
    /// <exception cref="IntakeException">
    /// Transient when the server cannot be reached or fails
    /// for now; Config when the login is refused or the remote folder does not exist.
    /// </exception>
    public async IAsyncEnumerable<SourceFile> ListAsync([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await using var client = await FtpClient.ConnectAsync(_options, _time, cancellationToken);
        var root = await RootAsync(client, cancellationToken);
        var top = await ListFolderAsync(client, root, isRoot: true, cancellationToken);
        var now = _time.GetUtcNow();
        var previous = _lastSeen;
        var seen = new Dictionary<string, Observation>(previous.Count, StringComparer.Ordinal);

        // Depth-first with an explicit stack, children pushed in reverse order: keys come out in ordinal
        // order (a folder sorts as "name/") while memory holds one folder listing per level.
        var pending = new Stack<(FtpListItem Item, string Key, int Depth)>();
        Push(pending, top!, "", 0);
        while (pending.TryPop(out var entry))
        {
            cancellationToken.ThrowIfCancellationRequested();
            var path = Join(root, entry.Key);
            if (entry.Item.Type == FtpItemType.Directory)
            {
                if (entry.Depth + 1 < MaxDepth && await ListFolderAsync(client, path, isRoot: false, cancellationToken) is { } children)
                {
                    Push(pending, children, entry.Key, entry.Depth + 1);
                }

                continue;
            }

            if (!IsWanted(entry.Key) || await ObserveAsync(client, entry.Item, path, cancellationToken) is not { } observation)
            {
                continue;
            }

            Observation? before = previous.TryGetValue(entry.Key, out var b) ? b : null;
            var since = before is { } last && last.SameFile(observation) ? last.Since : now;
            observation = observation with { Since = since };
            seen[entry.Key] = observation;
            if (!IsStable(observation, before, now))
            {
                continue;
            }

            var modified = observation.Modified ?? DateTimeOffset.UnixEpoch;
            yield return new SourceFile(entry.Key, observation.Size, modified,
                string.Create(CultureInfo.InvariantCulture, $"size:{observation.Size};mtime:{modified.ToUnixTimeMilliseconds()}"));
        }

        // Only a listing that ran to the end describes the whole folder; an abandoned one would forget files.
        _lastSeen = seen;
    }

    /// <inheritdoc />
    public Task<Stream> OpenReadAsync(string key, CancellationToken cancellationToken) => OpenReadAsync(key, 0, cancellationToken);

    /// <summary>
    /// Opens a file for streaming from <paramref name="offset"/> (REST), on a connection of its own that
    /// the stream closes. The stream throws a transient <see cref="IntakeException"/> when the connection
    /// drops before the size the server reported, and never ends early. When the server refuses REST, the
    /// transfer starts at 0 and the first <paramref name="offset"/> bytes are skipped.
    /// </summary>
    /// <param name="key">A key from <see cref="ListAsync"/>.</param>
    /// <param name="offset">Where to start, e.g. the length of a partial download to complete.</param>
    /// <param name="cancellationToken">Cancels opening.</param>
    /// <exception cref="FileNotFoundException">The file is gone.</exception>
    /// <exception cref="IntakeException">Integrity when the file is now shorter than <paramref name="offset"/>; Transient on network failures.</exception>
    public async Task<Stream> OpenReadAsync(string key, long offset, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        var (stream, _) = await OpenSessionAsync(key, offset, null, null, cancellationToken);
        return stream;
    }

    /// <summary>
    /// Opens a file for a download that survives cut connections: when the connection drops, the stream
    /// reconnects and continues with REST at the byte it reached (after the policy's backoff), so the
    /// caller copies one uninterrupted stream. It ends only when exactly <paramref name="expectedSize"/>
    /// bytes arrived and the server confirmed the transfer.
    /// </summary>
    /// <param name="key">A key from <see cref="ListAsync"/>.</param>
    /// <param name="expectedSize">The size the listing reported.</param>
    /// <param name="policy">Retries and backoff; default <see cref="FtpSourceOptions.Resume"/>.</param>
    /// <param name="cancellationToken">Cancels opening (reads take their own token).</param>
    /// <exception cref="FileNotFoundException">The file is gone (also when it disappears during the download).</exception>
    /// <exception cref="IntakeException">
    /// Integrity (also from reads) when the file's size is not <paramref name="expectedSize"/> or it changed
    /// between two attempts, so parts of two versions are never joined; Transient once the retries are spent.
    /// </exception>
    /// <summary>A resumable download with the options' <see cref="FtpSourceOptions.Resume"/> policy.</summary>
    public Task<Stream> OpenResumableReadAsync(string key, long expectedSize, CancellationToken cancellationToken) =>
        OpenResumableReadAsync(key, expectedSize, null, cancellationToken);

    public async Task<Stream> OpenResumableReadAsync(string key, long expectedSize, FtpResumePolicy? policy, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(expectedSize);
        var resume = policy ?? _options.Resume ?? new FtpResumePolicy();
        resume.Validate(_options.Endpoint);
        var stream = new FtpResumableReadStream(this, key, expectedSize, resume, _time);
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
    public string Describe(string key)
    {
        ValidateKey(key);
        // A relative folder not resolved yet reads the same in a URL: ftp:// paths start at the login folder.
        var directory = (_root ?? NormalizeDirectory(_options.RemoteDirectory)).Trim('/');
        return directory.Length == 0 ? $"{_options.Endpoint}/{key}" : $"{_options.Endpoint}/{directory}/{key}";
    }

    /// <summary>
    /// One download attempt on a new connection: SIZE and MDTM, the checks against what an earlier attempt
    /// saw, then REST and RETR. The stream owns the connection.
    /// </summary>
    internal async Task<(Stream Stream, FileStamp Stamp)> OpenSessionAsync(string key, long offset, long? expectedSize, FileStamp? earlier, CancellationToken ct)
    {
        ValidateKey(key);
        var client = await FtpClient.ConnectAsync(_options, _time, ct);
        try
        {
            var path = Join(await RootAsync(client, ct), key);
            var size = await client.GetSizeAsync(path, ct);

            // The time is only needed to recognise the same version on a later attempt (resumable reads).
            var modified = expectedSize is null ? null : await client.GetModifiedAsync(path, ct);
            var stamp = new FileStamp(size, modified);
            if (earlier is { } first && stamp != first)
            {
                // Joining the bytes of two versions would make a file that never existed.
                throw IntakeException.Integrity(
                    $"{Describe(key)} changed on the server during the download (size {first.Size} -> {stamp.Size}, modified {first.Modified:O} -> {stamp.Modified:O})");
            }

            if (expectedSize is { } expected && size is { } actual && actual != expected)
            {
                throw IntakeException.Integrity($"{Describe(key)} is {actual} bytes, but {expected} were expected: it changed since it was listed");
            }

            if (size is { } total && offset > total)
            {
                throw IntakeException.Integrity($"{Describe(key)} is now {total} bytes, shorter than the {offset} already downloaded");
            }

            var stream = await client.OpenReadCoreAsync(path, offset, expectedSize ?? size, ownsClient: true, ct);
            return (stream, stamp);
        }
        catch
        {
            client.Dispose();
            throw;
        }
    }

    private async Task<IReadOnlyList<FtpListItem>?> ListFolderAsync(FtpClient client, string path, bool isRoot, CancellationToken ct)
    {
        try
        {
            return await client.ListAsync(path, ct);
        }
        catch (DirectoryNotFoundException e) when (isRoot)
        {
            throw IntakeException.Config($"{_options.Endpoint}: remote directory {path} does not exist or cannot be entered", e);
        }
        catch (DirectoryNotFoundException)
        {
            return null; // removed (or made unreadable) while we listed: nothing to offer from it
        }
    }

    /// <summary>Size and exact time of a listed file (SIZE and MDTM when the listing lacks them); null when it vanished.</summary>
    private static async Task<Observation?> ObserveAsync(FtpClient client, FtpListItem item, string path, CancellationToken ct)
    {
        try
        {
            var size = item.Size ?? await client.GetSizeAsync(path, ct);
            if (size is null)
            {
                return null; // neither the listing nor SIZE tells: no fingerprint can be made
            }

            if (item.ModifiedIsExact)
            {
                return new Observation(size.Value, item.Modified, true, default);
            }

            var exact = await client.GetModifiedAsync(path, ct);
            return exact is null
                ? new Observation(size.Value, item.Modified, false, default)
                : new Observation(size.Value, exact, true, default);
        }
        catch (FileNotFoundException)
        {
            return null; // deleted between the listing and the question
        }
    }

    private bool IsStable(Observation observation, Observation? before, DateTimeOffset now)
    {
        if (_options.StableFor == TimeSpan.Zero)
        {
            return true;
        }

        if (before is not null && !before.Value.SameFile(observation))
        {
            return false; // changed since the last listing, whatever its time says: wait for a quiet listing
        }

        var oldByItsTime = observation.ModifiedIsExact && now - observation.Modified >= _options.StableFor;
        var quietLongEnough = before is not null && now - observation.Since >= _options.StableFor;
        return oldByItsTime || quietLongEnough;
    }

    private bool IsWanted(string key) => _include.Any(g => g.IsMatch(key)) && !_exclude.Any(g => g.IsMatch(key));

    private async Task<string> RootAsync(FtpClient client, CancellationToken ct)
    {
        if (_root is { } root)
        {
            return root;
        }

        // A relative folder is relative to where the server put us after login; resolved once.
        var home = await client.GetWorkingDirectoryAsync(ct);
        var relative = NormalizeDirectory(_options.RemoteDirectory).TrimStart('/');
        root = relative.Length == 0 ? NormalizeDirectory(home) : NormalizeDirectory(Join(NormalizeDirectory(home), relative));
        _root = root;
        return root;
    }

    private static void Push(Stack<(FtpListItem Item, string Key, int Depth)> pending, IReadOnlyList<FtpListItem> items, string folderKey, int depth)
    {
        var children = items
            .Where(i => i.Type is FtpItemType.File or FtpItemType.Directory && !IsSkipped(i))
            .Select(i => (Item: i, SortName: i.Type == FtpItemType.Directory ? i.Name + "/" : i.Name))
            .ToList();
        children.Sort(static (a, b) => string.CompareOrdinal(a.SortName, b.SortName));
        for (var i = children.Count - 1; i >= 0; i--)
        {
            var name = children[i].Item.Name;
            pending.Push((children[i].Item, folderKey.Length == 0 ? name : folderKey + "/" + name, depth));
        }
    }

    private static bool IsSkipped(FtpListItem item)
    {
        var name = item.Name;
        if (name.Length == 0 || name[0] == '.' || name.AsSpan().IndexOfAny('\\', '\r', '\n') >= 0 || name.Contains('\0', StringComparison.Ordinal))
        {
            return true;
        }

        return item.Type == FtpItemType.File &&
            (name.StartsWith("~$", StringComparison.Ordinal) ||
             LocalDirectorySource.TemporaryNameSuffixes.Any(s => name.EndsWith(s, StringComparison.OrdinalIgnoreCase)));
    }

    private static string NormalizeDirectory(string directory)
    {
        var parts = directory.Split('/', StringSplitOptions.RemoveEmptyEntries).Where(p => p != ".");
        var joined = string.Join('/', parts);
        return directory.StartsWith('/') ? "/" + joined : joined;
    }

    private static string Join(string directory, string key) =>
        key.Length == 0 ? directory : directory.EndsWith('/') ? directory + key : directory + "/" + key;

    private static void ValidateKey(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        if (key.Length == 0 || key[0] == '/' || key.AsSpan().IndexOfAny('\\', '\r', '\n') >= 0 || key.Contains('\0', StringComparison.Ordinal) ||
            key.Split('/').Any(s => s is "" or "." or ".."))
        {
            // Keys come from our own listing; anything else may be an attempt to read outside the folder.
            throw new ArgumentException($"'{key.Replace('\0', '?')}' is not a relative path inside the source folder.", nameof(key));
        }
    }

    /// <summary>What identifies one version of a file between two download attempts.</summary>
    internal readonly record struct FileStamp(long? Size, DateTimeOffset? Modified);

    private readonly record struct Observation(long Size, DateTimeOffset? Modified, bool ModifiedIsExact, DateTimeOffset Since)
    {
        public bool SameFile(Observation other) => Size == other.Size && Modified == other.Modified;
    }
}
