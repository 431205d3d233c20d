using System.Net.Sockets;
using System.Text;
using System.Text.Json;

namespace Intake.Server.Tests;

/// <summary>
/// HTTP/1.1 over a plain socket, for requests HttpClient will not send: a chunked body with a bad chunk size, a
/// Content-Length it never delivers, a body sent slowly, header bytes outside ASCII.
/// </summary>
public static class RawHttp
{
    public sealed record Response(int Status, IReadOnlyDictionary<string, string> Headers, string Body)
    {
        public string? ContentType => Headers.TryGetValue("content-type", out var v) ? v.Split(';')[0].Trim() : null;

        public JsonElement Json => JsonDocument.Parse(Body).RootElement.Clone();
    }

    /// <summary>Sends <paramref name="head"/> (request line and headers, without the blank line), then the body parts with <paramref name="pause"/> between them, and reads the response.</summary>
    public static async Task<Response> SendAsync(Uri server, string head, IReadOnlyList<byte[]>? body = null, TimeSpan? pause = null, byte[]? rawHead = null)
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(server.Host, server.Port);
        var stream = tcp.GetStream();
        var headBytes = rawHead ?? Encoding.ASCII.GetBytes(head);
        await stream.WriteAsync(headBytes);
        await stream.WriteAsync("\r\n\r\n"u8.ToArray());
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var reading = ReadAllAsync(stream, timeout.Token);
        foreach (var part in body ?? [])
        {
            if (reading.IsCompleted)
            {
                break; // the server answered before the whole body was sent
            }

            try
            {
                await stream.WriteAsync(part);
                if (pause is { } p)
                {
                    await Task.WhenAny(reading, Task.Delay(p));
                }
            }
            catch (IOException)
            {
                break; // the server closed the connection after its answer
            }
        }

        return Parse(await reading);
    }

    private static async Task<byte[]> ReadAllAsync(NetworkStream stream, CancellationToken cancellationToken)
    {
        var all = new MemoryStream();
        var buffer = new byte[8192];
        try
        {
            while (true)
            {
                var n = await stream.ReadAsync(buffer, cancellationToken);
                if (n == 0)
                {
                    break;
                }

                all.Write(buffer, 0, n);
                if (Complete(all.ToArray()))
                {
                    break;
                }
            }
        }
        catch (IOException)
        {
            // a reset after the response: what was read is the answer
        }

        return all.ToArray();
    }

    /// <summary>Whether a whole response (headers and the body its framing announces) is in <paramref name="bytes"/>.</summary>
    private static bool Complete(byte[] bytes)
    {
        var text = Encoding.Latin1.GetString(bytes);
        var end = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
        if (end < 0)
        {
            return false;
        }

        var headers = ParseHeaders(text[..end]);
        var body = text[(end + 4)..];
        if (headers.TryGetValue("content-length", out var length))
        {
            return Encoding.Latin1.GetByteCount(body) >= int.Parse(length, System.Globalization.CultureInfo.InvariantCulture);
        }

        return headers.TryGetValue("transfer-encoding", out var te) && te.Contains("chunked", StringComparison.OrdinalIgnoreCase) && body.EndsWith("0\r\n\r\n", StringComparison.Ordinal);
    }

    private static Dictionary<string, string> ParseHeaders(string head)
    {
        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var line in head.Split("\r\n").Skip(1))
        {
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon > 0)
            {
                var name = line[..colon].Trim();
                var value = line[(colon + 1)..].Trim();
                headers[name] = headers.TryGetValue(name, out var existing) ? existing + ", " + value : value;
            }
        }

        return headers;
    }

    private static Response Parse(byte[] bytes)
    {
        // Latin-1 keeps one character per byte, so chunk sizes can be applied to the text; the body is decoded as UTF-8 at the end.
        var text = Encoding.Latin1.GetString(bytes);
        var end = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
        if (end < 0)
        {
            throw new InvalidOperationException($"no complete HTTP response; received: {text}");
        }

        var statusLine = text[..text.IndexOf("\r\n", StringComparison.Ordinal)];
        var status = int.Parse(statusLine.Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture);
        var headers = ParseHeaders(text[..end]);
        var body = text[(end + 4)..];
        if (headers.TryGetValue("transfer-encoding", out var te) && te.Contains("chunked", StringComparison.OrdinalIgnoreCase))
        {
            body = Dechunk(body);
        }

        return new Response(status, headers, Encoding.UTF8.GetString(Encoding.Latin1.GetBytes(body)));
    }

    private static string Dechunk(string chunked)
    {
        var result = new StringBuilder();
        var i = 0;
        while (i < chunked.Length)
        {
            var lineEnd = chunked.IndexOf("\r\n", i, StringComparison.Ordinal);
            if (lineEnd < 0)
            {
                break;
            }

            var size = Convert.ToInt32(chunked[i..lineEnd].Split(';')[0], 16);
            if (size == 0)
            {
                break;
            }

            result.Append(chunked, lineEnd + 2, size);
            i = lineEnd + 2 + size + 2;
        }

        return result.ToString();
    }
}
