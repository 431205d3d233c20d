using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;

namespace Intake.Tests.Shared;

/// <summary>
/// A TCP relay on 127.0.0.1 in front of a real server, that a test can cut: every open connection is reset (RST), as a
/// network failure ends it, while new connections pass again. For protocols whose bytes it cannot rewrite (SSH).
/// </summary>
public sealed class TcpProxy : IAsyncDisposable
{
    private readonly string _targetHost;
    private readonly int _targetPort;
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentDictionary<Socket, byte> _open = new();
    private readonly Task _acceptLoop;
    private long _fromServer;
    private int _cuts;
    private int _autoCut;

    public TcpProxy(string targetHost, int targetPort)
    {
        _targetHost = targetHost;
        _targetPort = targetPort;
        _listener.Start();
        _acceptLoop = AcceptLoopAsync();
    }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    /// <summary>Connections accepted so far.</summary>
    public int Connections { get; private set; }

    /// <summary>Times <see cref="CutAll"/> reset at least one connection.</summary>
    public int Cuts => Volatile.Read(ref _cuts);

    /// <summary>
    /// Once this many bytes have come from the server (over all connections), every open connection is reset, once:
    /// a drop in the middle of a download whose listing came through whole.
    /// </summary>
    public long CutOnceAfterServerBytes { get; set; } = long.MaxValue;

    /// <summary>Bytes relayed from the server to clients so far, over all connections.</summary>
    public long BytesFromServer => Interlocked.Read(ref _fromServer);

    /// <summary>Resets every open connection (RST: bytes in flight are lost). New connections are relayed again.</summary>
    public void CutAll()
    {
        var any = false;
        foreach (var socket in _open.Keys)
        {
            any = true;
            try
            {
                socket.LingerState = new LingerOption(true, 0); // close with RST, not FIN
                socket.Close();
            }
            catch (ObjectDisposedException)
            {
            }
        }

        if (any)
        {
            Interlocked.Increment(ref _cuts);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        CutAll();
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
            var client = await _listener.AcceptSocketAsync(_stop.Token);
            Connections++;
            _ = RelayAsync(client);
        }
    }

    private async Task RelayAsync(Socket client)
    {
        var server = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        _open[client] = 0;
        _open[server] = 0;
        try
        {
            await server.ConnectAsync(_targetHost, _targetPort, _stop.Token);
            await Task.WhenAny(PumpAsync(client, server, fromServer: false), PumpAsync(server, client, fromServer: true));
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException or OperationCanceledException)
        {
        }
        finally
        {
            _open.TryRemove(client, out _);
            _open.TryRemove(server, out _);
            client.Dispose();
            server.Dispose();
        }
    }

    private async Task PumpAsync(Socket from, Socket to, bool fromServer)
    {
        var buffer = new byte[64 * 1024];
        try
        {
            int read;
            while ((read = await from.ReceiveAsync(buffer, SocketFlags.None, _stop.Token)) > 0)
            {
                await to.SendAsync(buffer.AsMemory(0, read), SocketFlags.None, _stop.Token);
                if (fromServer && Interlocked.Add(ref _fromServer, read) >= CutOnceAfterServerBytes && Interlocked.Exchange(ref _autoCut, 1) == 0)
                {
                    CutAll();
                }
            }

            to.Shutdown(SocketShutdown.Send);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException or OperationCanceledException)
        {
        }
    }
}
