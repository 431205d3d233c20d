namespace Intake.Sources.Database;

/// <summary>
/// The window start of a partition that has no watermark: <c>yesterday</c> (start of the previous UTC day),
/// <c>today</c>, a time, or a duration before the request. <see cref="Text"/> is the setting as written; the engine
/// reads it (<c>default_start</c>) into one of these.
/// </summary>
public sealed record DefaultStart
{
    private readonly DateTimeOffset? _at;
    private readonly TimeSpan? _ago;
    private readonly int _daysBack;

    private DefaultStart(string text, DateTimeOffset? at, TimeSpan? ago, int daysBack)
    {
        Text = text;
        _at = at;
        _ago = ago;
        _daysBack = daysBack;
    }

    /// <summary>The setting as written, for messages.</summary>
    public string Text { get; }

    /// <summary>The start of the UTC day before the request's.</summary>
    public static readonly DefaultStart Yesterday = new("yesterday", null, null, 1);

    /// <summary>The start of the request's UTC day.</summary>
    public static readonly DefaultStart Today = new("today", null, null, 0);

    /// <summary>A fixed time.</summary>
    public static DefaultStart At(string text, DateTimeOffset at) => new(text, at.ToUniversalTime(), null, 0);

    /// <summary>A duration before the request.</summary>
    public static DefaultStart Before(string text, TimeSpan ago) => new(text, null, ago, 0);

    /// <summary>The start for a request made at <paramref name="requestedAt"/> (not "now", so a retried request reads the same window).</summary>
    public DateTimeOffset Resolve(DateTimeOffset requestedAt)
    {
        if (_at is { } at)
        {
            return at;
        }

        if (_ago is { } ago)
        {
            return requestedAt.ToUniversalTime() - ago;
        }

        return new DateTimeOffset(requestedAt.UtcDateTime.Date, TimeSpan.Zero).AddDays(-_daysBack);
    }
}
