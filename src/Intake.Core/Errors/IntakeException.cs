namespace Intake.Core.Errors;

/// <summary>
/// The one root exception of Intake. Adapters translate what they catch into it at their boundary,
/// choosing the <see cref="ErrorKind"/>; retries are decided by <see cref="IsTransient"/> only.
/// </summary>
/// <remarks>
/// The message is plain text for a person: what happened, where (file, entry, line, record, column, byte
/// offset) and what to do. It never names a .NET type or a replaced system's exception: those names are
/// error codes, chosen per pipeline where the worker records the failure, not here.
/// </remarks>
public class IntakeException : Exception
{
    public IntakeException(ErrorKind kind, string message, Exception? innerException = null)
        : base(message, innerException)
    {
        Kind = kind;
    }

    public IntakeException() : this(ErrorKind.Transient, "unknown failure") { }

    public IntakeException(string message) : this(ErrorKind.Transient, message) { }

    public IntakeException(string message, Exception innerException) : this(ErrorKind.Transient, message, innerException) { }

    public ErrorKind Kind { get; }

    public bool IsTransient => Kind == ErrorKind.Transient;

    public static IntakeException Transient(string message, Exception? inner = null) => new(ErrorKind.Transient, message, inner);
    public static IntakeException Empty(string message) => new(ErrorKind.Empty, message);
    public static IntakeException Format(string message, Exception? inner = null) => new(ErrorKind.Format, message, inner);
    public static IntakeException Integrity(string message, Exception? inner = null) => new(ErrorKind.Integrity, message, inner);
    public static IntakeException Schema(string message, Exception? inner = null) => new(ErrorKind.Schema, message, inner);
    public static IntakeException Security(string message, Exception? inner = null) => new(ErrorKind.Security, message, inner);
    public static IntakeException Config(string message, Exception? inner = null) => new(ErrorKind.Config, message, inner);
}
