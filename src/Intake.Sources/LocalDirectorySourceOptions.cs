namespace Intake.Sources;

/// <summary>Where a <see cref="LocalDirectorySource"/> looks, what it takes, and when a file counts as complete.</summary>
public sealed class LocalDirectorySourceOptions
{
    /// <summary>The folder to watch. Required; must exist when listed.</summary>
    public string Directory { get; set; } = "";

    /// <summary>
    /// Patterns (see <see cref="Glob"/>) a file's relative path must match at least one of. Default
    /// <c>**/*</c>: every file at any depth.
    /// </summary>
    public IList<string> Include { get; set; } = ["**/*"];

    /// <summary>Patterns that take a file out again, e.g. <c>archive/**</c>. Default: none.</summary>
    public IList<string> Exclude { get; set; } = [];

    /// <summary>
    /// How long a file must have gone unmodified before it is offered. Default 10 seconds, what pipelines
    /// have always used; together with the "unchanged since the previous listing" rule it covers writers on
    /// this machine. Raise it for producers that copy over a network (SMB, NFS, a slow SFTP upload): they can
    /// pause for tens of seconds between writes, and offering a file in such a pause would load half of it.
    /// </summary>
    public TimeSpan StableFor { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Match patterns ignoring case (for folders filled from Windows machines). Default false.</summary>
    public bool IgnoreCase { get; set; }
}
