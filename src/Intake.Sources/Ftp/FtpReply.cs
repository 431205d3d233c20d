namespace Intake.Sources.Ftp;

/// <summary>
/// One complete server reply: the three-digit code and its text (every line of a multi-line reply,
/// joined with '\n'). The first digit decides what happened: 1 preliminary, 2 done, 3 more needed,
/// 4 failed for now (try again), 5 failed for good.
/// </summary>
/// <param name="Code">The reply code, 100 to 599.</param>
/// <param name="Text">The text after the code, lines joined with '\n'.</param>
public sealed record FtpReply(int Code, string Text)
{
    /// <summary>1xx: the server started something and will send another reply when it ends.</summary>
    public bool IsPreliminary => Code is >= 100 and < 200;

    /// <summary>2xx: the command succeeded.</summary>
    public bool IsSuccess => Code is >= 200 and < 300;

    /// <summary>3xx: the command was accepted and the server waits for the next one (PASS after USER, RETR after REST).</summary>
    public bool IsIntermediate => Code is >= 300 and < 400;

    /// <summary>4xx: failed this time; the same command may succeed later.</summary>
    public bool IsTransientFailure => Code is >= 400 and < 500;

    /// <summary>5xx: failed, and repeating the command will not help.</summary>
    public bool IsPermanentFailure => Code >= 500;

    /// <inheritdoc />
    public override string ToString() => Text.Length == 0 ? Code.ToString(System.Globalization.CultureInfo.InvariantCulture) : $"{Code} {Text.Replace('\n', ' ')}";
}
