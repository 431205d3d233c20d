namespace Intake.Sources.Ftp;

/// <summary>What a directory entry is.</summary>
public enum FtpItemType
{
    /// <summary>A regular file.</summary>
    File,
    /// <summary>A folder.</summary>
    Directory,
    /// <summary>A symbolic link (never followed: it can point anywhere, or loop).</summary>
    Link,
    /// <summary>Anything else the server reports (devices, sockets, unknown MLSD types).</summary>
    Other,
}

/// <summary>One entry of a directory listing.</summary>
/// <param name="Name">The name within its folder (no '/').</param>
/// <param name="Type">File, folder, link or other.</param>
/// <param name="Size">Size in bytes when the listing gives it.</param>
/// <param name="Modified">Last modification time when the listing gives it.</param>
/// <param name="ModifiedIsExact">
/// True when <paramref name="Modified"/> is the server's exact UTC time (an MLSD <c>modify</c> fact). False
/// for a LIST line, whose time is in the server's unknown time zone and rounded to the minute (or the
/// day, for older files): good for display, not for deciding whether a file is still being written.
/// </param>
public sealed record FtpListItem(string Name, FtpItemType Type, long? Size, DateTimeOffset? Modified, bool ModifiedIsExact);
