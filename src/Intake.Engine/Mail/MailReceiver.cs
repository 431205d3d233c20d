using System.Globalization;
using Intake.Core.Errors;
using Intake.Core.Model;
using Intake.Core.Ports;
using Intake.Engine.Configuration;
using Intake.Engine.Runtime;
using Intake.Engine.Steps;
using Microsoft.Extensions.Logging;

namespace Intake.Engine.Mail;

/// <summary>
/// The Mail slice's receiver: takes one message, makes it durable in the inbox of the pipeline routing picks, and
/// registers its load. <c>intake mail</c> (Postfix's pipe) and the SMTP listener both use it.
/// </summary>
/// <remarks>
/// <para>
/// Order (the delivery guarantee is decided here): the message is spooled to a temporary file, counted against the size
/// limit and hashed; it is routed; its arrival record (<see cref="MailArrivals"/>) is written to the store, then the
/// original to the inbox, each durable before the next; only then is the load registered, and only then does the answer
/// say <see cref="MailReceiveOutcome.Accepted"/>. Any failure before that answers
/// <see cref="MailReceiveOutcome.TemporaryFailure"/>, and the sender (Postfix) keeps the message and delivers it again.
/// </para>
/// <para>
/// At least once in, exactly once as a load: a delivery again finds the arrival record and reuses its inbox key (the
/// original is not written twice), and the catalog's uniqueness of (pipeline, source key, fingerprint) makes the same
/// message one load: source key = Message-ID (or the fingerprint without one), fingerprint = the SHA-256 of the message
/// without the trace fields at its top (<see cref="MailFingerprint"/>), so a message sent again through Postfix, which
/// gains a new <c>Received:</c>, is the same load. The load has its inbox key from the start, routed or not.
/// </para>
/// </remarks>
public sealed class MailReceiver : IMailReceiver
{
    private readonly IntakeRuntime _runtime;
    private readonly IReadOnlyList<PipelineConfig> _pipelines;
    private readonly string? _spoolDirectory;
    private readonly ILogger _log;
    private readonly IRunObserver _observer;

    /// <param name="runtime">The opened runtime: the configuration's mail pipelines, their stores, the catalog, the clock.</param>
    /// <param name="pipelines">Only the mail pipelines of these names (<c>intake mail --pipeline</c>); all when null.</param>
    /// <param name="spoolDirectory">Where messages are spooled while they arrive; the system's temporary folder when null.</param>
    /// <param name="observer">Told of each <c>receive</c> step recorded, as a worker tells it of the other steps (the server's metrics).</param>
    /// <exception cref="ArgumentException">A pipeline named is not a mail pipeline of the configuration.</exception>
    public MailReceiver(IntakeRuntime runtime, IReadOnlyCollection<string>? pipelines = null, string? spoolDirectory = null, IRunObserver? observer = null)
    {
        ArgumentNullException.ThrowIfNull(runtime);
        _runtime = runtime;
        var mail = runtime.Config.Pipelines.Where(p => p.Source.Options is MailSourceOptions).ToList();
        foreach (var name in pipelines ?? [])
        {
            if (!mail.Any(p => p.Name == name))
            {
                throw new ArgumentException($"no mail pipeline named '{name}' (mail pipelines: {(mail.Count == 0 ? "none" : string.Join(", ", mail.Select(p => p.Name)))})", nameof(pipelines));
            }
        }

        _pipelines = pipelines is null ? mail : mail.Where(p => pipelines.Contains(p.Name)).ToList();
        _spoolDirectory = spoolDirectory;
        _log = runtime.Logs.CreateLogger("Intake.Mail");
        _observer = observer ?? NullRunObserver.Instance;
    }

    /// <summary>The largest <c>max_message_size</c> of the mail pipelines; each pipeline's own limit is checked once the message is routed.</summary>
    public long MaxMessageBytes => _pipelines.Count == 0 ? MailSourceOptions.DefaultMaxMessageBytes : _pipelines.Max(p => Options(p).MaxMessageBytes);

    public bool AcceptsRecipient(string recipient) => MailRouter.AcceptsRecipient(_pipelines, recipient);

    public async Task<MailReceipt> ReceiveAsync(Stream message, MailEnvelope envelope, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(message);
        ArgumentNullException.ThrowIfNull(envelope);
        try
        {
            return await ReceiveCoreAsync(message, envelope, cancellationToken);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
        catch (Exception e)
        {
            // Whatever it was (a disk full, a store or catalog down, a fault of ours), the message is not safe: the sender keeps it.
            var why = e is IntakeException or IOException or UnauthorizedAccessException ? e.Message : $"unexpected failure: {e.Message}";
            MailLog.NotDurable(_log, e, envelope.Sender ?? "", string.Join(", ", envelope.Recipients), why);
            return new MailReceipt(MailReceiveOutcome.TemporaryFailure, null, $"cannot keep the message now, try again later: {why}");
        }
    }

    private async Task<MailReceipt> ReceiveCoreAsync(Stream message, MailEnvelope envelope, CancellationToken ct)
    {
        // Checked before a byte is read: a recipient no route takes is refused at once (without a recipient, To and Cc decide below).
        if (_pipelines.Count == 0 || (envelope.Recipients.Count > 0 && !envelope.Recipients.Any(AcceptsRecipient)))
        {
            return Unknown(envelope.Recipients);
        }

        using var spool = await MailSpool.CopyAsync(message, MaxMessageBytes, _spoolDirectory, ct);
        MailPhases.Mark("spooled");
        if (spool.TooLarge)
        {
            return TooLarge(MaxMessageBytes);
        }

        using var parsed = await spool.ParseAsync(ct);
        MailPhases.Mark("parsed");
        var facts = MailMessages.Facts(parsed, envelope.Sender, envelope.Recipients);
        if (MailRouter.Route(_pipelines, facts) is not { } decision)
        {
            return Unknown(facts.Recipients);
        }

        MailPhases.Mark("routed");
        var pipeline = decision.Pipeline;
        if (spool.Size > Options(pipeline).MaxMessageBytes)
        {
            return TooLarge(Options(pipeline).MaxMessageBytes);
        }

        // Named by its fingerprint (the trace fields at its top left out): the same message sent again through Postfix,
        // with a Received: of its own, finds the first arrival; the inbox keeps the first copy byte for byte.
        var sha = spool.Fingerprint!;
        var store = _runtime.StoreFor(pipeline);
        var arrival = await MailArrivals.FindAsync(store, pipeline.Name, sha, ct);
        if (arrival is null)
        {
            var received = _runtime.Time.GetUtcNow();
            var key = MailLayout.MessageKey(MailLayout.Folder(decision, received, sha));
            arrival = new MailArrival(sha, spool.Size, key, received, envelope.Sender, facts.Recipients, envelope.Client, MailMessages.MessageId(parsed), spool.Sha256);

            // The arrival first: a delivery that dies after it (before or after the original is in) is found by the next one.
            await MailArrivals.WriteAsync(store, pipeline.Name, arrival, ct);
        }

        MailPhases.Mark("arrival written");
        var stored = await store.StatAsync(Areas.Inbox, arrival.InboxKey, ct);
        if (stored is null)
        {
            if (arrival.Size != spool.Size || !string.Equals(arrival.CopySha256, spool.Sha256, StringComparison.OrdinalIgnoreCase))
            {
                // The first delivery died before its copy was in, and this one came with other trace fields: this copy
                // is the one kept, so the arrival says so first (the copy is checked against it below and by every retry).
                arrival = arrival with { Size = spool.Size, InboxSha256 = spool.Sha256 };
                await MailArrivals.WriteAsync(store, pipeline.Name, arrival, ct);
            }

            spool.File.Position = 0;
            stored = await store.PutAsync(Areas.Inbox, arrival.InboxKey, spool.File, ct);
        }

        MailPhases.Mark("inbox copy durable");
        // The copy is checked against its arrival, not against this delivery: a delivery again may differ in its trace fields.
        if (stored.Size != arrival.Size || (stored.Sha256 is { } written && !string.Equals(written, arrival.CopySha256, StringComparison.OrdinalIgnoreCase)))
        {
            throw IntakeException.Integrity($"the copy in the inbox ({store.Describe(Areas.Inbox, arrival.InboxKey)}) is not the message received: {stored.Size.ToString(CultureInfo.InvariantCulture)} bytes, SHA-256 {stored.Sha256}; expected {arrival.Size.ToString(CultureInfo.InvariantCulture)} bytes, {arrival.CopySha256}");
        }

        // Durable: now the load. The same message again is the same (pipeline, source key, fingerprint): one load.
        var sourceKey = arrival.MessageId ?? MailArrivals.Fingerprint(sha);
        var customer = decision.Targets?.Customer ?? pipeline.Customer;
        // The receive step is recorded with the load, in one transaction: a worker claiming it at once finds it done.
        var receive = new RegisteredStep(MailSlice.Receive.Name, "mail:" + (arrival.Client ?? "receiver"),
            ReceiveStep.Result(arrival, decision.Targets?.ToString() ?? "no route yet: " + decision.Problem));
        var registered = await _runtime.Catalog.RegisterLoadAsync(
            new NewLoad(pipeline.Name, customer, sourceKey, MailArrivals.Fingerprint(sha), arrival.Size) { InboxKey = arrival.InboxKey, DoneStep = receive }, ct);

        MailPhases.Mark("load registered");
        var where = decision.Targets is { } t ? t.ToString() : "no route takes it: " + decision.Problem;
        if (!registered.Created)
        {
            MailLog.Duplicate(_log, registered.Load.Id, pipeline.Name, sourceKey);
            return new MailReceipt(MailReceiveOutcome.Duplicate, registered.Load.Id, $"received before as load {registered.Load.Id} of pipeline {pipeline.Name}; not registered again");
        }

        _observer.StepStarted(registered.Load, receive.Step, 1);
        _observer.StepFinished(registered.Load, receive.Step, receive.Result);
        MailLog.Accepted(_log, registered.Load.Id, pipeline.Name, sourceKey, where);
        return new MailReceipt(MailReceiveOutcome.Accepted, registered.Load.Id, $"accepted as load {registered.Load.Id} of pipeline {pipeline.Name} ({where})");
    }

    private static MailSourceOptions Options(PipelineConfig pipeline) => (MailSourceOptions)pipeline.Source.Options;

    private static MailReceipt Unknown(IReadOnlyList<string> recipients) =>
        new(MailReceiveOutcome.RecipientUnknown, null, recipients.Count == 0
            ? "the message names no recipient (give --recipient, or To:)"
            : $"no mail route takes {string.Join(", ", recipients)}");

    private static MailReceipt TooLarge(long limit) =>
        new(MailReceiveOutcome.TooLarge, null, $"the message is larger than {FormatSize(limit)}, the most this address takes");

    private static string FormatSize(long bytes) => bytes % (1024 * 1024) == 0
        ? (bytes / (1024 * 1024)).ToString(CultureInfo.InvariantCulture) + " MiB"
        : bytes.ToString(CultureInfo.InvariantCulture) + " bytes";
}
