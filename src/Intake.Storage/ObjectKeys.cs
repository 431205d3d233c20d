namespace Intake.Storage;

/// <summary>
/// The one definition of a valid area, key and prefix, shared by every store so a key that works on a
/// local directory also works on S3 and the other way round. Keys use forward slashes and are always
/// relative: anything that could climb out of the store (<c>..</c>, an absolute path, a backslash that a
/// Windows path would read as a separator, a NUL that truncates a native path) is refused up front.
/// </summary>
public static class ObjectKeys
{
    /// <summary>True when <paramref name="key"/> is a relative, slash-separated key with no empty, <c>.</c> or <c>..</c> segment.</summary>
    public static bool IsValidKey(string? key) => key is { Length: > 0 } && Problem(key) is null;

    /// <summary>Throws <see cref="ArgumentException"/> naming the problem when <paramref name="key"/> is not a valid key.</summary>
    public static void ValidateKey(string key, string paramName = "key")
    {
        ArgumentNullException.ThrowIfNull(key, paramName);
        if (key.Length == 0)
        {
            throw new ArgumentException("An object key cannot be empty.", paramName);
        }

        if (Problem(key) is { } problem)
        {
            throw new ArgumentException($"Invalid object key '{Printable(key)}': {problem}.", paramName);
        }
    }

    /// <summary>
    /// An area is a single segment that does not start with a dot: dot-names are reserved for the store's
    /// own bookkeeping (temporary files, checksums), which must never appear as an area.
    /// </summary>
    public static void ValidateArea(string area, string paramName = "area")
    {
        ArgumentNullException.ThrowIfNull(area, paramName);
        if (area.Length == 0 || Problem(area) is not null || area.Contains('/', StringComparison.Ordinal) || area[0] == '.')
        {
            throw new ArgumentException($"Invalid area '{Printable(area)}': an area is one non-empty name without '/', '\\', NUL or a leading dot.", paramName);
        }
    }

    /// <summary>
    /// A prefix is empty (everything), or a key, or a key followed by one '/'. It is matched as a string
    /// prefix, as S3 does: "load1" also matches "load10/..."; end it with '/' to mean one folder.
    /// </summary>
    public static void ValidatePrefix(string prefix, string paramName = "prefix")
    {
        ArgumentNullException.ThrowIfNull(prefix, paramName);
        if (prefix.Length == 0)
        {
            return;
        }

        var body = prefix[^1] == '/' ? prefix[..^1] : prefix;
        var problem = body.Length == 0 ? "a prefix cannot be only '/'" : Problem(body);
        if (problem is not null)
        {
            throw new ArgumentException($"Invalid prefix '{Printable(prefix)}': {problem}.", paramName);
        }
    }

    private static string? Problem(string key)
    {
        if (key.Contains('\0', StringComparison.Ordinal))
        {
            return "it contains NUL";
        }

        if (key.Contains('\\', StringComparison.Ordinal))
        {
            return "it contains a backslash (keys use '/')";
        }

        if (key[0] == '/')
        {
            return "it is absolute (starts with '/')";
        }

        foreach (var segment in key.Split('/'))
        {
            switch (segment)
            {
                case "":
                    return "it has an empty segment ('//' or a trailing '/')";
                case ".":
                case "..":
                    return $"it has a '{segment}' segment";
            }
        }

        return null;
    }

    // Keys come from outside (file names, e-mail attachments); keep control characters out of messages and logs.
    private static string Printable(string value) =>
        string.Create(value.Length, value, static (span, v) =>
        {
            for (var i = 0; i < v.Length; i++)
            {
                span[i] = char.IsControl(v[i]) ? '?' : v[i];
            }
        });
}
