using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Text;

namespace Intake.Server.Tests.Mail;

/// <summary>
/// A bare SMTP client over a socket, so the tests see every reply code exactly as a sender would (and can do what real
/// clients do not: lie about SIZE, send more than announced, hold a session open).
/// </summary>
internal sealed class SmtpTestClient : IAsyncDisposable
{
    private readonly TcpClient _tcp;
    private Stream _stream;
    private StreamReader _reader;

    private SmtpTestClient(TcpClient tcp)
    {
        _tcp = tcp;
        _stream = tcp.GetStream();
        _reader = new StreamReader(_stream, Encoding.ASCII, leaveOpen: true);
    }

    public string Greeting { get; private set; } = "";

    /// <summary>Bytes the server sent that were not read yet (no reply may be pending while the receiver works).</summary>
    public int Available => _tcp.Available;

    public static async Task<SmtpTestClient> ConnectAsync(IPEndPoint endpoint, bool readGreeting = true)
    {
        var tcp = new TcpClient();
        await tcp.ConnectAsync(endpoint);
        var client = new SmtpTestClient(tcp);
        if (readGreeting)
        {
            client.Greeting = await client.ReadReplyAsync();
        }

        return client;
    }

    /// <summary>Sends one command and returns the whole reply (the lines of a multi-line reply joined by \n).</summary>
    public async Task<string> SendAsync(string command)
    {
        await WriteAsync(Encoding.ASCII.GetBytes(command + "\r\n"));
        return await ReadReplyAsync();
    }

    /// <summary>EHLO, MAIL FROM, RCPT TO for each recipient; returns the RCPT replies.</summary>
    public async Task<List<string>> EnvelopeAsync(string sender, params string[] recipients)
    {
        (await SendAsync("EHLO client.example")).ShouldStartWith("250");
        (await SendAsync($"MAIL FROM:<{sender}>")).ShouldStartWith("250");
        var replies = new List<string>();
        foreach (var r in recipients)
        {
            replies.Add(await SendAsync($"RCPT TO:<{r}>"));
        }

        return replies;
    }

    /// <summary>DATA, the message (dot-stuffed, as the protocol wants) and the final dot; returns the reply to the message.</summary>
    public async Task<string> DataAsync(byte[] message)
    {
        (await SendAsync("DATA")).ShouldStartWith("354");
        await SendContentAsync(message);
        return await ReadReplyAsync();
    }

    /// <summary>The message after DATA's 354, dot-stuffed, with the final dot; the reply is not read.</summary>
    public async Task SendContentAsync(byte[] message)
    {
        var text = Encoding.Latin1.GetString(message);
        var stuffed = (text.StartsWith('.') ? "." : "") + text.Replace("\r\n.", "\r\n..", StringComparison.Ordinal);
        if (!stuffed.EndsWith("\r\n", StringComparison.Ordinal))
        {
            stuffed += "\r\n";
        }

        await WriteAsync(Encoding.Latin1.GetBytes(stuffed + ".\r\n"));
    }

    public async Task<string> ReadReplyAsync()
    {
        var lines = new List<string>();
        while (true)
        {
            var line = await _reader.ReadLineAsync() ?? throw new IOException("the server closed the connection" + (lines.Count > 0 ? " after: " + string.Join("\n", lines) : ""));
            lines.Add(line);
            if (line.Length < 4 || line[3] != '-')
            {
                return string.Join("\n", lines);
            }
        }
    }

    /// <summary>STARTTLS and the TLS handshake, trusting only <paramref name="expected"/>'s certificate.</summary>
    public async Task StartTlsAsync(System.Security.Cryptography.X509Certificates.X509Certificate2 expected)
    {
        (await SendAsync("STARTTLS")).ShouldStartWith("220");
        var tls = new SslStream(_stream, leaveInnerStreamOpen: false, (_, certificate, _, _) => certificate is not null && certificate.GetCertHashString() == expected.GetCertHashString());
        await tls.AuthenticateAsClientAsync("localhost");
        _stream = tls;
        _reader = new StreamReader(_stream, Encoding.ASCII, leaveOpen: true);
    }

    public async Task WriteAsync(byte[] bytes)
    {
        await _stream.WriteAsync(bytes);
        await _stream.FlushAsync();
    }

    public async ValueTask DisposeAsync()
    {
        _reader.Dispose();
        await _stream.DisposeAsync();
        _tcp.Dispose();
    }
}
