namespace Intake.Core.Errors;

/// <summary>
/// The one root exception of Intake. Adapters translate what they catch into it at their boundary,
/// choosing the <see cref="ErrorKind"/>; retries are decided by <see cref="IsTransient"/> only.
/// </summary>
public class IntakeException : Exception
{
    public IntakeException(ErrorKind kind, string message, Exception? innerException = null, string? legacyName = null)
        : base(message, innerException)
    {
        Kind = kind;
        LegacyName = legacyName;
    }

    public IntakeException() : this(ErrorKind.Transient, "unknown failure") { }

    public IntakeException(string message) : this(ErrorKind.Transient, message) { }

    public IntakeException(string message, Exception innerException) : this(ErrorKind.Transient, message, innerException) { }

    public ErrorKind Kind { get; }

    /// <summary>The exception name the replaced system used for this failure (e.g. <c>FTPServerNetworkDownloadException</c>), kept so its users recognise it.</summary>
    public string? LegacyName { get; }

    public bool IsTransient => Kind == ErrorKind.Transient;

    /// <summary>The message as recorded on a step: the legacy name first when there is one.</summary>
    public string Describe() => LegacyName is null ? Message : $"{LegacyName}: {Message}";

    public static IntakeException Transient(string message, Exception? inner = null, string? legacyName = null) => new(ErrorKind.Transient, message, inner, legacyName);
    public static IntakeException Empty(string message, string? legacyName = null) => new(ErrorKind.Empty, message, null, legacyName);
    public static IntakeException Format(string message, Exception? inner = null, string? legacyName = null) => new(ErrorKind.Format, message, inner, legacyName);
    public static IntakeException Integrity(string message, string? legacyName = null) => new(ErrorKind.Integrity, message, null, legacyName);
    public static IntakeException Schema(string message, Exception? inner = null) => new(ErrorKind.Schema, message, inner);
    public static IntakeException Security(string message, string? legacyName = null) => new(ErrorKind.Security, message, null, legacyName);
    public static IntakeException Config(string message, Exception? inner = null) => new(ErrorKind.Config, message, inner);
}
