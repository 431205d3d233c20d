namespace Intake.Sources.Http;

/// <summary>How the records of one page are found and how the next page is asked for.</summary>
public enum PaginationStyle
{
    /// <summary>The next page starts after the last record's id (<c>starting_after=…</c>, exclusive).</summary>
    Cursor,
    /// <summary>The response names the next page's URL (<c>links.next</c>); absent or null on the last page.</summary>
    NextLink,
    /// <summary>Numbered pages (<c>page=1, 2, …</c>).</summary>
    Page,
}

/// <summary>
/// A pipeline whose source is an HTTP API (<c>source.kind: http</c>): one load per event type and day, pulled page by
/// page into gzipped NDJSON parts. Secrets (the API key, the bearer token) come from <c>${VAR}</c> references to the
/// environment or the <c>.env</c> file and never appear in messages or logs.
/// </summary>
public sealed record HttpSourceOptions
{
    public required string Url { get; init; }
    /// <summary>GET or POST.</summary>
    public string Method { get; init; } = "GET";
    public IReadOnlyDictionary<string, string> Headers { get; init; } = new Dictionary<string, string>();
    /// <summary>Query parameters, values are templates ({event} {day} {from} {to} {from_unix} {to_unix} {limit}).</summary>
    public IReadOnlyDictionary<string, string> Query { get; init; } = new Dictionary<string, string>();
    /// <summary>POST: a JSON object template (same placeholders, values JSON-escaped); the cursor or page goes into it.</summary>
    public string? Body { get; init; }
    /// <summary>The header that carries the secret (X-Api-Key, or Authorization for a bearer token), or null for none.</summary>
    public string? AuthHeader { get; init; }
    /// <summary>The header's value, secret: never logged.</summary>
    public string? AuthValue { get; init; }
    public required IReadOnlyList<string> Events { get; init; }
    public int PageSize { get; init; } = 100;
    public int PageSizeMin { get; init; } = 1;
    public int PageSizeMax { get; init; } = 1000;
    /// <summary>Dotted path to the array of records in a response (<c>data</c>).</summary>
    public string RecordsPath { get; init; } = "data";
    public PaginationStyle Pagination { get; init; } = PaginationStyle.Cursor;
    /// <summary>Cursor style: the record field whose value is the next cursor.</summary>
    public string CursorField { get; init; } = "id";
    /// <summary>Cursor style: the parameter the cursor is sent as.</summary>
    public string CursorParam { get; init; } = "starting_after";
    /// <summary>Next-link style: dotted path to the next page's URL.</summary>
    public string NextLinkPath { get; init; } = "links.next";
    /// <summary>Dotted path to a boolean "more pages" flag, or null to go on while a page is full.</summary>
    public string? HasMorePath { get; init; }
    /// <summary>Page style: the parameter the page number is sent as, and the first page's number.</summary>
    public string PageParam { get; init; } = "page";
    public int FirstPage { get; init; } = 1;
    /// <summary>Event types pulled at once by one process.</summary>
    public int Parallel { get; init; } = 2;
    /// <summary>Records per part object.</summary>
    public int RollEvery { get; init; } = 100_000;
    /// <summary>
    /// The least time between two checkpoints of the open part, taken at the end of a page: every page when pages take
    /// longer than this, fewer when they come faster. A crash re-reads the pages since the last checkpoint, so at most
    /// about this much pulling (plus the page in flight); each checkpoint is one catalog write. Zero: every page.
    /// </summary>
    public TimeSpan CheckpointInterval { get; init; } = TimeSpan.FromSeconds(1);
    /// <summary>Where parts go: placeholders {event} {day} {n} (n is 00001, 00002, …).</summary>
    public string KeyTemplate { get; init; } = DefaultKeyTemplate;
    /// <summary>The store the parts go to; null for the pipeline's store.</summary>
    public string? Store { get; init; }
    public string Area { get; init; } = "raw";
    /// <summary>Nested objects become dotted keys (a.b.c) in the parts and columns in the warehouse.</summary>
    public bool Flatten { get; init; }
    /// <summary>Which day a scheduled run pulls: yesterday (the last complete day) or today.</summary>
    public string Day { get; init; } = "yesterday";
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(30);
    /// <summary>Attempts of one request (first included) on 502, 503, 504, 429 and timeouts.</summary>
    public int MaxAttempts { get; init; } = 6;
    public TimeSpan BaseDelay { get; init; } = TimeSpan.FromMilliseconds(500);
    public TimeSpan MaxDelay { get; init; } = TimeSpan.FromSeconds(30);

    public const string DefaultKeyTemplate = "{event}/date={day}/part-{n}.ndjson.gz";

    /// <summary>Scheduled runs of an HTTP pipeline without <c>schedule</c>: daily at 07:00 UTC.</summary>
    public const string DefaultSchedule = "0 7 * * *";
}
