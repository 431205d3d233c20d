using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Security.Authentication;
using Intake.Engine.Mail;
using Microsoft.Extensions.Logging;
using SmtpServer;
using SmtpServer.IO;
using SmtpServer.Mail;
using SmtpServer.Net;
using SmtpServer.Protocol;
using SmtpServer.Storage;
using SmtpServerHost = SmtpServer.SmtpServer;

namespace Intake.Server.Mail;

/// <summary>
/// The embedded SMTP listener: mail in without Postfix. Every message goes to one <see cref="IMailReceiver"/>, the same
/// one way in as <c>intake mail</c>, and the SMTP answers carry its outcome:
/// <list type="bullet">
/// <item><c>250</c> only once the receiver answered Accepted or Duplicate, that is once the message is durable and its
/// load registered: a sender that saw 250 may forget the message (at least once: a connection lost after the receiver
/// answered and before the 250 arrived makes the sender send it again, which the receiver's dedupe turns into one load).</item>
/// <item><c>550</c> at <c>RCPT TO</c> for a recipient no mail pipeline takes, before any data is sent.</item>
/// <item><c>552</c> for a message over the size limit: at <c>MAIL FROM</c> when its SIZE says so, else while it arrives.</item>
/// <item><c>451</c> when the receiver could not make the message durable (or failed): the sender keeps it and retries.</item>
/// </list>
/// SmtpServer (11.1) reads the whole DATA section into memory before it hands the message over (its message store gets
/// a <see cref="ReadOnlySequence{T}"/>; it has no streaming store): a 50 MB message takes about 50 MB for as long as its
/// session is receiving and storing it. The listener bounds that by the size limit times <see cref="SmtpListenerOptions.MaxSessions"/>,
/// and passes the buffer to the receiver as a stream over the same memory, never a second copy.
/// </summary>
public sealed class SmtpListener : IAsyncDisposable
{
    /// <summary>SmtpServer counts message sizes in 32 bits.</summary>
    private const long LargestLimit = int.MaxValue;

    private readonly SmtpServerHost _server;
    private readonly CancellationTokenSource _stopping;
    private readonly Task _running;
    private readonly ILogger _log;
    private readonly SessionLimitedListenerFactory _listeners;
    private int _disposed;

    private SmtpListener(SmtpServerHost server, SessionLimitedListenerFactory listeners, CancellationTokenSource stopping, Task running, IPEndPoint endpoint, long maxMessageBytes, ILogger log)
    {
        _server = server;
        _listeners = listeners;
        _stopping = stopping;
        _running = running;
        Endpoint = endpoint;
        MaxMessageBytes = maxMessageBytes;
        _log = log;
    }

    /// <summary>Where the listener accepts connections (with the real port when port 0 was asked for).</summary>
    public IPEndPoint Endpoint { get; }

    /// <summary>The size limit in force (announced by SIZE).</summary>
    public long MaxMessageBytes { get; }

    /// <summary>The size limit for <paramref name="receiver"/> under <paramref name="options"/>: the smaller of both, at most 2 GiB.</summary>
    public static long Limit(IMailReceiver receiver, SmtpListenerOptions options)
    {
        ArgumentNullException.ThrowIfNull(receiver);
        ArgumentNullException.ThrowIfNull(options);
        var limit = options.MaxMessageBytes is { } own ? Math.Min(own, receiver.MaxMessageBytes) : receiver.MaxMessageBytes;
        return Math.Clamp(limit, 1, LargestLimit);
    }

    /// <summary>Starts listening and returns once the socket is bound; throws <see cref="IOException"/> when the address is taken.</summary>
    public static async Task<SmtpListener> StartAsync(IMailReceiver receiver, SmtpListenerOptions options, ILogger logger, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(receiver);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(logger);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.MaxSessions, 1);
        var limit = Limit(receiver, options);
        var builder = new SmtpServerOptionsBuilder()
            .ServerName(options.ServerName)
            // Strict: SmtpServer stops reading a message once more than the limit has arrived, and answers 552, also
            // when the client announced no SIZE (or a false one).
            .MaxMessageSize((int)limit, MaxMessageSizeHandling.Strict)
            .Endpoint(e =>
            {
                e.Endpoint(options.Endpoint).SessionTimeout(options.SessionTimeout).IsSecure(false).AuthenticationRequired(false);
                if (options.Certificate is { } certificate)
                {
                    e.Certificate(certificate).SupportedSslProtocols(SslProtocols.Tls12 | SslProtocols.Tls13);
                }
            });
        var listeners = new SessionLimitedListenerFactory(options.MaxSessions);
        var started = new TaskCompletionSource<IPEndPoint>(TaskCreationOptions.RunContinuationsAsynchronously);
        listeners.Started += endpoint => started.TrySetResult(endpoint);
        var services = new SmtpServer.ComponentModel.ServiceProvider();
        services.Add(listeners);
        services.Add(new RecipientFilter(receiver, limit, logger));
        services.Add(new ReceiverStore(receiver, limit, logger));
        var server = new SmtpServerHost(builder.Build(), services);
        server.SessionFaulted += (_, e) => SmtpLog.SessionFaulted(logger, e.Exception, ClientOf(e.Context));

        var stopping = new CancellationTokenSource();
        var running = server.StartAsync(stopping.Token);
        var first = await Task.WhenAny(started.Task, running).WaitAsync(cancellationToken);
        if (first != started.Task)
        {
            stopping.Dispose();
            listeners.Dispose();
            await running; // throws the reason it could not listen (a SocketException: address in use, not permitted)
            throw new IOException($"the SMTP listener on {options.Endpoint} stopped before it listened");
        }

        var endpoint = await started.Task;
        SmtpLog.Listening(logger, endpoint.ToString(), limit, options.Certificate is null ? "off" : "on", options.MaxSessions);
        return new SmtpListener(server, listeners, stopping, running, endpoint, limit, logger);
    }

    /// <summary>
    /// Stops accepting, lets sessions in progress finish for a few seconds, then cancels the rest. A message cancelled
    /// before its 250 is the sender's to retry: nothing is lost.
    /// </summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        _server.Shutdown();
        try
        {
            await _server.ShutdownTask.WaitAsync(TimeSpan.FromSeconds(5));
        }
        catch (TimeoutException)
        {
            // sessions still receiving: cancelled below
        }

        await _stopping.CancelAsync();
        try
        {
            await _running;
        }
        catch (OperationCanceledException)
        {
            // the way a cancelled server ends
        }

        _stopping.Dispose();
        _listeners.Dispose();
        SmtpLog.Stopped(_log, Endpoint.ToString());
    }

    private static string ClientOf(ISessionContext context) =>
        context.Properties.TryGetValue(EndpointListener.RemoteEndPointKey, out var remote) && remote is not null ? remote.ToString() ?? "?" : "?";

    private static string Address(IMailbox? mailbox) =>
        mailbox is null || (string.IsNullOrEmpty(mailbox.User) && string.IsNullOrEmpty(mailbox.Host)) ? "" : mailbox.AsAddress();

    private static SmtpResponse Reply(int code, string text) => new((SmtpReplyCode)code, text);

    /// <summary>Decides at MAIL FROM (announced size) and RCPT TO (recipient), before the client sends any data.</summary>
    private sealed class RecipientFilter(IMailReceiver receiver, long limit, ILogger log) : MailboxFilter
    {
        public override Task<bool> CanAcceptFromAsync(ISessionContext context, IMailbox @from, int size, CancellationToken cancellationToken)
        {
            if (size > limit)
            {
                throw new SmtpResponseException(Reply(552, $"5.3.4 the message ({size} bytes) is over this server's limit of {limit} bytes"));
            }

            return Task.FromResult(true);
        }

        public override Task<bool> CanDeliverToAsync(ISessionContext context, IMailbox to, IMailbox @from, CancellationToken cancellationToken)
        {
            var recipient = Address(to);
            if (receiver.AcceptsRecipient(recipient))
            {
                return Task.FromResult(true);
            }

            SmtpLog.RecipientRefused(log, recipient, ClientOf(context));
            throw new SmtpResponseException(Reply(550, $"5.1.1 <{recipient}>: no mail pipeline takes mail for this recipient"));
        }
    }

    /// <summary>Hands a received message to the receiver and turns its outcome into the SMTP answer.</summary>
    private sealed class ReceiverStore(IMailReceiver receiver, long limit, ILogger log) : MessageStore
    {
        public override async Task<SmtpResponse> SaveAsync(ISessionContext context, IMessageTransaction transaction, ReadOnlySequence<byte> buffer, CancellationToken cancellationToken)
        {
            var client = ClientOf(context);
            var sender = Address(transaction.From);
            var recipients = transaction.To.Select(Address).ToList();
            SmtpResponse response;
            if (buffer.Length > limit)
            {
                // SmtpServer's own check counts what arrived (dot-stuffing included); this one the message itself.
                response = Reply(552, $"5.3.4 the message ({buffer.Length} bytes) is over this server's limit of {limit} bytes");
            }
            else
            {
                try
                {
                    // A stream over the buffer SmtpServer already holds: no second copy of the message.
                    await using var message = PipeReader.Create(buffer).AsStream();
                    var receipt = await receiver.ReceiveAsync(message, new MailEnvelope(sender, recipients, client), cancellationToken);
                    response = Answer(receipt);
                }
                catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
                {
                    // Never 5xx for our own failure: the sender would bounce a message that a retry may deliver.
                    SmtpLog.ReceiveFailed(log, e, client);
                    response = Reply(451, "4.3.0 the message could not be stored; try again later");
                }
            }

            SmtpLog.Answered(log, client, sender, recipients.Count, buffer.Length, (int)response.ReplyCode, response.Message);
            return response;
        }

        private static SmtpResponse Answer(MailReceipt receipt) => receipt.Outcome switch
        {
            MailReceiveOutcome.Accepted => Reply(250, $"2.0.0 {Text(receipt, "accepted")}"),
            MailReceiveOutcome.Duplicate => Reply(250, $"2.0.0 {Text(receipt, "already received")}"),
            MailReceiveOutcome.RecipientUnknown => Reply(550, $"5.1.1 {Text(receipt, "no mail pipeline takes mail for this recipient")}"),
            MailReceiveOutcome.TooLarge => Reply(552, $"5.3.4 {Text(receipt, "the message is over the size limit")}"),
            _ => Reply(451, $"4.3.0 {Text(receipt, "the message could not be stored; try again later")}"),
        };

        /// <summary>The receiver's message on one line (an SMTP reply line ends at CR LF), with the load when there is one.</summary>
        private static string Text(MailReceipt receipt, string fallback)
        {
            var text = string.IsNullOrWhiteSpace(receipt.Message) ? fallback : string.Join(' ', receipt.Message.Split(['\r', '\n'], StringSplitOptions.RemoveEmptyEntries));
            return receipt.LoadId is { } id && !text.Contains($"load {id}", StringComparison.Ordinal) ? $"{text} (load {id})" : text;
        }
    }

    /// <summary>
    /// SmtpServer has no session limit of its own: this listener factory accepts a connection only while fewer than
    /// <c>max</c> sessions are open, and frees the place when the session's connection is disposed.
    /// </summary>
    private sealed class SessionLimitedListenerFactory : IEndpointListenerFactory, IDisposable
    {
        private readonly EndpointListenerFactory _inner = new();
        private readonly SemaphoreSlim _places;

        public SessionLimitedListenerFactory(int max)
        {
            _places = new SemaphoreSlim(max, max);
            _inner.EndpointStarted += (_, e) =>
            {
                if (e.LocalEndPoint is IPEndPoint local)
                {
                    Started?.Invoke(local);
                }
            };
        }

        public event Action<IPEndPoint>? Started;

        public IEndpointListener CreateListener(IEndpointDefinition endpointDefinition) => new Listener(_inner.CreateListener(endpointDefinition), _places);

        public void Dispose() => _places.Dispose();

        private sealed class Listener(IEndpointListener inner, SemaphoreSlim places) : IEndpointListener
        {
            public async Task<ISecurableDuplexPipe> GetPipeAsync(ISessionContext context, CancellationToken cancellationToken)
            {
                await places.WaitAsync(cancellationToken);
                try
                {
                    return new CountedPipe(await inner.GetPipeAsync(context, cancellationToken), places);
                }
                catch
                {
                    places.Release();
                    throw;
                }
            }

            public void Dispose() => inner.Dispose();
        }

        private sealed class CountedPipe(ISecurableDuplexPipe inner, SemaphoreSlim places) : ISecurableDuplexPipe
        {
            private int _disposed;

            public PipeReader Input => inner.Input;

            public PipeWriter Output => inner.Output;

            public bool IsSecure => inner.IsSecure;

            public SslProtocols SslProtocol => inner.SslProtocol;

            public Task UpgradeAsync(System.Security.Cryptography.X509Certificates.X509Certificate certificate, SslProtocols protocols, CancellationToken cancellationToken) =>
                inner.UpgradeAsync(certificate, protocols, cancellationToken);

            public void Dispose()
            {
                if (Interlocked.Exchange(ref _disposed, 1) == 0)
                {
                    inner.Dispose();
                    places.Release();
                }
            }
        }
    }
}
