namespace Intake.TestApi;

/// <summary>
/// How the local test API behaves. Mutable while it runs, so a test can change the day's record count between two
/// runs or start a 502 storm in the middle of one.
/// </summary>
public sealed class TestApiOptions
{
    /// <summary>Records of each (event, day) unless <see cref="CountFor"/> says otherwise.</summary>
    public int RecordsPerDay { get; set; } = 1000;

    /// <summary>Records of an (event, day); null for <see cref="RecordsPerDay"/>.</summary>
    public Func<string, DateOnly, int>? CountFor { get; set; }

    /// <summary>How many consecutive records share one <c>created</c> timestamp.</summary>
    public int SameTimestamp { get; set; } = 5;

    public int MinPageSize { get; set; } = 10;
    public int MaxPageSize { get; set; } = 100;

    /// <summary>The accepted key, as <c>X-Api-Key</c> or <c>Authorization: Bearer</c>; null for no check.</summary>
    public string? ApiKey { get; set; } = "test-key";

    /// <summary>Every N-th request answers 502 (0: never).</summary>
    public int Fail502Every { get; set; }

    /// <summary>Each request answers 502 with this probability, from a seeded generator (repeatable runs).</summary>
    public double Fail502Probability { get; set; }

    public int Seed { get; set; } = 42;

    private int _storm;

    /// <summary>The next N requests answer 502 (a storm); counts down.</summary>
    public int StormRemaining
    {
        get => Volatile.Read(ref _storm);
        set => Volatile.Write(ref _storm, value);
    }

    /// <summary>Takes one request of the storm; false when there is none left.</summary>
    internal bool TakeStorm()
    {
        while (true)
        {
            var left = Volatile.Read(ref _storm);
            if (left <= 0)
            {
                return false;
            }

            if (Interlocked.CompareExchange(ref _storm, left - 1, left) == left)
            {
                return true;
            }
        }
    }

    /// <summary>Every N-th request answers 429 with <c>Retry-After: <see cref="RetryAfterSeconds"/></c> (0: never).</summary>
    public int Fail429Every { get; set; }

    public int RetryAfterSeconds { get; set; }

    /// <summary>
    /// Called with the number of pages served so far, after each page is counted and before it is sent: a test can
    /// start a storm right after a chosen page to stop a pull there.
    /// </summary>
    public Action<int>? OnServed { get; set; }

    /// <summary>Added to every answer, to stand for a remote API.</summary>
    public TimeSpan Latency { get; set; }

    public int Count(string eventType, DateOnly day) => CountFor?.Invoke(eventType, day) ?? RecordsPerDay;
}
