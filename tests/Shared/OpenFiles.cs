namespace Intake.Tests.Shared;

/// <summary>What this test process has open (Linux: its descriptors in /proc).</summary>
public static class OpenFiles
{
    /// <summary>The files under <paramref name="directory"/> this process has open.</summary>
    public static List<string> Under(string directory) =>
        Directory.EnumerateFileSystemEntries("/proc/self/fd")
            .Select(fd =>
            {
                try
                {
                    return new FileInfo(fd).LinkTarget;
                }
                catch (IOException)
                {
                    return null; // closed while listing
                }
            })
            .Where(target => target is not null && target.StartsWith(directory, StringComparison.Ordinal))
            .Select(target => target!)
            .ToList();
}
