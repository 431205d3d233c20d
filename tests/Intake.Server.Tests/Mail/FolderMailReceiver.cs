using System.Collections.Concurrent;
using Intake.Engine.Mail;

namespace Intake.Server.Tests.Mail;

/// <summary>
/// A mail receiver for the listener's tests: writes each message to a file in a folder (flushed to disk before it
/// answers, like the real one), takes the recipients it is given, and can be told to answer another outcome, to throw,
/// or to wait at a gate after storing so a test can look at the connection in between.
/// </summary>
internal sealed class FolderMailReceiver : IMailReceiver
{
    private readonly string _folder;
    private readonly HashSet<string> _recipients;
    private int _count;

    public FolderMailReceiver(string folder, long maxMessageBytes, params string[] recipients)
    {
        _folder = folder;
        MaxMessageBytes = maxMessageBytes;
        _recipients = new HashSet<string>(recipients, StringComparer.OrdinalIgnoreCase);
    }

    public long MaxMessageBytes { get; }

    /// <summary>The outcome of the next receives (after the message is written); null: Accepted.</summary>
    public MailReceiveOutcome? Answer { get; set; }

    /// <summary>Throw instead of answering (a receiver bug or an I/O failure underneath).</summary>
    public bool Throw { get; set; }

    /// <summary>When set, a receive stores the message, signals <see cref="Stored"/>, then waits for this before it answers.</summary>
    public TaskCompletionSource? Gate { get; set; }

    /// <summary>Set once a message is written (before any gate).</summary>
    public TaskCompletionSource Stored { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>What each receive got, in order: the file written and the envelope.</summary>
    public ConcurrentQueue<(string File, MailEnvelope Envelope)> Received { get; } = new();

    public bool AcceptsRecipient(string recipient) => _recipients.Contains(recipient);

    public async Task<MailReceipt> ReceiveAsync(Stream message, MailEnvelope envelope, CancellationToken cancellationToken)
    {
        var n = Interlocked.Increment(ref _count);
        var path = Path.Combine(_folder, $"{n:D4}.eml");
        await using (var file = new FileStream(path, FileMode.CreateNew, FileAccess.Write))
        {
            await message.CopyToAsync(file, cancellationToken);
            file.Flush(flushToDisk: true);
        }

        Received.Enqueue((path, envelope));
        Stored.TrySetResult();
        if (Gate is { } gate)
        {
            await gate.Task.WaitAsync(cancellationToken);
        }

        if (Throw)
        {
            throw new IOException("the disk went away");
        }

        return Answer switch
        {
            null or MailReceiveOutcome.Accepted => new MailReceipt(MailReceiveOutcome.Accepted, 1000 + n, $"stored as load {1000 + n}"),
            MailReceiveOutcome.Duplicate => new MailReceipt(MailReceiveOutcome.Duplicate, 1000, "already received as load 1000"),
            var other => new MailReceipt(other.Value, null, other == MailReceiveOutcome.TemporaryFailure ? "the inbox store is unavailable" : other.Value.ToString()),
        };
    }
}
