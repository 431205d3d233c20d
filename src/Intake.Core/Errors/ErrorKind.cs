namespace Intake.Core.Errors;

/// <summary>Every failure is classified once, where it happens, into one of these kinds.</summary>
public enum ErrorKind
{
    /// <summary>Network, timeout, 5xx, server down: retried with backoff, then failed.</summary>
    Transient,
    /// <summary>No content where content was expected.</summary>
    Empty,
    /// <summary>Bad archive, bad CSV or JSON.</summary>
    Format,
    /// <summary>Size, checksum or count mismatch.</summary>
    Integrity,
    /// <summary>A value cannot be cast to the target, or the columns do not match.</summary>
    Schema,
    /// <summary>Path traversal, archive bomb, oversize, unauthenticated: quarantined.</summary>
    Security,
    /// <summary>A configuration that cannot work.</summary>
    Config,
}

public static class ErrorKindNames
{
    public static string ToWord(this ErrorKind kind) => kind.ToString().ToLowerInvariant();

    public static bool TryParse(string? word, out ErrorKind kind) =>
        Enum.TryParse(word, ignoreCase: true, out kind) && Enum.IsDefined(kind);
}
