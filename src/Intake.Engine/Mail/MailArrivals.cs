using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using Intake.Core.Ports;

namespace Intake.Engine.Mail;

/// <summary>
/// The first arrival of a message at a pipeline: where its original was put in the inbox, when, and the envelope it came
/// with (which the message itself does not carry, and which routing needs again when a load is re-driven).
/// </summary>
/// <param name="Sha256">The message's fingerprint (<see cref="MailFingerprint"/>: the SHA-256, hex, of the message without its leading trace fields), which names the arrival.</param>
/// <param name="Size">The size in bytes of the copy in the inbox (the message as it was first received).</param>
/// <param name="InboxKey">Where it was put in the inbox area.</param>
/// <param name="ReceivedAt">When it was first received (the layout's time folder).</param>
/// <param name="Sender">The envelope sender; null for a bounce.</param>
/// <param name="Recipients">The envelope recipients.</param>
/// <param name="Client">Where it came from (an SMTP client, or <c>postfix</c>).</param>
/// <param name="MessageId">Its Message-ID; null when it has none.</param>
/// <param name="InboxSha256">
/// The SHA-256 of the copy in the inbox, every byte (the trace fields too): what the copy is checked against. Null in an
/// arrival written before fingerprints left the trace fields out, when it was <paramref name="Sha256"/> itself.
/// </param>
public sealed record MailArrival(
    string Sha256,
    long Size,
    string InboxKey,
    DateTimeOffset ReceivedAt,
    string? Sender,
    IReadOnlyList<string> Recipients,
    string? Client,
    string? MessageId,
    string? InboxSha256 = null)
{
    /// <summary>The SHA-256 the copy in the inbox must have.</summary>
    [JsonIgnore]
    public string CopySha256 => InboxSha256 ?? Sha256;
}

/// <summary>
/// Arrivals are kept in the pipeline's store, area <c>mail</c>, one small JSON object per pipeline and message
/// (<c>arrivals/&lt;pipeline&gt;/&lt;sha256&gt;.json</c>), written (durably, like any store object) before the original itself.
/// A delivery of the same message again (Postfix retrying after the pipe command was killed, an SMTP client that never
/// saw its 250) finds it and reuses its inbox key: the original is never written twice, whatever point the first
/// delivery reached.
/// </summary>
public static class MailArrivals
{
    /// <summary>The store area arrivals are kept in.</summary>
    public const string Area = "mail";

    /// <summary>How a message's fingerprint (<see cref="MailFingerprint"/>) is written as a load's fingerprint.</summary>
    public const string FingerprintPrefix = "sha256:";

    // Source-generated: the reflection-based serializer emits and compiles accessors at first use, which cost every
    // `intake mail` process (one message each) more than the rest of writing the arrival (bench/mail/README.md).
    private static JsonTypeInfo<MailArrival> Json => MailArrivalJson.Default.MailArrival;

    public static string Key(string pipeline, string sha256) => $"arrivals/{pipeline}/{sha256}.json";

    /// <summary>The fingerprint of a message's load.</summary>
    public static string Fingerprint(string sha256) => FingerprintPrefix + sha256;

    /// <summary>The SHA-256 in a mail load's fingerprint; null for a fingerprint of another kind.</summary>
    public static string? Sha256Of(string fingerprint) =>
        fingerprint.StartsWith(FingerprintPrefix, StringComparison.Ordinal) ? fingerprint[FingerprintPrefix.Length..] : null;

    /// <summary>The message's arrival at the pipeline, or null when it never arrived there.</summary>
    public static async Task<MailArrival?> FindAsync(IObjectStore store, string pipeline, string sha256, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(store);
        var key = Key(pipeline, sha256);
        if (await store.StatAsync(Area, key, cancellationToken) is null)
        {
            return null;
        }

        await using var stream = await store.OpenReadAsync(Area, key, cancellationToken);
        return await JsonSerializer.DeserializeAsync(stream, Json, cancellationToken)
            ?? throw new InvalidDataException($"{store.Describe(Area, key)} is empty");
    }

    /// <summary>Writes an arrival; returns once it is durable.</summary>
    public static async Task WriteAsync(IObjectStore store, string pipeline, MailArrival arrival, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(arrival);
        using var content = new MemoryStream(JsonSerializer.SerializeToUtf8Bytes(arrival, Json));
        await store.PutAsync(Area, Key(pipeline, arrival.Sha256), content, cancellationToken);
    }
}

/// <summary>An arrival's JSON (snake_case, nulls left out), written and read without reflection.</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(MailArrival))]
internal sealed partial class MailArrivalJson : JsonSerializerContext;
