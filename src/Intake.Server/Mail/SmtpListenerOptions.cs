using System.Globalization;
using System.Net;
using System.Security.Cryptography.X509Certificates;

namespace Intake.Server.Mail;

/// <summary>How the embedded SMTP listener (<c>intake serve --smtp</c>) listens. Defaults suit one machine behind a firewall.</summary>
public sealed record SmtpListenerOptions
{
    /// <summary>The SMTP port most tools reach without root; loopback by default: listen beyond it deliberately.</summary>
    public const int DefaultPort = 2525;

    /// <summary>Where the listener accepts connections; port 0 takes a free port (see <see cref="SmtpListener.Endpoint"/>).</summary>
    public IPEndPoint Endpoint { get; init; } = new(IPAddress.Loopback, DefaultPort);

    /// <summary>
    /// The largest message accepted, in bytes; null takes the mail receiver's <c>MaxMessageBytes</c>. A smaller value
    /// than the receiver's wins; the listener never accepts more than the receiver, nor more than 2 GiB (SmtpServer
    /// counts in 32 bits). Announced by SIZE and enforced while the message arrives, whatever the client announced.
    /// </summary>
    public long? MaxMessageBytes { get; init; }

    /// <summary>
    /// The certificate (with its private key) for STARTTLS; null offers no STARTTLS. Senders that require TLS then
    /// deliver elsewhere or not at all, so set one when the listener is reached over a network you do not trust.
    /// </summary>
    public X509Certificate2? Certificate { get; init; }

    /// <summary>
    /// Sessions served at once. The next connection waits in the kernel's backlog until one ends, the way a mail
    /// server's process limit works: each session holds up to one whole message in memory (SmtpServer buffers it), so
    /// this bounds the memory the listener can take to about this many times the size limit.
    /// </summary>
    public int MaxSessions { get; init; } = 20;

    /// <summary>
    /// The longest a session may last, its messages included (SmtpServer cancels it then; a message not answered yet is
    /// the sender's to retry). SmtpServer's own default, 2 minutes, is short for a large message on a slow link.
    /// </summary>
    public TimeSpan SessionTimeout { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>The host name in the greeting and the EHLO reply.</summary>
    public string ServerName { get; init; } = Dns.GetHostName();

    /// <summary>Reads <c>ADDRESS:PORT</c> (<c>127.0.0.1:2525</c>, <c>[::1]:2525</c>, <c>0.0.0.0:25</c>), or a port alone (on loopback).</summary>
    public static bool TryParseEndpoint(string text, out IPEndPoint endpoint)
    {
        ArgumentNullException.ThrowIfNull(text);
        endpoint = null!;
        text = text.Trim();
        if (int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var port) && port is >= 0 and <= 65535)
        {
            endpoint = new IPEndPoint(IPAddress.Loopback, port);
            return true;
        }

        // IPEndPoint.TryParse takes "127.0.0.1" without a port as port 0: a port must be written.
        var colon = text.LastIndexOf(':');
        if (colon <= 0 || text[(colon + 1)..].Length == 0 || (text.Contains("::", StringComparison.Ordinal) && !text.Contains(']', StringComparison.Ordinal)))
        {
            return false;
        }

        if (IPEndPoint.TryParse(text, out var parsed) && parsed is not null)
        {
            endpoint = parsed;
            return true;
        }

        return false;
    }
}
