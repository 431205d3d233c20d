using System.Net.Sockets;
using Intake.Core.Errors;
using Intake.Server.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Intake.Server.Mail;

/// <summary>
/// The SMTP listener of <c>intake serve --smtp</c>: started after the runtime is open (the receiver needs the catalog and
/// the stores) and, registered last, stopped first, so the server stops taking mail before its workers stop.
/// </summary>
internal sealed class SmtpHostedService : IHostedService, IAsyncDisposable
{
    private readonly ServerState _state;
    private SmtpListener? _listener;

    public SmtpHostedService(ServerState state) => _state = state;

    /// <summary>The running listener; null until started.</summary>
    public SmtpListener? Listener => _listener;

    /// <summary>Registers the service (once, as itself, so the server can tell where it listens).</summary>
    public static void Add(IServiceCollection services)
    {
        services.AddSingleton<SmtpHostedService>();
        services.AddHostedService(sp => sp.GetRequiredService<SmtpHostedService>());
    }

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var options = _state.Options.Smtp ?? throw new InvalidOperationException("the SMTP listener is not configured");
        var receiver = _state.Options.MailReceiver?.Invoke(_state.Runtime, _state.Metrics)
            ?? throw new IntakeException(ErrorKind.Config, "--smtp: this intake has no mail receiver to hand messages to; run a build with the Mail slice, or leave out --smtp");
        try
        {
            _listener = await SmtpListener.StartAsync(receiver, options, _state.Log, cancellationToken);
        }
        catch (SocketException e)
        {
            throw new IntakeException(ErrorKind.Config,
                $"--smtp: cannot listen on {options.Endpoint}: {e.Message}; another server may have the port (choose another with --smtp ADDRESS:PORT), or ports below 1024 need root", e);
        }
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_listener is { } listener)
        {
            _listener = null;
            await listener.DisposeAsync();
        }
    }

    public async ValueTask DisposeAsync() => await StopAsync(CancellationToken.None);
}
