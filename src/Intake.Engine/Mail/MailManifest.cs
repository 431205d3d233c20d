using System.Text.Json;
using System.Text.Json.Serialization;
using Intake.Core.Errors;
using Intake.Core.Ports;

namespace Intake.Engine.Mail;

/// <summary>
/// What the <c>extract</c> step took out of a message, saved as <c>parts.json</c> beside the parts: every file it
/// wrote, every message (the received one and each one attached to it), and the warnings. Later steps (the modules)
/// read it instead of parsing the message again.
/// </summary>
public sealed record MailManifest
{
    /// <summary>The manifest's name in the folder it describes.</summary>
    public const string FileName = "parts.json";

    /// <summary>The layout of this file; raised when a field changes meaning.</summary>
    public int Version { get; init; } = 1;

    /// <summary>The received message first (folder <c>""</c>), then each attached message in the order met.</summary>
    public required IReadOnlyList<MailMessageInfo> Messages { get; init; }

    /// <summary>Every file written, in the order of the message.</summary>
    public required IReadOnlyList<MailPart> Parts { get; init; }

    /// <summary>What was wrong with the message and was accepted anyway (a missing closing boundary, an unknown charset).</summary>
    public required IReadOnlyList<string> Warnings { get; init; }

    internal static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = true,
        // Names and subjects are written as they are (é, 日本), not as \u escapes: the file is read by people too.
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    /// <summary>The manifest in a folder written by the <c>extract</c> step.</summary>
    /// <exception cref="IntakeException">Empty: there is none (the step has not run, or its output was cleared).</exception>
    public static async Task<MailManifest> ReadAsync(IObjectStore store, string area, string prefix, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(store);
        Stream stream;
        try
        {
            stream = await store.OpenReadAsync(area, prefix + FileName, cancellationToken);
        }
        catch (FileNotFoundException)
        {
            throw IntakeException.Empty($"{store.Describe(area, prefix + FileName)} is missing: the message's parts have not been extracted (run the 'extract' step first)");
        }

        await using (stream)
        {
            return await JsonSerializer.DeserializeAsync<MailManifest>(stream, Json, cancellationToken)
                ?? throw IntakeException.Format($"{store.Describe(area, prefix + FileName)} is empty");
        }
    }
}

/// <summary>What a part is to the message.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<MailPartRole>))]
public enum MailPartRole
{
    /// <summary>The message's text (<c>body.txt</c>), in UTF-8 whatever its charset was.</summary>
    [JsonStringEnumMemberName("body_text")]
    BodyText,

    /// <summary>The message's HTML (<c>body.html</c>), in UTF-8 whatever its charset was.</summary>
    [JsonStringEnumMemberName("body_html")]
    BodyHtml,

    /// <summary>A file sent with the message (<c>attachments/</c>), its bytes as sent.</summary>
    [JsonStringEnumMemberName("attachment")]
    Attachment,

    /// <summary>A part the HTML shows by its Content-ID (<c>inline/</c>), such as a logo; its bytes as sent.</summary>
    [JsonStringEnumMemberName("inline")]
    Inline,
}

/// <summary>One file the <c>extract</c> step wrote.</summary>
public sealed record MailPart
{
    /// <summary>Where it is, relative to the folder of <c>parts.json</c> (<c>attachments/report.csv</c>).</summary>
    public required string Path { get; init; }

    public required MailPartRole Role { get; init; }

    /// <summary>The folder of the message it belongs to (<c>""</c> for the received one, <c>messages/1/</c>…).</summary>
    public required string Message { get; init; }

    /// <summary>Its place in the MIME tree, numbered as IMAP does (<c>1</c>, <c>2.1</c>, <c>3.2.1</c>).</summary>
    public required string Nesting { get; init; }

    /// <summary>The declared type (<c>text/csv</c>).</summary>
    public required string ContentType { get; init; }

    /// <summary>The declared charset, if any. Bodies are converted to UTF-8 from it; attachments are kept as sent.</summary>
    public string? Charset { get; init; }

    /// <summary>The name the sender gave, decoded (RFC 2047, RFC 2231); null when it had none and one was made up.</summary>
    public string? OriginalName { get; init; }

    /// <summary>The Content-ID without its angle brackets, as an HTML body's <c>cid:</c> links name it.</summary>
    public string? ContentId { get; init; }

    /// <summary>The Content-Disposition (<c>attachment</c>, <c>inline</c>), when there was one.</summary>
    public string? Disposition { get; init; }

    /// <summary>Bytes written (decoded).</summary>
    public required long Size { get; init; }

    /// <summary>SHA-256 of the bytes written, lowercase hex.</summary>
    public string? Sha256 { get; init; }
}

/// <summary>The headers of one message, the received one or an attached one, as people read them.</summary>
public sealed record MailMessageInfo
{
    /// <summary>Its folder, relative to <c>parts.json</c>: <c>""</c> for the received message, <c>messages/1/</c> for the first attached one.</summary>
    public required string Folder { get; init; }

    /// <summary>The attached message's place in the MIME tree (<c>2</c>, <c>2.3</c>); <c>""</c> for the received one.</summary>
    public required string Nesting { get; init; }

    public string? Subject { get; init; }
    public string? From { get; init; }
    public string? To { get; init; }
    public string? Cc { get; init; }
    public DateTimeOffset? Date { get; init; }
    public string? MessageId { get; init; }
}
