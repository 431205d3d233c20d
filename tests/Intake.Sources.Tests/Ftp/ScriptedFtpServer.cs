using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Intake.Sources.Tests.Ftp;

/// <summary>
/// A minimal plain-FTP server for what the test vsftpd cannot show: MLSD (vsftpd has none), a server
/// that refuses REST or EPSV, a PASV reply with the address 0.0.0.0, a multi-line greeting, and a
/// server that turns connections away with 421. Files live in memory, keyed by absolute path.
/// </summary>
internal sealed class ScriptedFtpServer : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentBag<IDisposable> _resources = [];
    private readonly Task _acceptLoop;

    public ScriptedFtpServer()
    {
        _listener.Start();
        _acceptLoop = AcceptLoopAsync();
    }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    public string Password { get; set; } = "secret-pw";

    /// <summary>Files by absolute path ("/in/a.csv"); their folders exist implicitly.</summary>
    public ConcurrentDictionary<string, (byte[] Content, DateTimeOffset Modified)> Files { get; } = new(StringComparer.Ordinal);

    /// <summary>Symbolic links by absolute path (listed, never served).</summary>
    public ConcurrentBag<string> Links { get; } = [];

    public bool AnnounceMlsd { get; set; } = true;

    public bool RefuseRest { get; set; }

    public bool RefuseEpsv { get; set; }

    /// <summary>Replaces the greeting, e.g. "421 Too many connections".</summary>
    public string? Greeting { get; set; }

    public ConcurrentQueue<string> Commands { get; } = new();

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        foreach (var r in _resources)
        {
            r.Dispose();
        }

        try
        {
            await _acceptLoop;
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
        {
        }

        _stop.Dispose();
    }

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            var client = await _listener.AcceptTcpClientAsync(_stop.Token);
            _resources.Add(client);
            _ = Task.Run(() => ServeAsync(client));
        }
    }

    private async Task ServeAsync(TcpClient client)
    {
        try
        {
            using var _ = client;
            var stream = client.GetStream();
            using var reader = new StreamReader(stream, Encoding.UTF8, false, 4096, leaveOpen: true);
            async Task Send(string text) => await stream.WriteAsync(Encoding.UTF8.GetBytes(text.Replace("\n", "\r\n", StringComparison.Ordinal) + "\r\n"), _stop.Token);

            if (Greeting is { } greeting)
            {
                await Send(greeting);
                return;
            }

            await Send("220-Scripted FTP server\n220-for Intake tests\n220 Ready");
            var cwd = "/";
            long rest = 0;
            TcpListener? passive = null;
            while (await reader.ReadLineAsync(_stop.Token) is { } line)
            {
                var space = line.IndexOf(' ', StringComparison.Ordinal);
                var verb = (space < 0 ? line : line[..space]).ToUpperInvariant();
                var arg = space < 0 ? "" : line[(space + 1)..];
                Commands.Enqueue(verb == "PASS" ? "PASS ****" : line);
                switch (verb)
                {
                    case "USER":
                        await Send("331 Password please");
                        break;
                    case "PASS":
                        await Send(arg == Password ? "230 Logged in" : "530 Login incorrect");
                        break;
                    case "FEAT":
                        await Send("211-Features:\n" + (AnnounceMlsd ? " MLST type*;size*;modify*;\n" : "") + " SIZE\n MDTM\n REST STREAM\n EPSV\n211 End");
                        break;
                    case "TYPE":
                        await Send("200 Binary");
                        break;
                    case "PWD":
                        await Send("257 \"/\" is the current directory");
                        break;
                    case "CWD":
                        var dir = Absolute(cwd, arg);
                        if (dir == "/" || Files.Keys.Any(k => k.StartsWith(dir + "/", StringComparison.Ordinal)))
                        {
                            cwd = dir;
                            await Send("250 OK");
                        }
                        else
                        {
                            await Send("550 No such directory");
                        }

                        break;
                    case "EPSV" when RefuseEpsv:
                        await Send("500 EPSV not understood");
                        break;
                    case "EPSV":
                        passive = OpenPassive();
                        await Send($"229 Entering Extended Passive Mode (|||{((IPEndPoint)passive.LocalEndpoint).Port}|)");
                        break;
                    case "PASV":
                        passive = OpenPassive();
                        var port = ((IPEndPoint)passive.LocalEndpoint).Port;
                        await Send($"227 Entering Passive Mode (0,0,0,0,{port / 256},{port % 256})");
                        break;
                    case "MLSD" or "LIST":
                        await SendDataAsync(passive!, Send, Listing(cwd, verb == "MLSD"));
                        passive = null;
                        break;
                    case "SIZE" or "MDTM":
                        if (Files.TryGetValue(Absolute(cwd, arg), out var f))
                        {
                            await Send(verb == "SIZE"
                                ? "213 " + f.Content.Length.ToString(CultureInfo.InvariantCulture)
                                : "213 " + f.Modified.UtcDateTime.ToString("yyyyMMddHHmmss", CultureInfo.InvariantCulture));
                        }
                        else
                        {
                            await Send("550 No such file");
                        }

                        break;
                    case "REST" when RefuseRest:
                        await Send("502 REST not implemented");
                        break;
                    case "REST":
                        rest = long.Parse(arg, CultureInfo.InvariantCulture);
                        await Send($"350 Restarting at {rest}");
                        break;
                    case "RETR":
                        if (Files.TryGetValue(Absolute(cwd, arg), out var file))
                        {
                            await SendDataAsync(passive!, Send, file.Content.AsMemory((int)rest));
                        }
                        else
                        {
                            await Send("550 No such file");
                        }

                        rest = 0;
                        passive = null;
                        break;
                    case "QUIT":
                        await Send("221 Bye");
                        return;
                    default:
                        await Send("502 Not implemented");
                        break;
                }
            }
        }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
        {
        }
    }

    private TcpListener OpenPassive()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        _resources.Add(new Stopper(listener));
        return listener;
    }

    private async Task SendDataAsync(TcpListener passive, Func<string, Task> send, ReadOnlyMemory<byte> data)
    {
        using var connection = await passive.AcceptTcpClientAsync(_stop.Token);
        await send("150 Opening data connection");
        await connection.GetStream().WriteAsync(data, _stop.Token);
        connection.Client.Shutdown(SocketShutdown.Both);
        passive.Stop();
        await send("226 Transfer complete");
    }

    private byte[] Listing(string cwd, bool mlsd)
    {
        var prefix = cwd == "/" ? "/" : cwd + "/";
        var text = new StringBuilder();
        if (mlsd)
        {
            text.Append("type=cdir;modify=20260101000000; .\r\n");
        }

        var folders = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var (path, (content, modified)) in Files)
        {
            if (!path.StartsWith(prefix, StringComparison.Ordinal))
            {
                continue;
            }

            var rest = path[prefix.Length..];
            var slash = rest.IndexOf('/', StringComparison.Ordinal);
            if (slash >= 0)
            {
                folders.Add(rest[..slash]);
                continue;
            }

            text.Append(mlsd
                ? string.Create(CultureInfo.InvariantCulture, $"type=file;size={content.Length};modify={modified.UtcDateTime:yyyyMMddHHmmss.fff}; {rest}\r\n")
                : string.Create(CultureInfo.InvariantCulture, $"-rw-r--r--    1 ftp      ftp      {content.Length,10} {modified.UtcDateTime:MMM dd  yyyy} {rest}\r\n"));
        }

        foreach (var folder in folders)
        {
            text.Append(mlsd
                ? $"type=dir;modify=20260101000000; {folder}\r\n"
                : $"drwxr-xr-x    2 ftp      ftp            4096 Jan 01  2026 {folder}\r\n");
        }

        foreach (var link in Links.Where(l => l.StartsWith(prefix, StringComparison.Ordinal) && !l[prefix.Length..].Contains('/', StringComparison.Ordinal)))
        {
            var name = link[prefix.Length..];
            text.Append(mlsd
                ? $"type=OS.unix=slink:/etc/passwd;size=11;modify=20260101000000; {name}\r\n"
                : $"lrwxrwxrwx    1 ftp      ftp              11 Jan 01  2026 {name} -> /etc/passwd\r\n");
        }

        return Encoding.UTF8.GetBytes(text.ToString());
    }

    private static string Absolute(string cwd, string path) =>
        path.StartsWith('/') ? path.TrimEnd('/') is { Length: > 0 } p ? p : "/" : (cwd == "/" ? "/" : cwd + "/") + path;

    private sealed class Stopper(TcpListener listener) : IDisposable
    {
        public void Dispose() => listener.Stop();
    }
}
