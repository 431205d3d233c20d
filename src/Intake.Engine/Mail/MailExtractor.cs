using System.Globalization;
using System.Text.Json;
using Intake.Core.Errors;
using Intake.Core.Ports;
using MimeKit;
using MimeKit.IO;
using MimeKit.IO.Filters;

namespace Intake.Engine.Mail;

/// <summary>
/// Takes a message apart into files under one folder of a store, with MimeKit (no MIME parsing of our own):
/// <code>
/// body.txt                 the text, in UTF-8
/// body.html                the HTML, in UTF-8
/// attachments/&lt;name&gt;       every attached file, its bytes as sent, under its decoded name made safe
/// inline/&lt;name&gt;            parts the HTML shows by their Content-ID (logos, pictures)
/// messages/1/…             an attached message (message/rfc822), laid out the same way, with its own attachments
/// parts.json               the manifest (<see cref="MailManifest"/>), written last
/// </code>
/// The message is read from a seekable stream (a non-seekable one is first copied to a temporary file) and parsed with
/// its contents left in that stream: each part is decoded straight from it into the store as the store reads, so a
/// 50 MB attachment never sits in memory. Limits (<see cref="MailExtractLimits"/>) are checked on the whole tree before
/// the first file is written.
/// </summary>
public sealed class MailExtractor(MailExtractLimits limits)
{
    // Mail still comes in Shift_JIS, windows-1252 and other code pages: without the code pages the base library
    // leaves out, MimeKit cannot decode such subjects and names, and bodies cannot be converted to UTF-8.
    static MailExtractor() => System.Text.Encoding.RegisterProvider(System.Text.CodePagesEncodingProvider.Instance);

    /// <summary>Extracts <paramref name="message"/> under <paramref name="prefix"/> (empty or ending in '/') and returns the manifest it wrote.</summary>
    /// <param name="messageName">How messages name the message (its source key).</param>
    /// <exception cref="IntakeException">
    /// Empty: no bytes at all. Security: past a limit, naming the part. Format: not a message MimeKit can read. What was
    /// written before a failure stays: the caller clears the folder (the <c>extract</c> step does).
    /// </exception>
    public async Task<MailManifest> ExtractAsync(Stream message, string messageName, IObjectStore store, string area, string prefix, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(message);
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(prefix);
        if (prefix.Length > 0 && prefix[^1] != '/')
        {
            throw new ArgumentException("A prefix is empty or ends with '/'.", nameof(prefix));
        }

        Stream? spool = null;
        try
        {
            var source = message;
            if (!message.CanSeek)
            {
                spool = await SpoolAsync(message, cancellationToken);
                source = spool;
            }

            if (source.Length - source.Position == 0)
            {
                throw IntakeException.Empty($"{messageName}: the message is empty (0 bytes)");
            }

            return await ExtractSeekableAsync(source, messageName, store, area, prefix, cancellationToken);
        }
        finally
        {
            if (spool is not null)
            {
                await spool.DisposeAsync();
            }
        }
    }

    private async Task<MailManifest> ExtractSeekableAsync(Stream source, string messageName, IObjectStore store, string area, string prefix, CancellationToken cancellationToken)
    {
        // The parser's own depth guard sits above ours, so the check below always sees a too-deep part as nested and refuses it.
        var options = new ParserOptions { MaxMimeDepth = limits.MaxDepth + 2 };
        var start = source.Position;
        List<string> warnings;
        MimeMessage parsed;
        try
        {
            warnings = [.. MailStructureCheck.Run(options, source, messageName, limits.MaxDepth, cancellationToken)];
            source.Position = start;

            // persistent: the parts' contents stay in the source stream (bounded views of it), not copied to memory.
            parsed = await new MimeParser(options, source, persistent: true).ParseMessageAsync(cancellationToken);
        }
        catch (FormatException e)
        {
            throw IntakeException.Format($"{messageName}: not a mail message ({e.Message}): a message starts with its header lines (From:, Subject:, …); the original is kept as it came", e);
        }

        var plan = new Plan(messageName, limits);
        plan.AddMessage(parsed, folder: "", nesting: "");

        var parts = new List<MailPart>(plan.Parts.Count);
        foreach (var planned in plan.Parts)
        {
            parts.Add(await WriteAsync(planned, messageName, store, area, prefix, warnings, cancellationToken));
        }

        var manifest = new MailManifest { Messages = plan.Messages, Parts = parts, Warnings = warnings };
        var json = JsonSerializer.SerializeToUtf8Bytes(manifest, MailManifest.Json);
        using var manifestStream = new MemoryStream(json, writable: false);
        await store.PutAsync(area, prefix + MailManifest.FileName, manifestStream, cancellationToken);
        return manifest;
    }

    private static async Task<MailPart> WriteAsync(PlannedPart planned, string messageName, IObjectStore store, string area, string prefix, List<string> warnings, CancellationToken cancellationToken)
    {
        var part = planned.Entity;
        var content = part.Content?.Open() ?? new MemoryStream([], writable: false);
        await using (content)
        {
            var output = content;
            if (planned.Role is MailPartRole.BodyText or MailPartRole.BodyHtml && ToUtf8(planned.Charset) is { } filter)
            {
                var filtered = new FilteredStream(content);
                filtered.Add(filter);
                output = filtered;
            }
            else if (planned.Role is MailPartRole.BodyText or MailPartRole.BodyHtml && planned.Charset is { } unknown && !IsUtf8(unknown))
            {
                warnings.Add($"{messageName}: part {planned.Nesting} declares the charset '{Printable(unknown)}', which is not known; {planned.Path} holds its bytes as sent");
            }

            ObjectInfo written;
            await using (output)
            {
                written = await store.PutAsync(area, prefix + planned.Path, output, cancellationToken);
            }

            return new MailPart
            {
                Path = planned.Path,
                Role = planned.Role,
                Message = planned.Folder,
                Nesting = planned.Nesting,
                ContentType = part.ContentType.MimeType.ToLowerInvariant(),
                Charset = planned.Charset,
                OriginalName = planned.OriginalName,
                ContentId = part.ContentId,
                Disposition = part.ContentDisposition?.Disposition.ToLowerInvariant(),
                Size = written.Size,
                Sha256 = written.Sha256,
            };
        }
    }

    /// <summary>A filter from the charset to UTF-8; null when the text is UTF-8 already (or plain ASCII), or the charset is unknown.</summary>
    private static CharsetFilter? ToUtf8(string? charset)
    {
        if (charset is null || IsUtf8(charset))
        {
            return null;
        }

        try
        {
            return new CharsetFilter(charset, "utf-8");
        }
        catch (Exception e) when (e is NotSupportedException or ArgumentException)
        {
            return null;
        }
    }

    private static bool IsUtf8(string charset) =>
        charset.Equals("utf-8", StringComparison.OrdinalIgnoreCase) || charset.Equals("utf8", StringComparison.OrdinalIgnoreCase)
        || charset.Equals("us-ascii", StringComparison.OrdinalIgnoreCase) || charset.Equals("ascii", StringComparison.OrdinalIgnoreCase);

    /// <summary>A copy of a stream that cannot seek (an object in S3) in a temporary file, deleted when closed.</summary>
    private static async Task<Stream> SpoolAsync(Stream message, CancellationToken cancellationToken)
    {
        var path = Path.Combine(Path.GetTempPath(), "intake-mail-" + Guid.NewGuid().ToString("N") + ".eml");
        var file = new FileStream(path, new FileStreamOptions
        {
            Mode = FileMode.CreateNew,
            Access = FileAccess.ReadWrite,
            Share = FileShare.None,
            Options = FileOptions.DeleteOnClose | FileOptions.Asynchronous,
        });
        try
        {
            await message.CopyToAsync(file, cancellationToken);
            file.Position = 0;
            return file;
        }
        catch
        {
            await file.DisposeAsync();
            throw;
        }
    }

    internal static string Printable(string value) => new(value.Select(c => char.IsControl(c) ? '?' : c).ToArray());

    private sealed record PlannedPart(MimePart Entity, string Path, MailPartRole Role, string Folder, string Nesting, string? OriginalName, string? Charset);

    /// <summary>The files to write, decided on the whole tree first so a limit refuses the message before anything is written.</summary>
    private sealed class Plan(string messageName, MailExtractLimits limits)
    {
        public List<PlannedPart> Parts { get; } = [];

        public List<MailMessageInfo> Messages { get; } = [];

        private int _attachments;

        public void AddMessage(MimeMessage message, string folder, string nesting)
        {
            Messages.Add(new MailMessageInfo
            {
                Folder = folder,
                Nesting = nesting,
                Subject = message.Subject,
                From = Addresses(message.From),
                To = Addresses(message.To),
                Cc = Addresses(message.Cc),
                Date = message.Date == DateTimeOffset.MinValue ? null : message.Date, // MinValue: no Date header, or one that is not a date
                MessageId = message.MessageId,
            });

            var state = new MessageState(folder);
            switch (message.Body)
            {
                case null:
                    break;
                case Multipart multipart:
                    AddChildren(multipart, nesting, state);
                    break;
                default:
                    Add(message.Body, nesting.Length == 0 ? "1" : nesting + ".1", state);
                    break;
            }
        }

        private void AddChildren(Multipart multipart, string nesting, MessageState state)
        {
            for (var i = 0; i < multipart.Count; i++)
            {
                var number = (i + 1).ToString(CultureInfo.InvariantCulture);
                Add(multipart[i], nesting.Length == 0 ? number : nesting + "." + number, state);
            }
        }

        private void Add(MimeEntity entity, string nesting, MessageState state)
        {
            switch (entity)
            {
                case Multipart multipart:
                    AddChildren(multipart, nesting, state);
                    break;
                case MessagePart { Message: { } inner }:
                    Count(nesting, inner.Subject);
                    state.Messages++;
                    AddMessage(inner, $"{state.Folder}messages/{state.Messages.ToString(CultureInfo.InvariantCulture)}/", nesting);
                    break;
                case MimePart part:
                    AddPart(part, nesting, state);
                    break;
                default:
                    // An attached message with no message in it (headers only): nothing to write.
                    break;
            }
        }

        private void AddPart(MimePart part, string nesting, MessageState state)
        {
            var name = part.FileName;
            var charset = part.ContentType.Charset;
            var isAttachment = part.ContentDisposition?.IsAttachment == true;
            if (part is TextPart text && !isAttachment && name is null)
            {
                if (text.IsPlain && !state.HasText)
                {
                    state.HasText = true;
                    Parts.Add(new PlannedPart(part, state.Folder + "body.txt", MailPartRole.BodyText, state.Folder, nesting, null, charset));
                    return;
                }

                if (text.IsHtml && !state.HasHtml)
                {
                    state.HasHtml = true;
                    Parts.Add(new PlannedPart(part, state.Folder + "body.html", MailPartRole.BodyHtml, state.Folder, nesting, null, charset));
                    return;
                }
            }

            Count(nesting, name);
            var inline = part.ContentId is not null && !isAttachment;
            var (names, folder, role) = inline
                ? (state.Inline, "inline/", MailPartRole.Inline)
                : (state.Attachments, "attachments/", MailPartRole.Attachment);
            var safe = names.Claim(name, Generated(part, nesting));
            Parts.Add(new PlannedPart(part, state.Folder + folder + safe, role, state.Folder, nesting, name, charset));
        }

        /// <summary>One more file or attached message: past the limit, the message is refused before anything is written.</summary>
        private void Count(string nesting, string? name)
        {
            _attachments++;
            if (_attachments > limits.MaxAttachments)
            {
                throw IntakeException.Security(
                    $"{messageName}: more than {limits.MaxAttachments.ToString(CultureInfo.InvariantCulture)} attachments (extract.max_attachments, counting attached messages; " +
                    $"the limit was reached at part {nesting}" + (name is null ? "" : $", '{Printable(name)}'") + "); nothing was extracted: raise the limit if the sender really sends that many");
            }
        }

        /// <summary>The name of a part sent without one: its place in the message and an extension for its type.</summary>
        private static string Generated(MimePart part, string nesting)
        {
            var type = part.ContentType.MimeType.ToLowerInvariant();
            var extension = type switch
            {
                "text/plain" => ".txt",
                "message/rfc822" or "message/global" => ".eml",
                _ => MimeTypes.TryGetExtension(type, out var e) ? e : ".bin",
            };
            return $"part-{nesting}{extension}";
        }

        private static string? Addresses(InternetAddressList list) => list.Count == 0 ? null : list.ToString();
    }

    /// <summary>What one message (received or attached) has used so far: its bodies, its names, its attached messages.</summary>
    private sealed class MessageState(string folder)
    {
        public string Folder { get; } = folder;

        public bool HasText { get; set; }

        public bool HasHtml { get; set; }

        public int Messages { get; set; }

        public PartNames Attachments { get; } = new();

        public PartNames Inline { get; } = new();
    }
}
