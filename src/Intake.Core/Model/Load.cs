using Intake.Core.Errors;

namespace Intake.Core.Model;

/// <summary>One unit of work. (Pipeline, SourceKey, Fingerprint) is unique in the catalog.</summary>
public sealed record Load
{
    public long Id { get; init; }
    public required string Pipeline { get; init; }
    public required string Customer { get; init; }
    public required string SourceKey { get; init; }
    /// <summary>Size plus ETag, checksum or modification time: a changed file under the same key is a new load.</summary>
    public required string Fingerprint { get; init; }
    public long? SourceSize { get; init; }
    public LoadStatus Status { get; init; }
    public string? HeldReason { get; init; }
    /// <summary>How many times an ingest worker has claimed this load.</summary>
    public int Attempts { get; init; }
    public string? LeaseOwner { get; init; }
    public DateTimeOffset? LeaseExpiresAt { get; init; }
    public ErrorKind? ErrorKind { get; init; }
    public string? ErrorMessage { get; init; }
    /// <summary>The replaced system's name for this failure (e.g. <c>FTPServerNetworkDownloadException</c>), only for pipelines that ask for one (<c>error_codes</c>).</summary>
    public string? ErrorCode { get; init; }
    /// <summary>Where the original sits in the inbox area once fetched.</summary>
    public string? InboxKey { get; init; }
    /// <summary>
    /// The source table the load belongs to (<c>cubic__ods_qlik__edw_sample</c>), named from its key's prefix when the
    /// pipeline has <c>tables_from_prefix</c>; null otherwise.
    /// </summary>
    public string? Table { get; init; }
    /// <summary>The source object's modification time as discovery listed it (the design's <c>s3_modified</c>); null for loads that are not listed files.</summary>
    public DateTimeOffset? SourceModified { get; init; }
    public DateTimeOffset CreatedAt { get; init; }
    public DateTimeOffset UpdatedAt { get; init; }
}

/// <summary>What discovery knows about a unit of data before it becomes a load.</summary>
/// <param name="Table">The source table the file belongs to (registered first, see <c>ITableStore</c>); null when the pipeline has no tables.</param>
/// <param name="SourceModified">The file's modification time as listed; null when the load is not a listed file.</param>
public sealed record NewLoad(string Pipeline, string Customer, string SourceKey, string Fingerprint, long? SourceSize = null, string? Table = null, DateTimeOffset? SourceModified = null)
{
    /// <summary>Where the original already is in the inbox when the load is registered (a mail message, made durable first); null when a step fetches it.</summary>
    public string? InboxKey { get; init; }

    /// <summary>
    /// Where the fetch is to put the original, rendered at registration from a key template without <c>{load}</c>; null
    /// when the fetch renders the key itself (a template with <c>{load}</c>, unique by construction). The catalog keeps
    /// these keys unique: when another load holds the key, this load gets it with its own id as a folder before the file
    /// name (<see cref="InboxKeys.WithLoadId"/>), so two files of one name never share an original.
    /// </summary>
    public string? ProposedInboxKey { get; init; }

    /// <summary>
    /// A first step the registrar did itself (a mail message's <c>receive</c>), recorded in the same transaction as the
    /// load so that a worker claiming the new load at once finds it done; null for none. Not recorded for a load that
    /// existed already.
    /// </summary>
    public RegisteredStep? DoneStep { get; init; }
}

/// <summary>A step finished before its load was registered: its name, who ran it, and its result (not running).</summary>
public sealed record RegisteredStep(string Step, string? Worker, StepResult Result);

/// <summary>Extra fields written together with a status change.</summary>
public sealed record TransitionDetails
{
    public ErrorKind? ErrorKind { get; init; }
    public string? ErrorMessage { get; init; }
    /// <summary>Written together with <see cref="ErrorMessage"/>, and cleared with it.</summary>
    public string? ErrorCode { get; init; }
    public string? HeldReason { get; init; }
    public string? InboxKey { get; init; }
    /// <summary>When set, the change applies only while this worker still holds the lease.</summary>
    public string? LeaseOwner { get; init; }
    /// <summary>Clear the previous error fields (re-drive).</summary>
    public bool ClearError { get; init; }
    /// <summary>Reset the attempt counter (re-drive).</summary>
    public bool ResetAttempts { get; init; }
}

/// <summary>
/// The one load listing: filters, a creation window and keyset paging, oldest first (workers, audit, exports)
/// or newest first (operators look at recent jobs first). Ids only grow, so paging by id never skips or repeats a load.
/// </summary>
public sealed record LoadQuery
{
    public LoadStatus? Status { get; init; }
    public string? Pipeline { get; init; }
    public string? Customer { get; init; }
    /// <summary>Only loads of this source table (<see cref="Load.Table"/>).</summary>
    public string? Table { get; init; }
    /// <summary>Only loads whose recorded error is of this kind (errored loads, and loads on their way there).</summary>
    public ErrorKind? ErrorKind { get; init; }
    /// <summary>
    /// Only loads whose source key matches this text as <see cref="SourceKeyMatch"/> says: the operator's question
    /// "where is file X?". Null or empty: no search.
    /// </summary>
    public string? SourceKey { get; init; }
    /// <summary>How <see cref="SourceKey"/> matches; a part of the key anywhere unless told otherwise.</summary>
    public SourceKeyMatch SourceKeyMatch { get; init; } = SourceKeyMatch.Contains;
    /// <summary>Only loads created at or after this time.</summary>
    public DateTimeOffset? CreatedSince { get; init; }
    /// <summary>Only loads created before this time.</summary>
    public DateTimeOffset? CreatedUntil { get; init; }
    /// <summary>Only loads with a larger id: the last id of the previous page, oldest first.</summary>
    public long? AfterId { get; init; }
    /// <summary>Only loads with a smaller id: the last id of the previous page, newest first.</summary>
    public long? BeforeId { get; init; }
    /// <summary>Highest id first instead of lowest (with <see cref="ByCreatedAt"/>: latest creation first).</summary>
    public bool NewestFirst { get; init; }
    /// <summary>
    /// In (created_at, id) order instead of id order: the operators' lists. A creation window is then an index range
    /// read from its end, however far back it lies, and paging moves by <see cref="Before"/> / <see cref="After"/>.
    /// </summary>
    public bool ByCreatedAt { get; init; }
    /// <summary>With <see cref="ByCreatedAt"/>: only loads before this position (the last one of the previous page, newest first).</summary>
    public LoadPosition? Before { get; init; }
    /// <summary>With <see cref="ByCreatedAt"/>: only loads after this position (the last one of the previous page, oldest first).</summary>
    public LoadPosition? After { get; init; }
    public int Limit { get; init; } = 1000;
}

/// <summary>
/// A load's place in the (created_at, id) order (<see cref="LoadQuery.ByCreatedAt"/>). Both are fixed when the load is
/// registered and the pair is unique, so paging by it never skips or repeats a load, loads created in the same
/// millisecond included.
/// </summary>
public readonly record struct LoadPosition(DateTimeOffset CreatedAt, long Id)
{
    public static LoadPosition Of(Load load)
    {
        ArgumentNullException.ThrowIfNull(load);
        return new LoadPosition(load.CreatedAt, load.Id);
    }
}

/// <summary>How a source key search (<see cref="LoadQuery.SourceKey"/>) matches the keys of loads.</summary>
/// <remarks>
/// Exact and prefix compare characters exactly and read a byte-order index on the key. Contains ignores the case of
/// letters (SQLite: of ASCII letters only) and on PostgreSQL reads a trigram index (pg_trgm) when the extension could
/// be created; without it, and on SQLite, it reads the loads newest first until the page is full.
/// </remarks>
public enum SourceKeyMatch
{
    /// <summary>A part of the key anywhere, case-insensitive: <c>orders_0107</c> finds <c>in/acme/ORDERS_0107.csv</c>.</summary>
    Contains,
    /// <summary>Keys that start with the text, e.g. a folder: <c>in/acme/</c>.</summary>
    Prefix,
    /// <summary>The whole key, exactly.</summary>
    Exact,
}

/// <summary>A worker asks for one load waiting in <see cref="From"/>; the catalog moves it to the matching working status.</summary>
public sealed record ClaimRequest
{
    public required string Worker { get; init; }
    public LoadStatus From { get; init; } = LoadStatus.Ready;
    /// <summary>
    /// When nothing waits in <see cref="From"/>, these statuses in turn, in the same statement (a worker's order of
    /// preference: errors, then archiving, then new loads); null or empty for <see cref="From"/> alone.
    /// </summary>
    public IReadOnlyList<LoadStatus>? ThenFrom { get; init; }
    public required TimeSpan Lease { get; init; }
    /// <summary>Only loads of these pipelines; null for all.</summary>
    public IReadOnlyCollection<string>? Pipelines { get; init; }
    /// <summary>Only loads whose original is known to be at most this many bytes (a small-load worker's); null for any.</summary>
    public long? MaxSourceSize { get; init; }
}

public sealed record RegisterResult(Load Load, bool Created);

/// <summary>A claimed load and its step history as it was when claimed (<see cref="Ports.ICatalog.ClaimWithHistoryAsync"/>).</summary>
public sealed record ClaimedLoad(Load Load, IReadOnlyList<StepRecord> Steps);

/// <summary>The rule that makes a held inbox key this load's own.</summary>
public static class InboxKeys
{
    /// <summary>
    /// <paramref name="key"/> with the load's id as a folder before its last segment (<c>a/b/17/c.csv</c>); a second
    /// try (<paramref name="attempt"/> 2, 3, …) adds it to the id (<c>a/b/17-2/c.csv</c>) in case a template rendered
    /// that very key too.
    /// </summary>
    public static string WithLoadId(string key, long loadId, int attempt = 1)
    {
        ArgumentNullException.ThrowIfNull(key);
        var slash = key.LastIndexOf('/');
        var folder = attempt <= 1 ? loadId.ToString(System.Globalization.CultureInfo.InvariantCulture) : $"{loadId}-{attempt}";
        return slash < 0 ? $"{folder}/{key}" : $"{key[..(slash + 1)]}{folder}/{key[(slash + 1)..]}";
    }
}
