namespace Intake.Shared.S3;

/// <summary>Small conversions of what S3 returns, the same for the store and the source.</summary>
internal static class S3Values
{
    /// <summary>S3 times are UTC; the SDK may hand them over as local or unspecified <see cref="DateTime"/>s.</summary>
    public static DateTimeOffset Utc(DateTime? time) => time is { } t
        ? new DateTimeOffset(t.Kind == DateTimeKind.Unspecified ? DateTime.SpecifyKind(t, DateTimeKind.Utc) : t.ToUniversalTime())
        : DateTimeOffset.UnixEpoch;

    /// <summary>An ETag without the quotes S3 puts around it.</summary>
    public static string Unquote(string? etag) => (etag ?? "").Trim('"');
}
