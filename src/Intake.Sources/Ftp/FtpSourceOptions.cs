using Intake.Core.Errors;

namespace Intake.Sources.Ftp;

/// <summary>
/// An FTP folder to take files from: the connection settings of <see cref="FtpClientOptions"/>, plus
/// which files, when they count as complete, and how hard to try when a download is cut.
/// </summary>
public sealed class FtpSourceOptions : FtpClientOptions
{
    /// <summary>
    /// The folder to list, recursively. An absolute path (<c>/outgoing</c>), or relative to the folder the
    /// server puts the user in after login (empty: that login folder). Default <c>/</c>, the root the server
    /// shows, which for a chrooted account is its login folder.
    /// </summary>
    public string RemoteDirectory { get; set; } = "/";

    /// <summary>Patterns (see <see cref="Glob"/>) a key must match at least one of. Default <c>**/*</c>.</summary>
    public IList<string> Include { get; set; } = ["**/*"];

    /// <summary>Patterns that take a file out again, e.g. <c>archive/**</c>. Default: none.</summary>
    public IList<string> Exclude { get; set; } = [];

    /// <summary>Match patterns ignoring case (for Windows FTP servers). Default false.</summary>
    public bool IgnoreCase { get; set; }

    /// <summary>
    /// How long a file must stay unchanged before it is offered (see <see cref="FtpSource"/> for the exact
    /// rule). Default 10 seconds, what pipelines have always used. FTP uploads of large files can stall for
    /// tens of seconds on slow links, and offering a file in such a pause would download half of it: raise
    /// it for such producers. Zero offers every file at once, for producers that upload under a temporary
    /// name and rename when done.
    /// </summary>
    public TimeSpan StableFor { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How <see cref="FtpSource.OpenResumableReadAsync"/> retries a cut download. Default: see <see cref="FtpResumePolicy"/>.</summary>
    public FtpResumePolicy Resume { get; set; } = new();

    /// <inheritdoc />
    /// <exception cref="IntakeException">Config, naming the setting.</exception>
    public override void Validate()
    {
        base.Validate();
        if (Include is null || Include.Count == 0)
        {
            throw IntakeException.Config($"{Endpoint}: 'include' is empty, so no file could ever be taken (the default is **/*)");
        }

        if (StableFor < TimeSpan.Zero)
        {
            throw IntakeException.Config($"{Endpoint}: 'stable_for' cannot be negative ({StableFor})");
        }

        if (RemoteDirectory is null || RemoteDirectory.AsSpan().IndexOfAny('\r', '\n', '\0') >= 0)
        {
            throw IntakeException.Config($"{Endpoint}: 'path' (the folder to list) is missing or contains a line break");
        }

        Resume?.Validate(Endpoint);
    }
}

/// <summary>
/// How a resumable download reacts to a cut connection: reconnect, continue with REST where it stopped,
/// and give up after <see cref="MaxRetries"/> failures in a row without a single new byte.
/// </summary>
public sealed class FtpResumePolicy
{
    /// <summary>
    /// Failures in a row, with no byte received in between, before the download fails. Default 5. The
    /// count starts again whenever bytes arrive, so a long download over a flaky link that keeps moving
    /// forward is never abandoned, while a server that is gone is given up on quickly.
    /// </summary>
    public int MaxRetries { get; set; } = 5;

    /// <summary>Wait before the first retry; doubled for each further failure in a row. Default 1 second.</summary>
    public TimeSpan BaseDelay { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>The longest wait between two retries. Default 30 seconds.</summary>
    public TimeSpan MaxDelay { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>The wait before retry number <paramref name="failures"/> (1 for the first).</summary>
    public TimeSpan DelayFor(int failures)
    {
        if (BaseDelay <= TimeSpan.Zero)
        {
            return TimeSpan.Zero;
        }

        var factor = Math.Pow(2, Math.Min(failures - 1, 30));
        return TimeSpan.FromTicks((long)Math.Min(MaxDelay.Ticks, BaseDelay.Ticks * factor));
    }

    internal void Validate(string endpoint)
    {
        if (MaxRetries < 0 || BaseDelay < TimeSpan.Zero || MaxDelay < BaseDelay)
        {
            throw IntakeException.Config($"{endpoint}: resuming a cut download needs retries and delays that are not negative, and a longest delay of at least the first (a pipeline's retry: base_delay and max_delay)");
        }
    }
}
