using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;

namespace Intake.Tests.Shared;

/// <summary>
/// A plain-FTP man in the middle for testing cut connections against the real vsftpd: it relays the
/// control connection, rewrites the port of every EPSV/PASV reply to a data relay of its own, and can
/// cut data connections after a number of bytes, with a reset (RST) or an early close (FIN).
/// </summary>
/// <remarks>
/// The cut is real TCP behaviour seen by the client's sockets, not a hook in the client. It works for
/// plain FTP only: with TLS the passive replies are encrypted and cannot be rewritten.
/// </remarks>
public sealed partial class FtpProxy : IAsyncDisposable
{
    private readonly string _targetHost;
    private readonly int _targetPort;
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentBag<IDisposable> _resources = [];
    private readonly Task _acceptLoop;
    private int _cutsLeft;
    private int _cuts;

    public FtpProxy(string targetHost, int targetPort)
    {
        _targetHost = targetHost;
        _targetPort = targetPort;
        _listener.Start();
        _acceptLoop = AcceptLoopAsync();
    }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    /// <summary>Data connections carrying more than this many bytes from the server are cut there.</summary>
    public long CutDataAfterBytes { get; set; } = long.MaxValue;

    /// <summary>How many data connections to cut; the rest pass untouched.</summary>
    public int CutsLeft
    {
        get => Volatile.Read(ref _cutsLeft);
        set => Volatile.Write(ref _cutsLeft, value);
    }

    /// <summary>Reset (RST, unread bytes are lost) rather than close (FIN, the client sees an early end).</summary>
    public bool CutWithReset { get; set; } = true;

    /// <summary>Runs at each cut, before the connection is closed (e.g. to change the file on the server).</summary>
    public Action? OnCut { get; set; }

    /// <summary>Connections cut so far.</summary>
    public int Cuts => Volatile.Read(ref _cuts);

    /// <summary>Every command the client sent, in order (PASS masked).</summary>
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
            _ = Task.Run(() => RelayControlAsync(client));
        }
    }

    private async Task RelayControlAsync(TcpClient client)
    {
        using var upstream = new TcpClient();
        _resources.Add(upstream);
        try
        {
            await upstream.ConnectAsync(_targetHost, _targetPort, _stop.Token);
            var toServer = PumpLinesAsync(client.GetStream(), upstream.GetStream(), line =>
            {
                Commands.Enqueue(line.StartsWith("PASS ", StringComparison.OrdinalIgnoreCase) ? "PASS ****" : line);
                return Task.FromResult(line);
            });
            var toClient = PumpLinesAsync(upstream.GetStream(), client.GetStream(), RewritePassiveAsync);
            await Task.WhenAny(toServer, toClient);
        }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
        {
        }
        finally
        {
            client.Dispose();
        }
    }

    private async Task PumpLinesAsync(Stream from, Stream to, Func<string, Task<string>> transform)
    {
        using var reader = new StreamReader(from, Encoding.UTF8, false, 4096, leaveOpen: true);
        while (await reader.ReadLineAsync(_stop.Token) is { } line)
        {
            var bytes = Encoding.UTF8.GetBytes(await transform(line) + "\r\n");
            await to.WriteAsync(bytes, _stop.Token);
        }
    }

    [GeneratedRegex(@"\((\d+),(\d+),(\d+),(\d+),(\d+),(\d+)\)")]
    private static partial Regex PasvTuple();

    [GeneratedRegex(@"\(\|\|\|(\d+)\|\)")]
    private static partial Regex EpsvTuple();

    private Task<string> RewritePassiveAsync(string line)
    {
        if (line.StartsWith("229 ", StringComparison.Ordinal) && EpsvTuple().Match(line) is { Success: true } epsv)
        {
            var port = StartDataRelay(int.Parse(epsv.Groups[1].Value, CultureInfo.InvariantCulture));
            return Task.FromResult(line.Replace(epsv.Value, $"(|||{port}|)", StringComparison.Ordinal));
        }

        if (line.StartsWith("227 ", StringComparison.Ordinal) && PasvTuple().Match(line) is { Success: true } pasv)
        {
            var target = (int.Parse(pasv.Groups[5].Value, CultureInfo.InvariantCulture) * 256) + int.Parse(pasv.Groups[6].Value, CultureInfo.InvariantCulture);
            var port = StartDataRelay(target);
            return Task.FromResult(line.Replace(pasv.Value, $"(127,0,0,1,{port / 256},{port % 256})", StringComparison.Ordinal));
        }

        return Task.FromResult(line);
    }

    private int StartDataRelay(int targetPort)
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        _ = Task.Run(async () =>
        {
            try
            {
                using var client = await listener.AcceptTcpClientAsync(_stop.Token).AsTask().WaitAsync(TimeSpan.FromSeconds(10));
                using var upstream = new TcpClient();
                await upstream.ConnectAsync(_targetHost, targetPort, _stop.Token);
                _ = client.GetStream().CopyToAsync(upstream.GetStream(), _stop.Token);
                await RelayDownAsync(upstream, client);
            }
            catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException or TimeoutException)
            {
            }
            finally
            {
                listener.Stop();
            }
        });
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private bool TryTakeCut()
    {
        while (true)
        {
            var left = Volatile.Read(ref _cutsLeft);
            if (left <= 0)
            {
                return false;
            }

            if (Interlocked.CompareExchange(ref _cutsLeft, left - 1, left) == left)
            {
                return true;
            }
        }
    }

    private async Task RelayDownAsync(TcpClient upstream, TcpClient client)
    {
        var buffer = new byte[16 * 1024];
        long sent = 0;
        var from = upstream.GetStream();
        var to = client.GetStream();
        while (true)
        {
            var n = await from.ReadAsync(buffer, _stop.Token);
            if (n == 0)
            {
                client.Client.Shutdown(SocketShutdown.Send); // the server's clean end, passed on
                return;
            }

            if (sent + n > CutDataAfterBytes && TryTakeCut())
            {
                var part = (int)(CutDataAfterBytes - sent);
                await to.WriteAsync(buffer.AsMemory(0, part), _stop.Token);
                Interlocked.Increment(ref _cuts);
                OnCut?.Invoke();
                if (CutWithReset)
                {
                    client.Client.LingerState = new LingerOption(true, 0); // close = RST
                }
                else
                {
                    client.Client.Shutdown(SocketShutdown.Send); // FIN: looks like an early, clean end
                }

                client.Client.Close();
                upstream.Client.LingerState = new LingerOption(true, 0);
                upstream.Client.Close();
                return;
            }

            await to.WriteAsync(buffer.AsMemory(0, n), _stop.Token);
            sent += n;
        }
    }
}
