using System.Net;
using Intake.Engine.Mail;
using Intake.Engine.Runtime;
using Intake.Server.Mail;
using Microsoft.AspNetCore.Http;

namespace Intake.Server.Hosting;

/// <summary>A request limit: <see cref="Permits"/> requests per <see cref="Window"/>.</summary>
public sealed record RateLimit(int Permits, TimeSpan Window)
{
    public override string ToString() => $"{Permits}/{Window}";
}

/// <summary>Who may read <c>/metrics</c>, which names every customer's pipelines.</summary>
public enum MetricsAccess
{
    /// <summary><see cref="Admin"/> when the API listens beyond loopback, <see cref="Open"/> otherwise.</summary>
    Auto,
    /// <summary>Only requests with an admin key (X-Api-Key or Bearer, like the API).</summary>
    Admin,
    /// <summary>Anyone who can reach the port (a Prometheus on the same machine or a private network).</summary>
    Open,
}

/// <summary>How <c>intake serve</c> and <c>intake worker</c> run. Defaults suit one machine.</summary>
public sealed record ServerOptions
{
    /// <summary>Where the REST API listens (Kestrel URLs, separated by ';'). Loopback by default: expose it deliberately.</summary>
    public string Urls { get; init; } = "http://127.0.0.1:8080";
    /// <summary>Run the REST API and the scheduler (serve); false runs workers and the sweeper only (worker).</summary>
    public bool Api { get; init; } = true;
    /// <summary>Loads processed in parallel by this process.</summary>
    public int Workers { get; init; } = 2;
    /// <summary>Workers that take only small loads, beside <see cref="Workers"/>; null for the configuration's (<c>defaults.small_load_workers</c>).</summary>
    public int? SmallLoadWorkers { get; init; }
    /// <summary>How long an idle worker waits before looking for work again (it wakes at once when this process registers loads).</summary>
    public TimeSpan Poll { get; init; } = TimeSpan.FromSeconds(2);
    /// <summary>Discovery interval of pipelines without a schedule.</summary>
    public TimeSpan DiscoverEvery { get; init; } = TimeSpan.FromSeconds(30);
    /// <summary>How often expired leases, stopped workers and job timeouts are checked.</summary>
    public TimeSpan SweepEvery { get; init; } = TimeSpan.FromSeconds(5);
    /// <summary>How often schedules are checked: the resolution of cron runs.</summary>
    public TimeSpan ScheduleEvery { get; init; } = TimeSpan.FromSeconds(1);
    /// <summary>
    /// How long a key looked up in the catalog is trusted without asking again. Saves a catalog round trip per
    /// request; the price is that a revoked key keeps working on a server for up to this long. Zero: always ask.
    /// </summary>
    public TimeSpan KeyCache { get; init; } = TimeSpan.FromSeconds(5);
    /// <summary>
    /// Requests per valid key; null for no limit. 6000 a minute (100 a second, averaged over the minute) is far
    /// above what a client automating the API needs (the old 600 stopped a script at 10 requests a second) and
    /// still stops a runaway loop from taking the catalog's whole capacity.
    /// </summary>
    public RateLimit? RateLimit { get; init; } = new(6000, TimeSpan.FromMinutes(1));
    /// <summary>
    /// Requests without a valid key (none, unknown, revoked, wrong secret), per client address; null for no limit.
    /// Stricter than <see cref="RateLimit"/>: such a request can only be a mistake or a guess.
    /// </summary>
    public RateLimit? AnonymousRateLimit { get; init; } = new(60, TimeSpan.FromMinutes(1));
    /// <summary>Who may read <c>/metrics</c>; <see cref="MetricsAccess.Auto"/> requires an admin key when <see cref="Urls"/> reach beyond loopback.</summary>
    public MetricsAccess Metrics { get; init; } = MetricsAccess.Auto;
    /// <summary>The embedded SMTP listener (<c>intake serve --smtp</c>); null runs none. Needs <see cref="MailReceiver"/>.</summary>
    public SmtpListenerOptions? Smtp { get; init; }
    /// <summary>
    /// Builds the mail receiver the SMTP listener hands every message to, once the runtime is open (the receiver writes
    /// to the pipeline stores and registers loads in the catalog). The host passes the Mail slice's receiver. The observer
    /// is the server's metrics, to be told of the <c>receive</c> steps the receiver records.
    /// </summary>
    public Func<IntakeRuntime, IRunObserver, IMailReceiver>? MailReceiver { get; init; }

    /// <summary>Whether <c>/metrics</c> answers only an admin key, once <see cref="MetricsAccess.Auto"/> is decided from <see cref="Urls"/>.</summary>
    public bool MetricsNeedAdminKey => Metrics switch
    {
        MetricsAccess.Admin => true,
        MetricsAccess.Open => false,
        _ => !ListensOnLoopbackOnly(Urls),
    };

    /// <summary>
    /// Whether every URL binds to a loopback address (127.0.0.0/8, ::1, localhost) or a Unix socket. A wildcard
    /// (<c>*</c>, <c>+</c>, <c>0.0.0.0</c>, <c>[::]</c>), another address or a host name reaches beyond the machine.
    /// </summary>
    public static bool ListensOnLoopbackOnly(string urls)
    {
        ArgumentNullException.ThrowIfNull(urls);
        foreach (var url in urls.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            BindingAddress address;
            try
            {
                address = BindingAddress.Parse(url);
            }
            catch (FormatException)
            {
                return false; // Kestrel refuses it at start anyway; never assume loopback for what cannot be read
            }

            if (address.IsNamedPipe || address.IsUnixPipe)
            {
                continue;
            }

            var host = address.Host.Trim('[', ']');
            if (!string.Equals(host, "localhost", StringComparison.OrdinalIgnoreCase) && !(IPAddress.TryParse(host, out var ip) && IPAddress.IsLoopback(ip)))
            {
                return false;
            }
        }

        return true;
    }
}
