using System.Buffers;
using System.Security.Cryptography;
using MimeKit;

namespace Intake.Engine.Mail;

/// <summary>
/// A message copied to a temporary file on this machine as it arrives: counted (the size a sender announces is never
/// trusted), hashed (its bytes, and its <see cref="MailFingerprint"/>), and seekable, so MimeKit reads its headers and body without holding it in memory. The file is
/// deleted when the spool is disposed. It is scratch: the durable copy is the one put into the store's inbox.
/// </summary>
public sealed class MailSpool : IDisposable
{
    private const int BufferSize = 81920;

    private MailSpool(FileStream file, long size, string? sha256, string? fingerprint)
    {
        File = file;
        Size = size;
        Sha256 = sha256;
        Fingerprint = fingerprint;
    }

    /// <summary>The spooled bytes; position it as needed.</summary>
    public FileStream File { get; }

    /// <summary>How many bytes were read (at most the limit plus one).</summary>
    public long Size { get; }

    /// <summary>The SHA-256 of the bytes as received (hex, lower case), what the inbox copy must have; null when the message was over the limit.</summary>
    public string? Sha256 { get; }

    /// <summary>The message's fingerprint (<see cref="MailFingerprint"/>: without its leading trace fields); null when the message was over the limit.</summary>
    public string? Fingerprint { get; }

    /// <summary>Whether the message was over the limit (reading stopped there).</summary>
    public bool TooLarge => Sha256 is null;

    /// <summary>Copies <paramref name="input"/> to a temporary file in <paramref name="directory"/> (the system's temporary folder when null), up to <paramref name="limit"/> bytes.</summary>
    public static async Task<MailSpool> CopyAsync(Stream input, long limit, string? directory, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(input);
        var path = Path.Combine(directory ?? Path.GetTempPath(), $"intake-mail-{Guid.NewGuid():N}.eml");
        var file = new FileStream(path, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, BufferSize, FileOptions.DeleteOnClose | FileOptions.Asynchronous);
        try
        {
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            using var fingerprint = new MailFingerprint();
            var buffer = ArrayPool<byte>.Shared.Rent(BufferSize);
            long size = 0;
            try
            {
                int n;
                while ((n = await input.ReadAsync(buffer.AsMemory(0, BufferSize), cancellationToken)) > 0)
                {
                    size += n;
                    if (size > limit)
                    {
                        // Counted, not announced: stop reading here, the rest is never stored.
                        return new MailSpool(file, size, null, null);
                    }

                    hash.AppendData(buffer, 0, n);
                    fingerprint.Append(buffer.AsSpan(0, n));
                    await file.WriteAsync(buffer.AsMemory(0, n), cancellationToken);
                }
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }

            await file.FlushAsync(cancellationToken);
            file.Position = 0;
            return new MailSpool(file, size, Convert.ToHexStringLower(hash.GetHashAndReset()), fingerprint.Finish());
        }
        catch
        {
            await file.DisposeAsync();
            throw;
        }
    }

    /// <summary>
    /// Parses the spooled message with MimeKit, its contents left in the file (persistent), so a large attachment costs no
    /// memory. Null when the bytes are not a message at all (no header): such a message is still kept, and no route takes it.
    /// </summary>
    /// <remarks>
    /// Synchronous on purpose: the spool is a local file, and MimeKit's asynchronous parser is a dozen state machines the
    /// runtime compiles at first use, which cost every <c>intake mail</c> process (one message each) about 30 ms of CPU.
    /// </remarks>
    public Task<MimeMessage?> ParseAsync(CancellationToken cancellationToken)
    {
        File.Position = 0;
        try
        {
            var parser = new MimeParser(File, MimeFormat.Entity, persistent: true);
            return Task.FromResult<MimeMessage?>(parser.ParseMessage(cancellationToken));
        }
        catch (FormatException)
        {
            return Task.FromResult<MimeMessage?>(null);
        }
    }

    public void Dispose() => File.Dispose();
}

/// <summary>What routing needs of a parsed message.</summary>
public static class MailMessages
{
    /// <summary>The facts routing looks at: the envelope, or the To and Cc addresses when it names no recipient.</summary>
    public static MailFacts Facts(MimeMessage? message, string? sender, IReadOnlyList<string> recipients)
    {
        var to = recipients.Count > 0
            ? recipients
            : message is null ? [] : message.To.Mailboxes.Concat(message.Cc.Mailboxes).Select(m => m.Address).ToList();
        var from = message?.From.Mailboxes.Select(m => m.Address).ToList() ?? [];
        return new MailFacts(sender, to, from, message?.Subject ?? "", () => message?.TextBody ?? message?.HtmlBody ?? "");
    }

    /// <summary>The Message-ID, when the message has one short enough to be a source key.</summary>
    public static string? MessageId(MimeMessage? message) =>
        message?.MessageId is { Length: > 0 and <= 500 } id ? id : null;
}
