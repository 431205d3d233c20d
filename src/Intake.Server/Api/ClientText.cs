using System.Text.RegularExpressions;

namespace Intake.Server.Api;

/// <summary>
/// Messages written by the engine (a load's error, a step's message, a failing readiness check) name files by
/// their full path on the server, which is useful in the server's log but is none of an API client's business.
/// Before such a message leaves through the API, paths inside the project folder become relative to it
/// (<c>.intake/store/exports/ids.txt</c>) and any other absolute path keeps only its file name (<c>…/ids.txt</c>).
/// </summary>
public sealed partial class ClientText
{
    private readonly string _root;

    /// <param name="projectDirectory">The folder of intake.yaml, which relative paths in the configuration start from.</param>
    public ClientText(string projectDirectory)
    {
        ArgumentNullException.ThrowIfNull(projectDirectory);
        _root = Path.TrimEndingDirectorySeparator(Path.GetFullPath(projectDirectory));
    }

    public string? For(string? message)
    {
        if (string.IsNullOrEmpty(message))
        {
            return message;
        }

        var text = message.Replace(_root + Path.DirectorySeparatorChar, "", StringComparison.Ordinal);
        text = text.Replace(_root, ".", StringComparison.Ordinal);
        return AbsolutePath().Replace(text, m => "…/" + m.Groups["name"].Value);
    }

    /// <summary>
    /// A path starting with '/' where a word starts (not the '//' of a URL, nor the '/' inside a relative key),
    /// or a drive path (<c>C:\…</c>); the last segment is kept.
    /// </summary>
    [GeneratedRegex(@"(?<=^|[\s'""(\[=,:])(?:/|[A-Za-z]:\\)(?:[^\s'""/\\]+[/\\])*(?<name>[^\s'""/\\,;)\]]+)")]
    private static partial Regex AbsolutePath();
}
