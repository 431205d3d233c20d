using System.Net;
using System.Net.Sockets;

namespace Intake.Tests.Shared;

/// <summary>
/// A TCP proxy in front of the S3 server that dies like a server does: once <c>cutAfter</c> bytes went
/// upstream it drops every connection and stops listening, so what follows (retries, the abort) meets a
/// closed port.
/// </summary>
public sealed class CuttingProxy : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly Uri _upstream;
    private readonly long _cutAfter;
    private readonly List<TcpClient> _connections = [];
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _acceptLoop;
    private long _forwarded;

    public CuttingProxy(Uri upstream, long cutAfter)
    {
        _upstream = upstream;
        _cutAfter = cutAfter;
        _listener.Start();
        _acceptLoop = AcceptAsync();
    }

    public string Url => $"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}";

    public bool HasCut => _stop.IsCancellationRequested;

    public async ValueTask DisposeAsync()
    {
        Cut();
        await _acceptLoop;
        _stop.Dispose();
    }

    private async Task AcceptAsync()
    {
        try
        {
            while (true)
            {
                var client = await _listener.AcceptTcpClientAsync(_stop.Token);
                var server = new TcpClient();
                lock (_connections)
                {
                    // Registered before connecting, so a cut racing with this accept closes both ends too.
                    _connections.Add(client);
                    _connections.Add(server);
                }

                await server.ConnectAsync(_upstream.Host, _upstream.Port, _stop.Token);

                _ = PumpAsync(client.GetStream(), server.GetStream(), countUpstream: true);
                _ = PumpAsync(server.GetStream(), client.GetStream(), countUpstream: false);
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
        {
            // Cut: no more connections.
        }
    }

    private async Task PumpAsync(NetworkStream from, NetworkStream to, bool countUpstream)
    {
        var buffer = new byte[64 * 1024];
        try
        {
            while (true)
            {
                var read = await from.ReadAsync(buffer, _stop.Token);
                if (read == 0)
                {
                    return;
                }

                if (countUpstream && Interlocked.Add(ref _forwarded, read) > _cutAfter)
                {
                    Cut();
                    return;
                }

                await to.WriteAsync(buffer.AsMemory(0, read), _stop.Token);
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException or ObjectDisposedException or SocketException)
        {
            // The connection is gone, by the cut or by its peer.
        }
    }

    private void Cut()
    {
        if (!_stop.IsCancellationRequested)
        {
            _stop.Cancel();
        }

        _listener.Stop();
        lock (_connections)
        {
            foreach (var connection in _connections)
            {
                // Reset rather than close politely, as a crashed server's kernel would.
                connection.Client.LingerState = new LingerOption(true, 0);
                connection.Dispose();
            }

            _connections.Clear();
        }
    }
}
