namespace Intake.Server.Hosting;

/// <summary>Per-key request limit: <see cref="Permits"/> requests per <see cref="Window"/>.</summary>
public sealed record RateLimit(int Permits, TimeSpan Window)
{
    public override string ToString() => $"{Permits}/{Window}";
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
    /// <summary>Requests per key (or per client address without a valid key); null for no limit.</summary>
    public RateLimit? RateLimit { get; init; } = new(600, TimeSpan.FromMinutes(1));
}
