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
            // Announced by SIZE. Not SmtpServer's Strict handling: in 11.1 its DATA command swallows the 552 it throws
            // and answers nothing, so a message a little over the limit leaves the sender waiting until the session
            // times out (or the connection closes without a reply, which senders retry for days). The listener's own
            // guard (GuardedInput) counts instead, while the message arrives, and answers 552 itself.
            .MaxMessageSize((int)limit, MaxMessageSizeHandling.Ignore)
            .Endpoint(e =>
            {
                e.Endpoint(options.Endpoint).SessionTimeout(options.SessionTimeout).IsSecure(false).AuthenticationRequired(false);
                if (options.Certificate is { } certificate)
                {
                    e.Certificate(certificate).SupportedSslProtocols(SslProtocols.Tls12 | SslProtocols.Tls13);
                }
            });
        var listeners = new SessionLimitedListenerFactory(options.MaxSessions, limit);
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
        Task first;
        try
        {
            first = await Task.WhenAny(started.Task, running).WaitAsync(cancellationToken);
        }
        catch (OperationCanceledException)
        {
            // the host is stopping while it starts: no listener is left behind
            await stopping.CancelAsync();
            await running.ContinueWith(_ => { }, TaskScheduler.Default);
            stopping.Dispose();
            listeners.Dispose();
            throw;
        }

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

    private static readonly byte[] CrLf = "\r\n"u8.ToArray();

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory, long runningIndex)
        {
            Memory = memory;
            RunningIndex = runningIndex;
        }

        public Segment Append(ReadOnlyMemory<byte> memory)
        {
            var next = new Segment(memory, RunningIndex + Memory.Length);
            Next = next;
            return next;
        }
    }

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
            var message = WithFinalLineEnd(buffer);
            SmtpResponse response;
            if (message.Length > limit)
            {
                // The guard counts what arrived (dot-stuffing and the final dot included); this is the message itself.
                response = Reply(552, $"5.3.4 the message ({message.Length} bytes) is over this server's limit of {limit} bytes");
            }
            else
            {
                try
                {
                    // A stream over the buffer SmtpServer already holds: no second copy of the message.
                    await using var stream = PipeReader.Create(message).AsStream();
                    var receipt = await receiver.ReceiveAsync(stream, new MailEnvelope(sender, recipients, client), cancellationToken);
                    response = Answer(receipt);
                }
                catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
                {
                    // Never 5xx for our own failure: the sender would bounce a message that a retry may deliver.
                    SmtpLog.ReceiveFailed(log, e, client);
                    response = Reply(451, "4.3.0 the message could not be stored; try again later");
                }
            }

            SmtpLog.Answered(log, client, sender, recipients.Count, message.Length, (int)response.ReplyCode, response.Message);
            return response;
        }

        /// <summary>
        /// SmtpServer hands over the message without the line end before the final dot, which RFC 5321 counts as the
        /// message's own last line end (Postfix's pipe delivers it): given back here, over the same memory.
        /// </summary>
        private static ReadOnlySequence<byte> WithFinalLineEnd(ReadOnlySequence<byte> buffer)
        {
            if (buffer.IsEmpty)
            {
                return buffer;
            }

            Segment? first = null;
            Segment? last = null;
            foreach (var memory in buffer)
            {
                if (!memory.IsEmpty)
                {
                    last = last is null ? first = new Segment(memory, 0) : last.Append(memory);
                }
            }

            last = last!.Append(CrLf);
            return new ReadOnlySequence<byte>(first!, 0, last, last.Memory.Length);
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

        private readonly long _limit;

        public SessionLimitedListenerFactory(int max, long limit)
        {
            _limit = limit;
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

        public IEndpointListener CreateListener(IEndpointDefinition endpointDefinition) => new Listener(_inner.CreateListener(endpointDefinition), _places, _limit);

        public void Dispose() => _places.Dispose();

        private sealed class Listener(IEndpointListener inner, SemaphoreSlim places, long limit) : IEndpointListener
        {
            public async Task<ISecurableDuplexPipe> GetPipeAsync(ISessionContext context, CancellationToken cancellationToken)
            {
                await places.WaitAsync(cancellationToken);
                try
                {
                    return new CountedPipe(await inner.GetPipeAsync(context, cancellationToken), places, context, limit);
                }
                catch
                {
                    places.Release();
                    throw;
                }
            }

            public void Dispose() => inner.Dispose();
        }

        private sealed class CountedPipe : ISecurableDuplexPipe
        {
            private readonly ISecurableDuplexPipe _inner;
            private readonly SemaphoreSlim _places;
            private int _disposed;

            public CountedPipe(ISecurableDuplexPipe inner, SemaphoreSlim places, ISessionContext context, long limit)
            {
                _inner = inner;
                _places = places;
                Input = new GuardedInput(inner, context, limit);
            }

            public PipeReader Input { get; }

            public PipeWriter Output => _inner.Output;

            public bool IsSecure => _inner.IsSecure;

            public SslProtocols SslProtocol => _inner.SslProtocol;

            public Task UpgradeAsync(System.Security.Cryptography.X509Certificates.X509Certificate certificate, SslProtocols protocols, CancellationToken cancellationToken) =>
                _inner.UpgradeAsync(certificate, protocols, cancellationToken);

            public void Dispose()
            {
                if (Interlocked.Exchange(ref _disposed, 1) == 0)
                {
                    _inner.Dispose();
                    _places.Release();
                }
            }
        }
    }
    /// <summary>
    /// The session's input, counted: while a message arrives (after DATA) no more than the size limit, plus room for the
    /// dot-stuffing and the final dot, is held; elsewhere no command line longer than 64 KiB. Past that the guard answers
    /// (552, or 500 for a line) and ends the session at once: what remains unread is never taken for commands, and a
    /// sender that sends without end cannot take the server's memory (SmtpServer's own check is off, see StartAsync).
    /// </summary>
    private sealed class GuardedInput : PipeReader
    {
        private const long LongestLine = 64 * 1024;
        private readonly ISecurableDuplexPipe _pipe;
        private readonly long _messageLimit;
        private readonly long _limit;
        private bool _inData;
        private bool _ended;

        public GuardedInput(ISecurableDuplexPipe pipe, ISessionContext context, long limit)
        {
            _pipe = pipe;
            _limit = limit;
            // A line of a message may start with a dot, sent doubled: room for one in 64 lines, the final dot, and more.
            _messageLimit = limit + limit / 64 + 1024;
            context.CommandExecuting += (_, e) => _inData = e.Command is DataCommand;
            context.CommandExecuted += (_, _) => _inData = false;
        }

        // STARTTLS replaces the pipe's input: always the current one.
        private PipeReader Inner => _pipe.Input;

        public override async ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default)
        {
            if (_ended)
            {
                return new ReadResult(ReadOnlySequence<byte>.Empty, isCanceled: false, isCompleted: true);
            }

            var result = await Inner.ReadAsync(cancellationToken);
            return await GuardAsync(result, cancellationToken);
        }

        public override bool TryRead(out ReadResult result)
        {
            if (_ended)
            {
                result = new ReadResult(ReadOnlySequence<byte>.Empty, isCanceled: false, isCompleted: true);
                return true;
            }

            if (Inner.TryRead(out result) && Over(result.Buffer.Length))
            {
                // Rare (SmtpServer reads with ReadAsync): give it to ReadAsync, which answers.
                Inner.AdvanceTo(result.Buffer.Start);
                result = default;
                return false;
            }

            return result.Buffer.Length > 0 || result.IsCompleted;
        }

        private bool Over(long buffered) => buffered > (_inData ? _messageLimit : LongestLine);

        private async ValueTask<ReadResult> GuardAsync(ReadResult result, CancellationToken cancellationToken)
        {
            if (!Over(result.Buffer.Length))
            {
                return result;
            }

            var reply = _inData
                ? $"552 5.3.4 the message is over this server's limit of {_limit} bytes; closing\r\n"
                : $"500 5.5.2 a command line longer than {LongestLine} bytes; closing\r\n";
            Inner.AdvanceTo(result.Buffer.End);
            _ended = true;
            await _pipe.Output.WriteAsync(System.Text.Encoding.ASCII.GetBytes(reply), cancellationToken);
            return new ReadResult(ReadOnlySequence<byte>.Empty, isCanceled: false, isCompleted: true);
        }

        public override void AdvanceTo(SequencePosition consumed)
        {
            if (!_ended)
            {
                Inner.AdvanceTo(consumed);
            }
        }

        public override void AdvanceTo(SequencePosition consumed, SequencePosition examined)
        {
            if (!_ended)
            {
                Inner.AdvanceTo(consumed, examined);
            }
        }

        public override void CancelPendingRead() => Inner.CancelPendingRead();

        public override void Complete(Exception? exception = null) => Inner.Complete(exception);
    }
}
