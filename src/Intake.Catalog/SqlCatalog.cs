using System.Data;
using System.Data.Common;
using System.Globalization;
using System.Text.Json;
using Intake.Core.Errors;
using Intake.Core.Model;
using Intake.Core.Ports;
using Intake.Shared.Migrations;

namespace Intake.Catalog;

/// <summary>
/// The catalog logic both databases share. The SQL is written once, in the subset SQLite and PostgreSQL
/// both speak (named parameters, <c>ON CONFLICT</c>, <c>UPDATE … RETURNING</c>), so the two catalogs cannot
/// drift apart; <see cref="SqliteCatalog"/> and <see cref="PostgresCatalog"/> supply only what really differs
/// (connecting, how a timestamp is stored, the claim's row lock, the migration lock, which failures are
/// transient) and are meant to be read side by side.
/// </summary>
/// <remarks>
/// Every call runs on a connection of the pool (the driver's for PostgreSQL, the catalog's own for SQLite, which
/// keeps each connection's statements prepared) in autocommit mode: each state change is one statement, so it is
/// atomic without an explicit transaction. Timestamps come from the injected
/// <see cref="TimeProvider"/>, truncated to the millisecond so that both databases return exactly what
/// was written.
/// </remarks>
public abstract partial class SqlCatalog : ICatalog
{
    private const string LoadColumns =
        "id, pipeline, customer, source_key, fingerprint, source_size, status, held_reason, attempts, " +
        "lease_owner, lease_expires_at, error_kind, error_message, inbox_key, created_at, updated_at, error_code, table_name, source_modified";

    private const string StepColumns =
        "id, load_id, step, attempt, started_at, finished_at, outcome, error_kind, message, " +
        "rows_in, rows_out, bytes_in, bytes_out, outputs, worker, rows_rejected, error_code";

    private static readonly LoadStatus[] WorkingStatuses = Enum.GetValues<LoadStatus>().Where(LoadStateMachine.IsWorking).ToArray();

    private static readonly string WorkingWords = string.Join(", ", WorkingStatuses.Select(s => $"'{s.ToWord()}'"));

    /// <summary>
    /// One statement for the sweeper. Each working status goes back to its waiting status
    /// (<see cref="LoadStateMachine.WaitingStatusFor"/>), except an ingesting load that has used up its
    /// attempts, which fails as transient. SET expressions all read the row as it was before the update.
    /// </summary>
    private static readonly string SweepSql = BuildSweepSql();

    private readonly TimeProvider _time;
    private readonly IReadOnlyList<Migration> _migrations;

    private protected SqlCatalog(TimeProvider time, string dialect)
    {
        ArgumentNullException.ThrowIfNull(time);
        _time = time;
        _migrations = Migration.Embedded(dialect, "catalog");
    }

    // ---------------------------------------------------------------------------------------------
    // What differs between the databases.
    // ---------------------------------------------------------------------------------------------

    /// <summary>The database as named in messages, without secrets.</summary>
    public abstract string Description { get; }

    /// <summary>An open connection, configured (pragmas, timeouts), whose commits are durable: once one returns, it survives a power loss.</summary>
    private protected abstract Task<DbConnection> OpenConnectionAsync(CancellationToken cancellationToken);

    /// <summary>
    /// An open connection for the worker's hot path (claim, step records, heartbeats, the inbox key, transitions between
    /// working statuses), whose commits survive a crash or SIGKILL of this process but may be lost, the newest first, in
    /// a power loss or a crash of the database server. docs/performance.md says why that is safe: the records that
    /// must not go back (a load's registration, which fixes the load id the warehouse's ledger is keyed by, and its
    /// final status) use <see cref="OpenConnectionAsync"/>, and a load whose working records went back is re-run,
    /// each step idempotent. The same as <see cref="OpenConnectionAsync"/> unless a dialect can relax it.
    /// </summary>
    private protected virtual Task<DbConnection> OpenRelaxedConnectionAsync(CancellationToken cancellationToken) => OpenConnectionAsync(cancellationToken);

    /// <summary>The row lock appended to the claim's sub-select, so two claimers never pick the same load.</summary>
    private protected abstract string ClaimRowLock { get; }

    /// <summary><c>CREATE TABLE IF NOT EXISTS intake_schema_migrations …</c> in the dialect's types.</summary>
    private protected abstract string MigrationsTableSql { get; }

    /// <summary>A transaction that no other process can be migrating in at the same time.</summary>
    private protected abstract Task<DbTransaction> BeginMigrationAsync(DbConnection connection, CancellationToken cancellationToken);

    /// <summary>Binds a UTC timestamp (already truncated to the millisecond), or null.</summary>
    private protected abstract void SetTime(DbParameter parameter, DateTimeOffset? utc);

    private protected abstract DateTimeOffset GetTime(DbDataReader reader, int ordinal);

    /// <summary>
    /// The condition on <c>source_key</c> for a search (bound as <c>@source_key</c>) and the value to bind: the text itself
    /// for an exact key, a pattern with the text's own wildcard characters escaped otherwise.
    /// </summary>
    private protected abstract (string Clause, string Value) SourceKeySearch(SourceKeyMatch match, string text);

    /// <summary>The text as a LIKE pattern that matches it literally (escape character <c>\</c>).</summary>
    private protected static string EscapeLike(string text) =>
        text.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("%", "\\%", StringComparison.Ordinal).Replace("_", "\\_", StringComparison.Ordinal);

    /// <summary>The <see cref="IntakeException"/> for a connectivity or configuration failure; null for anything else.</summary>
    private protected abstract IntakeException? Translate(Exception exception);

    public abstract ValueTask DisposeAsync();

    // ---------------------------------------------------------------------------------------------
    // Migrations
    // ---------------------------------------------------------------------------------------------

    public Task MigrateAsync(CancellationToken cancellationToken) => MigrateAsync(_migrations, cancellationToken);

    /// <summary>The embedded migrations of this dialect, in version order.</summary>
    internal IReadOnlyList<Migration> Migrations => _migrations;

    /// <summary>Applies <paramref name="migrations"/> (in version order) that are not recorded yet, all in one transaction.</summary>
    internal Task MigrateAsync(IReadOnlyList<Migration> migrations, CancellationToken cancellationToken) => RunAsync(async connection =>
    {
        var target = new MigrationTarget(
            "catalog", Description, "intake_schema_migrations", MigrationsTableSql, (parameter, utc) => SetTime(parameter, utc), e => Translate(e) is not null);
        if (await MigrationRunner.IsCurrentAsync(connection, target, migrations, cancellationToken))
        {
            return true; // the schema is this build's: nothing to apply, no lock taken
        }

        // Concurrent starters queue here (SQLite: BEGIN IMMEDIATE; PostgreSQL: advisory lock); the
        // second one then finds every version recorded and applies nothing.
        await using var tx = await BeginMigrationAsync(connection, cancellationToken);
        await MigrationRunner.ApplyAsync(connection, tx, target, migrations, Now(), cancellationToken);
        await tx.CommitAsync(cancellationToken);
        return true;
    }, cancellationToken);

    // ---------------------------------------------------------------------------------------------
    // Loads
    // ---------------------------------------------------------------------------------------------

    public Task<RegisterResult> RegisterLoadAsync(NewLoad load, CancellationToken cancellationToken)
    {
        CheckNewLoad(load);
        return RunAsync(async connection =>
        {
            // Race-safe without a transaction: ON CONFLICT DO NOTHING does not fail when another process
            // registers the same identity at the same moment (PostgreSQL waits for that insert to commit),
            // and when it inserted nothing the row exists, so the UPDATE below finds it. A step done before
            // registration, or an inbox key to hold, needs one, so no worker sees the load without it.
            await using var transaction = load.DoneStep is null && load.ProposedInboxKey is null ? null : await connection.BeginTransactionAsync(cancellationToken);
            var result = (await RegisterManyAsync(connection, transaction, [load], cancellationToken))[0];
            if (transaction is not null)
            {
                await transaction.CommitAsync(cancellationToken);
            }

            return result;
        }, cancellationToken);
    }

    public Task<IReadOnlyList<RegisterResult>> RegisterLoadsAsync(IReadOnlyList<NewLoad> loads, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(loads);
        foreach (var load in loads)
        {
            CheckNewLoad(load);
        }

        if (loads.Count == 0)
        {
            return Task.FromResult<IReadOnlyList<RegisterResult>>([]);
        }

        return RunAsync(async connection =>
        {
            // One durable commit for the batch. Each registration is the single one's statements, so a file already
            // known, or twice in the batch, is counted as seen and never fails the others; in the listing's order, so
            // load ids (the claim's order) follow it as they did one by one.
            await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
            var results = await RegisterManyAsync(connection, transaction, loads, cancellationToken);
            await transaction.CommitAsync(cancellationToken);
            return results;
        }, cancellationToken);
    }

    /// <summary>
    /// The loads in one <c>INSERT</c> (for a batch, on PostgreSQL the load-count trigger then runs once, not once per
    /// file), ids in the given order, with the steps done before registration of those it inserted; each load it did not
    /// insert (known, or earlier in the batch) is counted as seen.
    /// </summary>
    private async Task<IReadOnlyList<RegisterResult>> RegisterManyAsync(DbConnection connection, DbTransaction? transaction, IReadOnlyList<NewLoad> loads, CancellationToken cancellationToken)
    {
        var rows = new string[loads.Count];
        var insert = Command(connection, "", transaction);
        for (var i = 0; i < loads.Count; i++)
        {
            var load = loads[i];
            rows[i] = $"(@pipeline{i}, @customer{i}, @source_key{i}, @fingerprint{i}, @source_size{i}, @table_name{i}, @source_modified{i}, @inbox_key{i}, @status, 0, 1, @now, @now)";
            Add(insert, $"@pipeline{i}", load.Pipeline, DbType.String);
            Add(insert, $"@customer{i}", load.Customer, DbType.String);
            Add(insert, $"@source_key{i}", load.SourceKey, DbType.String);
            Add(insert, $"@fingerprint{i}", load.Fingerprint, DbType.String);
            Add(insert, $"@source_size{i}", load.SourceSize, DbType.Int64);
            Add(insert, $"@table_name{i}", load.Table, DbType.String);
            AddTime(insert, $"@source_modified{i}", load.SourceModified);
            Add(insert, $"@inbox_key{i}", load.InboxKey ?? load.ProposedInboxKey, DbType.String);
        }

        insert.CommandText = $"""
            INSERT INTO intake_loads (pipeline, customer, source_key, fingerprint, source_size, table_name, source_modified, inbox_key, status, attempts, seen_count, created_at, updated_at)
            VALUES {string.Join(", ", rows)}
            ON CONFLICT (pipeline, source_key, fingerprint) DO NOTHING
            RETURNING {LoadColumns}
            """;
        Add(insert, "@status", LoadStatus.Ready.ToWord(), DbType.String);
        AddTime(insert, "@now", Now());
        var created = (await QueryListAsync(insert, ReadLoad, cancellationToken)).ToDictionary(l => (l.Pipeline, l.SourceKey, l.Fingerprint));

        var results = new List<RegisterResult>(loads.Count);
        var done = new List<(long LoadId, string? Worker, FinishedStep Step)>();
        var proposed = new List<Load>();
        foreach (var load in loads)
        {
            // The first of the batch with its identity is the one inserted; any other, or one known before, is seen.
            if (!created.Remove((load.Pipeline, load.SourceKey, load.Fingerprint), out var inserted))
            {
                results.Add(new RegisterResult(await SeenAsync(connection, transaction, load, cancellationToken), Created: false));
                continue;
            }

            if (load.ProposedInboxKey is not null)
            {
                proposed.Add(inserted);
            }

            results.Add(new RegisterResult(inserted, Created: true));
            if (load.DoneStep is { } step)
            {
                done.Add((inserted.Id, step.Worker, new FinishedStep(step.Step, 1, Now(), Now(), step.Result)));
            }
        }

        await InsertFinishedAsync(connection, transaction, done, cancellationToken);
        var moved = await HoldInboxKeysAsync(connection, transaction, proposed, cancellationToken);
        for (var i = 0; moved.Count > 0 && i < results.Count; i++)
        {
            if (results[i].Created && moved.TryGetValue(results[i].Load.Id, out var key))
            {
                results[i] = results[i] with { Load = results[i].Load with { InboxKey = key } };
            }
        }

        return results;
    }

    /// <summary>
    /// Holds each new load's proposed inbox key for it (<c>intake_inbox_keys</c>); a load whose key another load holds,
    /// or one earlier in the batch, gets <see cref="InboxKeys.WithLoadId"/> instead. Returns those changed keys by load id.
    /// </summary>
    private async Task<Dictionary<long, string>> HoldInboxKeysAsync(DbConnection connection, DbTransaction? transaction, List<Load> loads, CancellationToken cancellationToken)
    {
        var changed = new Dictionary<long, string>();
        if (loads.Count == 0)
        {
            return changed;
        }

        var hold = Command(connection, "", transaction);
        var rows = new string[loads.Count];
        for (var i = 0; i < loads.Count; i++)
        {
            rows[i] = $"(@key{i}, @id{i})";
            Add(hold, $"@key{i}", loads[i].InboxKey, DbType.String);
            Add(hold, $"@id{i}", loads[i].Id, DbType.Int64);
        }

        hold.CommandText = $"INSERT INTO intake_inbox_keys (inbox_key, load_id) VALUES {string.Join(", ", rows)} ON CONFLICT (inbox_key) DO NOTHING RETURNING load_id";
        var held = (await QueryListAsync(hold, r => r.GetInt64(0), cancellationToken)).ToHashSet();
        for (var i = 0; i < loads.Count; i++)
        {
            if (held.Contains(loads[i].Id))
            {
                continue;
            }

            // Rare (two files of one name in one second): one statement each until a key is free.
            for (var attempt = 1; ; attempt++)
            {
                var key = InboxKeys.WithLoadId(loads[i].InboxKey!, loads[i].Id, attempt);
                var again = Command(connection, "INSERT INTO intake_inbox_keys (inbox_key, load_id) VALUES (@key, @id) ON CONFLICT (inbox_key) DO NOTHING RETURNING load_id", transaction);
                Add(again, "@key", key, DbType.String);
                Add(again, "@id", loads[i].Id, DbType.Int64);
                if ((await QueryListAsync(again, r => r.GetInt64(0), cancellationToken)).Count == 0)
                {
                    continue;
                }

                var update = Command(connection, "UPDATE intake_loads SET inbox_key = @key WHERE id = @id", transaction);
                Add(update, "@key", key, DbType.String);
                Add(update, "@id", loads[i].Id, DbType.Int64);
                await update.ExecuteNonQueryAsync(cancellationToken);
                changed[loads[i].Id] = key;
                break;
            }
        }

        return changed;
    }

    private static void CheckNewLoad(NewLoad load)
    {
        ArgumentNullException.ThrowIfNull(load);
        ArgumentException.ThrowIfNullOrWhiteSpace(load.Pipeline);
        ArgumentNullException.ThrowIfNull(load.Customer);
        ArgumentException.ThrowIfNullOrWhiteSpace(load.SourceKey);
        ArgumentException.ThrowIfNullOrWhiteSpace(load.Fingerprint);

        if (load.InboxKey is not null && load.ProposedInboxKey is not null)
        {
            throw new ArgumentException("a load's original is either in the inbox already or to be fetched there, not both", nameof(load));
        }

        if (load.DoneStep is { } done && done.Result.Outcome == StepOutcome.Running)
        {
            throw new ArgumentException("a step done before registration cannot be running", nameof(load));
        }
    }

    /// <summary>A registration that found its load already there: counted as seen once more; the load as it is.</summary>
    private async Task<Load> SeenAsync(DbConnection connection, DbTransaction? transaction, NewLoad load, CancellationToken cancellationToken)
    {
        var seen = Command(connection, $"""
            UPDATE intake_loads SET seen_count = seen_count + 1
            WHERE pipeline = @pipeline AND source_key = @source_key AND fingerprint = @fingerprint
            RETURNING {LoadColumns}
            """, transaction);
        AddIdentity(seen, load);
        return await QuerySingleAsync(seen, ReadLoad, cancellationToken)
            ?? throw new InvalidOperationException($"load {load.Pipeline}/{load.SourceKey} conflicted on insert but does not exist");
    }

    private static void AddIdentity(DbCommand command, NewLoad load)
    {
        Add(command, "@pipeline", load.Pipeline, DbType.String);
        Add(command, "@source_key", load.SourceKey, DbType.String);
        Add(command, "@fingerprint", load.Fingerprint, DbType.String);
    }

    public Task<Load?> GetLoadAsync(long id, CancellationToken cancellationToken) => RunAsync(connection =>
    {
        var select = Command(connection, $"SELECT {LoadColumns} FROM intake_loads WHERE id = @id");
        Add(select, "@id", id, DbType.Int64);
        return QuerySingleAsync(select, ReadLoad, cancellationToken);
    }, cancellationToken);

    public Task<IReadOnlyList<Load>> ListLoadsAsync(LoadQuery query, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(query);
        ArgumentOutOfRangeException.ThrowIfLessThan(query.Limit, 1, nameof(query));

        return RunAsync(connection =>
        {
            var select = Command(connection, "");
            var where = LoadFilters(select, query.Status, query.Pipeline, query.Customer);
            if (query.Table is not null)
            {
                where.Add("table_name = @table_name");
                Add(select, "@table_name", query.Table, DbType.String);
            }

            if (query.ErrorKind is { } kind)
            {
                where.Add("error_kind = @error_kind");
                Add(select, "@error_kind", kind.ToWord(), DbType.String);
            }

            if (!string.IsNullOrEmpty(query.SourceKey))
            {
                var (clause, value) = SourceKeySearch(query.SourceKeyMatch, query.SourceKey);
                where.Add(clause);
                Add(select, "@source_key", value, DbType.String);
            }

            if (query.CreatedSince is { } since)
            {
                where.Add("created_at >= @created_since");
                AddTime(select, "@created_since", since);
            }

            if (query.CreatedUntil is { } until)
            {
                where.Add("created_at < @created_until");
                AddTime(select, "@created_until", until);
            }

            // Keyset paging: ids only grow, so "after (or below) the last id seen" never skips or repeats a load,
            // and each page is an index range scan however deep the client pages.
            if (query.AfterId is { } afterId)
            {
                where.Add("id > @after_id");
                Add(select, "@after_id", afterId, DbType.Int64);
            }

            if (query.BeforeId is { } before)
            {
                where.Add("id < @before_id");
                Add(select, "@before_id", before, DbType.Int64);
            }

            if ((query.Before is not null || query.After is not null) && !query.ByCreatedAt)
            {
                throw new ArgumentException("A (created_at, id) position pages only a list in that order (ByCreatedAt).", nameof(query));
            }

            // The same keyset on the pair: a row comparison, which both databases read as a range of the
            // (created_at, id) index (and of (customer, created_at, id) for a customer), stopping after the page.
            if (query.Before is { } below)
            {
                where.Add("(created_at, id) < (@before_created_at, @before_pos_id)");
                AddTime(select, "@before_created_at", below.CreatedAt);
                Add(select, "@before_pos_id", below.Id, DbType.Int64);
            }

            if (query.After is { } above)
            {
                where.Add("(created_at, id) > (@after_created_at, @after_pos_id)");
                AddTime(select, "@after_created_at", above.CreatedAt);
                Add(select, "@after_pos_id", above.Id, DbType.Int64);
            }

            var order = (query.ByCreatedAt, query.NewestFirst) switch
            {
                (true, true) => "created_at DESC, id DESC",
                (true, false) => "created_at, id",
                (false, true) => "id DESC",
                (false, false) => "id",
            };
            return SelectLoadsAsync(select, where, order, query.Limit, cancellationToken);
        }, cancellationToken);
    }

    /// <summary>The status, pipeline and customer filters; returns the WHERE clauses with their parameters added.</summary>
    private List<string> LoadFilters(DbCommand select, LoadStatus? status, string? pipeline, string? customer)
    {
        var where = new List<string>();
        if (status is { } s)
        {
            where.Add("status = @status");
            Add(select, "@status", s.ToWord(), DbType.String);
        }

        if (pipeline is not null)
        {
            where.Add("pipeline = @pipeline");
            Add(select, "@pipeline", pipeline, DbType.String);
        }

        if (customer is not null)
        {
            where.Add("customer = @customer");
            Add(select, "@customer", customer, DbType.String);
        }

        return where;
    }

    private Task<IReadOnlyList<Load>> SelectLoadsAsync(DbCommand select, List<string> where, string orderBy, int limit, CancellationToken cancellationToken)
    {
        Add(select, "@limit", limit, DbType.Int32);
        select.CommandText =
            $"SELECT {LoadColumns} FROM intake_loads" +
            (where.Count > 0 ? " WHERE " + string.Join(" AND ", where) : "") +
            $" ORDER BY {orderBy} LIMIT @limit";
        return QueryListAsync(select, ReadLoad, cancellationToken);
    }

    public Task<bool> TransitionAsync(long loadId, LoadStatus from, LoadStatus to, TransitionDetails? details, CancellationToken cancellationToken)
    {
        // A transition missing from the table is a bug in the caller, not a race: fail loudly before touching the database.
        LoadStateMachine.EnsureCanTransition(from, to);
        details ??= new TransitionDetails();

        return RunAsync(connection => UpdateStatusAsync(connection, null, loadId, from, to, details, cancellationToken), IsRelaxed(from, to), cancellationToken);
    }

    /// <summary>
    /// Between working statuses (a worker's own progress) a transition may be lost in a power loss: the load is then
    /// re-run from an earlier status, each step idempotent. Into or out of a final or waiting-for-a-person status it is
    /// durable: users act on those (docs/performance.md).
    /// </summary>
    private static bool IsRelaxed(LoadStatus from, LoadStatus to) =>
        !LoadStateMachine.IsFinal(from) && !LoadStateMachine.IsFinal(to) && to != LoadStatus.Held && from != LoadStatus.Held;

    /// <param name="carryOn">
    /// The worker that moves the load on into <paramref name="to"/>, a working status, under a fresh lease: the claim of
    /// a load that passes through the waiting status before it (<c>ready_for_archiving</c>) in the same statement.
    /// </param>
    private async Task<bool> UpdateStatusAsync(DbConnection connection, DbTransaction? transaction, long loadId, LoadStatus from, LoadStatus to, TransitionDetails details, CancellationToken cancellationToken, (string Worker, DateTimeOffset Expires, int AttemptIncrement)? carryOn = null)
    {
        // Compare-and-set: the row changes only while it is still in @from (and, when given, still
        // leased by @owner), so a worker that lost a race changes nothing and learns it from the count.
        var update = Command(connection, """
            UPDATE intake_loads SET
                status = @to,
                error_kind = CASE WHEN @error_kind IS NOT NULL THEN @error_kind WHEN @clear_error THEN NULL ELSE error_kind END,
                error_message = CASE WHEN @error_message IS NOT NULL THEN @error_message WHEN @clear_error THEN NULL ELSE error_message END,
                error_code = CASE WHEN @error_message IS NOT NULL THEN @error_code WHEN @clear_error THEN NULL ELSE error_code END,
                held_reason = @held_reason,
                inbox_key = COALESCE(@inbox_key, inbox_key),
                attempts = CASE WHEN @reset_attempts THEN 0 ELSE attempts + @attempt_increment END,
                lease_owner = CASE WHEN @release_lease THEN NULL ELSE COALESCE(@new_owner, lease_owner) END,
                lease_expires_at = CASE WHEN @release_lease THEN NULL ELSE COALESCE(@new_expires, lease_expires_at) END,
                updated_at = @now
            WHERE id = @id AND status = @from AND (@owner IS NULL OR lease_owner = @owner)
            """, transaction);
        Add(update, "@id", loadId, DbType.Int64);
        Add(update, "@from", from.ToWord(), DbType.String);
        Add(update, "@to", to.ToWord(), DbType.String);
        Add(update, "@owner", details.LeaseOwner, DbType.String);
        Add(update, "@error_kind", details.ErrorKind?.ToWord(), DbType.String);
        Add(update, "@error_message", details.ErrorMessage, DbType.String);
        Add(update, "@error_code", details.ErrorCode, DbType.String);
        Add(update, "@clear_error", details.ClearError, DbType.Boolean);
        // The reason only means something while the load is held; leaving held forgets it.
        Add(update, "@held_reason", to == LoadStatus.Held ? details.HeldReason : null, DbType.String);
        Add(update, "@inbox_key", details.InboxKey, DbType.String);
        Add(update, "@reset_attempts", details.ResetAttempts, DbType.Boolean);
        // Leaving a working status releases the lease, so the sweeper never touches the load again.
        // Entering one sets no lease: workers enter working statuses through ClaimAsync.
        Add(update, "@release_lease", !LoadStateMachine.IsWorking(to), DbType.Boolean);
        Add(update, "@new_owner", carryOn?.Worker, DbType.String);
        AddTime(update, "@new_expires", carryOn?.Expires);
        Add(update, "@attempt_increment", carryOn?.AttemptIncrement ?? 0, DbType.Int32);
        AddTime(update, "@now", Now());
        return await ExecuteAsync(update, cancellationToken) == 1;
    }

    public async Task<Load?> ClaimAsync(ClaimRequest request, CancellationToken cancellationToken) =>
        (await ClaimAsync(request, withHistory: false, cancellationToken))?.Load;

    /// <summary>
    /// The claim, and in the same statement whether any step was written for the load; only then a second statement
    /// reads its steps, on the same connection.
    /// </summary>
    public Task<ClaimedLoad?> ClaimWithHistoryAsync(ClaimRequest request, CancellationToken cancellationToken) =>
        ClaimAsync(request, withHistory: true, cancellationToken);

    private Task<ClaimedLoad?> ClaimAsync(ClaimRequest request, bool withHistory, CancellationToken cancellationToken)
    {
        var checkedClaim = Checked(request, withHistory);
        return checkedClaim.Pipelines is { Length: 0 }
            ? Task.FromResult<ClaimedLoad?>(null)
            : RunRelaxedAsync(connection => ClaimOneAsync(connection, checkedClaim, cancellationToken), cancellationToken);
    }

    /// <summary>The claim checked: a caller's mistake throws here.</summary>
    private static CheckedClaim Checked(ClaimRequest request, bool withHistory)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentException.ThrowIfNullOrWhiteSpace(request.Worker);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(request.Lease, TimeSpan.Zero, nameof(request));
        var order = new List<LoadStatus>();
        foreach (var then in (IEnumerable<LoadStatus>)[request.From, .. request.ThenFrom ?? []])
        {
            LoadStateMachine.EnsureCanTransition(then, LoadStateMachine.WorkingStatusFor(then));
            if (order.Contains(then))
            {
                throw new ArgumentException($"'{then.ToWord()}' is named twice in the claim's order", nameof(request));
            }

            order.Add(then);
        }

        return new CheckedClaim(request, order, request.Pipelines?.ToArray(), withHistory);
    }

    /// <summary>What a claim asks for, checked: its statuses in order of preference and its pipelines (null: all).</summary>
    private sealed record CheckedClaim(ClaimRequest Request, IReadOnlyList<LoadStatus> Order, string[]? Pipelines, bool WithHistory);

    /// <summary>One claim in one statement; the claimed load's steps read on the same connection when it has any.</summary>
    private async Task<ClaimedLoad?> ClaimOneAsync(DbConnection connection, CheckedClaim checkedClaim, CancellationToken cancellationToken)
    {
        var claim = Command(connection, "");
        var pipelineFilter = ClaimFilter(claim, checkedClaim.Pipelines, checkedClaim.Request.MaxSourceSize);

        // One statement, so picking the load and taking it cannot be split by another claimer:
        // PostgreSQL locks the picked row (FOR UPDATE SKIP LOCKED, so a second claimer takes the next
        // one instead of waiting); SQLite takes the database write lock before the statement reads,
        // so claimers in other processes run one after the other (they wait up to the busy timeout).
        // The outer status check is belt and braces for PostgreSQL's re-check of a row changed meanwhile.
        var claimed = await ClaimInOrderAsync(claim, checkedClaim.Order, pipelineFilter, checkedClaim.Request, checkedClaim.WithHistory, cancellationToken);
        return claimed is null ? null
            : new ClaimedLoad(claimed.Load, claimed.HasSteps ? await ReadStepsAsync(connection, claimed.Load.Id, cancellationToken) : []);
    }

    /// <summary>
    /// The oldest load of the first status in <paramref name="order"/> (<see cref="ClaimRequest.From"/>, then
    /// <see cref="ClaimRequest.ThenFrom"/>) that has one, in one statement instead of one per status (a worker looking
    /// for work asked each in turn, and paid a round trip, on PostgreSQL a transaction, for every empty one). Each
    /// status's candidate is the oldest in its own index range, PostgreSQL's row lock skipping rows other claimers hold;
    /// COALESCE evaluates the next status's pick only when the one before found nothing. Only an ingest claim is an
    /// attempt: archiving and erroring retries do not use up the load's attempts.
    /// </summary>
    private Task<ClaimRow?> ClaimInOrderAsync(DbCommand claim, IReadOnlyList<LoadStatus> order, string pipelineFilter, ClaimRequest request, bool withHistory, CancellationToken cancellationToken)
    {
        string Pick(string waiting) => $"(SELECT id FROM intake_loads WHERE status = {waiting}{pipelineFilter} ORDER BY id LIMIT 1 {ClaimRowLock})";
        claim.CommandText = ClaimUpdate(claim, order, request, withHistory, waiting =>
            ("", $"id = {(waiting.Count == 1 ? Pick(waiting[0]) : $"COALESCE({string.Join(", ", waiting.Select(Pick))})")}"));
        return QuerySingleAsync(claim, r => new ClaimRow(ReadLoad(r), withHistory && r.GetBoolean(r.FieldCount - 1)), cancellationToken);
    }

    /// <summary>
    /// The statement of a claim, its parameters added to <paramref name="claim"/>: the loads that <paramref name="pick"/>
    /// selects (given the parameter of each waiting status, in the claim's order: a <c>WITH</c> part and the condition on
    /// <c>id</c>) move from their waiting status to its working status under the worker's lease, and only a claim from
    /// <c>ready</c> counts an attempt. It returns each load and, <paramref name="withHistory"/>, whether it has steps.
    /// </summary>
    private string ClaimUpdate(
        DbCommand claim, IReadOnlyList<LoadStatus> order, ClaimRequest request, bool withHistory, Func<IReadOnlyList<string>, (string With, string Where)> pick)
    {
        var waiting = new List<string>();
        var moves = new List<string>();
        for (var i = 0; i < order.Count; i++)
        {
            Add(claim, $"@waiting{i}", order[i].ToWord(), DbType.String);
            Add(claim, $"@working{i}", LoadStateMachine.WorkingStatusFor(order[i]).ToWord(), DbType.String);
            waiting.Add($"@waiting{i}");
            moves.Add($"WHEN @waiting{i} THEN @working{i}");
        }

        var now = Now();
        Add(claim, "@worker", request.Worker, DbType.String);
        Add(claim, "@ready", LoadStatus.Ready.ToWord(), DbType.String);
        AddTime(claim, "@expires", now + request.Lease);
        AddTime(claim, "@now", now);
        var (with, where) = pick(waiting);
        return $"""
            {with}UPDATE intake_loads SET
                status = CASE status {string.Join(" ", moves)} END,
                lease_owner = @worker,
                lease_expires_at = @expires,
                attempts = attempts + CASE WHEN status = @ready THEN 1 ELSE 0 END,
                updated_at = @now
            WHERE {where}
              AND status IN ({string.Join(", ", waiting)})
            RETURNING {LoadColumns}{(withHistory ? ", EXISTS (SELECT 1 FROM intake_steps s WHERE s.load_id = intake_loads.id)" : "")}
            """;
    }

    /// <summary>The claim's conditions besides the status: its pipelines and its largest original, with their parameters added to <paramref name="claim"/>.</summary>
    private static string ClaimFilter(DbCommand claim, string[]? pipelines, long? maxSourceSize)
    {
        var filter = pipelines is null ? "" : $" AND pipeline IN ({InList(claim, "@pipeline", pipelines)})";

        if (maxSourceSize is { } maxSize)
        {
            Add(claim, "@max_size", maxSize, DbType.Int64);
            filter += " AND source_size <= @max_size";
        }

        return filter;
    }

    /// <summary>A claimed load, and whether any step was written for it when it was claimed.</summary>
    private sealed record ClaimRow(Load Load, bool HasSteps);

    public Task<bool> RecordInboxKeyAsync(long loadId, string worker, string inboxKey, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(worker);
        ArgumentException.ThrowIfNullOrWhiteSpace(inboxKey);

        return RunRelaxedAsync(connection => UpdateInboxKeyAsync(connection, null, loadId, worker, inboxKey, cancellationToken), cancellationToken);
    }

    /// <summary>Records the inbox key (null: leaves it) while the worker holds the load; false, and nothing changed, when it does not.</summary>
    private async Task<bool> UpdateInboxKeyAsync(DbConnection connection, DbTransaction? transaction, long loadId, string worker, string? inboxKey, CancellationToken cancellationToken)
    {
        // updated_at is left alone: the job timeout measures the time in the working status from it.
        var update = Command(connection, $"UPDATE intake_loads SET inbox_key = COALESCE(@inbox_key, inbox_key) WHERE id = @id AND lease_owner = @owner AND status IN ({WorkingWords})", transaction);
        Add(update, "@id", loadId, DbType.Int64);
        Add(update, "@owner", worker, DbType.String);
        Add(update, "@inbox_key", inboxKey, DbType.String);
        return await ExecuteAsync(update, cancellationToken) == 1;
    }

    public Task<bool> RecordStepsAsync(long loadId, string worker, IReadOnlyList<FinishedStep> done, string? inboxKey, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(worker);
        CheckFinished(done);
        return RunRelaxedAsync(async connection =>
        {
            await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
            if (!await UpdateInboxKeyAsync(connection, transaction, loadId, worker, inboxKey, cancellationToken))
            {
                await transaction.RollbackAsync(cancellationToken);
                return false;
            }

            await InsertFinishedAsync(connection, transaction, loadId, worker, done, cancellationToken);
            await transaction.CommitAsync(cancellationToken);
            return true;
        }, cancellationToken);
    }

    private static DateTimeOffset Min(DateTimeOffset a, DateTimeOffset b) => a < b ? a : b;

    private static void CheckFinished(IReadOnlyList<FinishedStep> done)
    {
        ArgumentNullException.ThrowIfNull(done);
        if (done.Any(d => d.Result.Outcome == StepOutcome.Running || string.IsNullOrWhiteSpace(d.Step)))
        {
            throw new ArgumentException("a step attempt written finished needs its name and cannot be running", nameof(done));
        }
    }

    /// <summary>Step attempts that finished before any record of them was written, each one row written whole.</summary>
    private Task InsertFinishedAsync(DbConnection connection, DbTransaction? transaction, long loadId, string? worker, IReadOnlyList<FinishedStep> done, CancellationToken cancellationToken) =>
        InsertFinishedAsync(connection, transaction, done.Select(d => (loadId, worker, d)).ToList(), cancellationToken);

    /// <summary>Finished step attempts, of one load or several (a group of stage ends), in one statement.</summary>
    private async Task InsertFinishedAsync(DbConnection connection, DbTransaction? transaction, IReadOnlyList<(long LoadId, string? Worker, FinishedStep Step)> done, CancellationToken cancellationToken)
    {
        if (done.Count == 0)
        {
            return;
        }

        var record = Command(connection, "", transaction);
        record.CommandText = $"INSERT INTO intake_steps ({FinishedColumns}) VALUES {AddFinished(record, done)}";
        await ExecuteAsync(record, cancellationToken);
    }

    private const string FinishedColumns =
        "load_id, step, attempt, started_at, finished_at, worker, outcome, error_kind, message, error_code, rows_in, rows_out, rows_rejected, bytes_in, bytes_out, outputs";

    /// <summary>The finished attempts as the parameters of <paramref name="record"/>; returns their rows for a VALUES list, in <see cref="FinishedColumns"/>' order.</summary>
    private string AddFinished(DbCommand record, IReadOnlyList<(long LoadId, string? Worker, FinishedStep Step)> done)
    {
        var now = Now();
        var rows = new string[done.Count];
        for (var i = 0; i < done.Count; i++)
        {
            var (loadId, worker, step) = done[i];
            rows[i] = $"(@load_id{i}, @step{i}, @attempt{i}, @started{i}, @now{i}, @worker{i}, @outcome{i}, @error_kind{i}, @message{i}, @error_code{i}, " +
                      $"@rows_in{i}, @rows_out{i}, @rows_rejected{i}, @bytes_in{i}, @bytes_out{i}, @outputs{i})";
            Add(record, $"@load_id{i}", loadId, DbType.Int64);
            Add(record, $"@worker{i}", worker, DbType.String);
            Add(record, $"@step{i}", step.Step, DbType.String);
            Add(record, $"@attempt{i}", step.Attempt, DbType.Int32);
            AddResult(record, step.Result, i.ToString(CultureInfo.InvariantCulture));
            // The worker's clock, never later than the catalog's: each attempt as long as it really took, in its order.
            AddTime(record, $"@started{i}", Min(Truncate(step.StartedAt), now));
            AddTime(record, $"@now{i}", Min(Truncate(step.FinishedAt), now));
        }

        return string.Join(", ", rows);
    }

    public Task<bool> HeartbeatAsync(long loadId, string worker, TimeSpan lease, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(worker);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(lease, TimeSpan.Zero);

        return RunRelaxedAsync(async connection =>
        {
            // A lease that expired but was not swept yet can still be renewed: the worker is alive and no
            // one else holds the load. Once swept, lease_owner is cleared and this returns false.
            var update = Command(connection, $"""
                UPDATE intake_loads SET lease_expires_at = @expires
                WHERE id = @id AND lease_owner = @worker AND status IN ({WorkingWords})
                """);
            Add(update, "@id", loadId, DbType.Int64);
            Add(update, "@worker", worker, DbType.String);
            AddTime(update, "@expires", Now() + lease);
            return await ExecuteAsync(update, cancellationToken) == 1;
        }, cancellationToken);
    }

    public Task<int> SweepExpiredLeasesAsync(int maxAttempts, CancellationToken cancellationToken) =>
        SweepExpiredLeasesAsync(maxAttempts, null, cancellationToken);

    public Task<int> SweepExpiredLeasesAsync(int maxAttempts, IReadOnlyDictionary<string, int>? maxAttemptsByPipeline, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxAttempts, 1);
        var own = (maxAttemptsByPipeline ?? new Dictionary<string, int>()).Where(kv => kv.Value != maxAttempts).OrderBy(kv => kv.Key, StringComparer.Ordinal).ToList();
        if (own.Any(kv => kv.Value < 1))
        {
            throw new ArgumentOutOfRangeException(nameof(maxAttemptsByPipeline), "every pipeline's limit must be at least 1");
        }

        return RunAsync(connection =>
        {
            var update = Command(connection, own.Count == 0 ? SweepSql : BuildSweepSql(own.Count));
            Add(update, "@max_attempts", maxAttempts, DbType.Int32);
            for (var i = 0; i < own.Count; i++)
            {
                Add(update, $"@limit_pipeline_{i}", own[i].Key, DbType.String);
                Add(update, $"@limit_{i}", own[i].Value, DbType.Int32);
            }

            AddTime(update, "@now", Now());
            return ExecuteAsync(update, cancellationToken);
        }, cancellationToken);
    }

    /// <param name="ownLimits">How many pipelines have a limit of their own (bound as @limit_pipeline_i and @limit_i).</param>
    private static string BuildSweepSql(int ownLimits = 0)
    {
        var ingesting = LoadStatus.Ingesting.ToWord();
        var limit = ownLimits == 0
            ? "@max_attempts"
            : "CASE pipeline " + string.Concat(Enumerable.Range(0, ownLimits).Select(i => $"WHEN @limit_pipeline_{i} THEN @limit_{i} ")) + "ELSE @max_attempts END";
        var exhausted = $"status = '{ingesting}' AND attempts >= {limit}";
        LoadStateMachine.EnsureCanTransition(LoadStatus.Ingesting, LoadStatus.ReadyForErroring);
        var back = string.Join(Environment.NewLine, WorkingStatuses.Select(s =>
        {
            var waiting = LoadStateMachine.WaitingStatusFor(s);
            LoadStateMachine.EnsureCanTransition(s, waiting);
            return $"        WHEN status = '{s.ToWord()}' THEN '{waiting.ToWord()}'";
        }));
        return $"""
            UPDATE intake_loads SET
                status = CASE
                    WHEN {exhausted} THEN '{LoadStatus.ReadyForErroring.ToWord()}'
            {back}
                END,
                error_kind = CASE WHEN {exhausted} THEN '{ErrorKind.Transient.ToWord()}' ELSE error_kind END,
                error_message = CASE WHEN {exhausted} THEN 'lease expired after ' || attempts || ' attempts' ELSE error_message END,
                lease_owner = NULL,
                lease_expires_at = NULL,
                updated_at = @now
            WHERE status IN ({WorkingWords}) AND lease_expires_at < @now
            """;
    }

    public Task<IReadOnlyDictionary<LoadStatus, long>> CountByStatusAsync(string? pipeline, CancellationToken cancellationToken) => RunAsync(async connection =>
    {
        var select = Command(connection,
            "SELECT status, COUNT(*) FROM intake_loads" + (pipeline is null ? "" : " WHERE pipeline = @pipeline") + " GROUP BY status");
        if (pipeline is not null)
        {
            Add(select, "@pipeline", pipeline, DbType.String);
        }

        // Every status is present, zero when no load is in it, so callers can print a stable table.
        var counts = Enum.GetValues<LoadStatus>().ToDictionary(s => s, _ => 0L);
        foreach (var (status, count) in await QueryListAsync(select, r => (LoadStatusNames.Parse(r.GetString(0)), r.GetInt64(1)), cancellationToken))
        {
            counts[status] = count;
        }

        return (IReadOnlyDictionary<LoadStatus, long>)counts;
    }, cancellationToken);

    // ---------------------------------------------------------------------------------------------
    // Steps
    // ---------------------------------------------------------------------------------------------

    public Task<long> StartStepAsync(long loadId, string step, int attempt, string? worker, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(step);

        return RunRelaxedAsync(async connection =>
        {
            return await InsertStepAsync(connection, null, loadId, step, attempt, worker, cancellationToken);
        }, cancellationToken);
    }

    private async Task<long> InsertStepAsync(DbConnection connection, DbTransaction? transaction, long loadId, string step, int attempt, string? worker, CancellationToken cancellationToken)
    {
        var insert = Command(connection, """
            INSERT INTO intake_steps (load_id, step, attempt, started_at, outcome, worker)
            VALUES (@load_id, @step, @attempt, @now, @outcome, @worker)
            RETURNING id
            """, transaction);
        Add(insert, "@load_id", loadId, DbType.Int64);
        Add(insert, "@step", step, DbType.String);
        Add(insert, "@attempt", attempt, DbType.Int32);
        Add(insert, "@outcome", StepOutcome.Running.ToWord(), DbType.String);
        Add(insert, "@worker", worker, DbType.String);
        AddTime(insert, "@now", Now());
        return Convert.ToInt64(await ScalarAsync(insert, cancellationToken), CultureInfo.InvariantCulture);
    }

    public Task FinishStepAsync(long stepId, StepResult result, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(result);
        if (result.Outcome == StepOutcome.Running)
        {
            throw new ArgumentException("a finished step cannot be running", nameof(result));
        }

        return RunRelaxedAsync(async connection =>
        {
            await UpdateFinishedStepAsync(connection, null, stepId, result, cancellationToken);
            return true;
        }, cancellationToken);
    }

    public Task<long?> FinishAndStartStepAsync(long stepId, StepResult result, NextStep next, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(result);
        ArgumentNullException.ThrowIfNull(next);
        ArgumentException.ThrowIfNullOrWhiteSpace(next.Step);
        if (result.Outcome == StepOutcome.Running)
        {
            throw new ArgumentException("a finished step cannot be running", nameof(result));
        }

        if (next.InboxKey is not null)
        {
            ArgumentException.ThrowIfNullOrWhiteSpace(next.InboxKey, nameof(next));
            ArgumentException.ThrowIfNullOrWhiteSpace(next.Worker, nameof(next));
        }

        // Relaxed like the two calls it replaces (a power loss may take it back; the load is then re-run from the step
        // before, each step idempotent), but one commit: the hand-over is all or nothing.
        return RunRelaxedAsync(async connection =>
        {
            await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
            await UpdateFinishedStepAsync(connection, transaction, stepId, result, cancellationToken);
            if (next.InboxKey is { } inboxKey && !await UpdateInboxKeyAsync(connection, transaction, next.LoadId, next.Worker!, inboxKey, cancellationToken))
            {
                await transaction.RollbackAsync(cancellationToken);
                return (long?)null;
            }

            var id = await InsertStepAsync(connection, transaction, next.LoadId, next.Step, next.Attempt, next.Worker, cancellationToken);
            await transaction.CommitAsync(cancellationToken);
            return id;
        }, cancellationToken);
    }

    private async Task UpdateFinishedStepAsync(DbConnection connection, DbTransaction? transaction, long stepId, StepResult result, CancellationToken cancellationToken)
    {
        // Only a running record is completed, and only once: history is never rewritten.
        var update = Command(connection, """
            UPDATE intake_steps SET
                outcome = @outcome, finished_at = @now, error_kind = @error_kind, message = @message, error_code = @error_code,
                rows_in = @rows_in, rows_out = @rows_out, bytes_in = @bytes_in, bytes_out = @bytes_out, outputs = @outputs, rows_rejected = @rows_rejected
            WHERE id = @id AND outcome = @running
            """, transaction);
        Add(update, "@id", stepId, DbType.Int64);
        Add(update, "@running", StepOutcome.Running.ToWord(), DbType.String);
        AddResult(update, result);
        AddTime(update, "@now", Now());
        if (await ExecuteAsync(update, cancellationToken) != 1)
        {
            throw new InvalidOperationException($"step record {stepId} does not exist or is already finished");
        }
    }

    public Task<IReadOnlyList<StepRecord>> GetStepsAsync(long loadId, CancellationToken cancellationToken) =>
        RunAsync(connection => ReadStepsAsync(connection, loadId, cancellationToken), cancellationToken);

    private Task<IReadOnlyList<StepRecord>> ReadStepsAsync(DbConnection connection, long loadId, CancellationToken cancellationToken)
    {
        var select = Command(connection, $"SELECT {StepColumns} FROM intake_steps WHERE load_id = @load_id ORDER BY id");
        Add(select, "@load_id", loadId, DbType.Int64);
        return QueryListAsync(select, ReadStep, cancellationToken);
    }

    public Task<IReadOnlyList<StepRecord>> GetAllStepsAsync(long? afterLoadId, int limit, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1);

        return RunAsync(connection =>
        {
            // The limit picks loads (through the (load_id, id) index), then all their records come along,
            // so a page never ends in the middle of a load's history.
            var select = Command(connection, $"""
                SELECT {StepColumns} FROM intake_steps
                WHERE load_id IN (SELECT DISTINCT load_id FROM intake_steps WHERE load_id > @after ORDER BY load_id LIMIT @limit)
                ORDER BY load_id, id
                """);
            Add(select, "@after", afterLoadId ?? 0, DbType.Int64);
            Add(select, "@limit", limit, DbType.Int32);
            return QueryListAsync(select, ReadStep, cancellationToken);
        }, cancellationToken);
    }

    // ---------------------------------------------------------------------------------------------
    // Plumbing
    // ---------------------------------------------------------------------------------------------

    /// <summary>
    /// Told after each call the database answered: the process's outage backoff ends a catalog outage there, and only
    /// there (a loop whose turn did not need the catalog says nothing about it).
    /// </summary>
    public Action? Answered { get; set; }

    /// <summary>Now, truncated to the millisecond: the precision both databases keep.</summary>
    private DateTimeOffset Now() => Truncate(_time.GetUtcNow());

    private static DateTimeOffset Truncate(DateTimeOffset t) => new(t.UtcTicks - (t.UtcTicks % TimeSpan.TicksPerMillisecond), TimeSpan.Zero);

    /// <summary>Runs <paramref name="work"/> on a connection of the pool; connectivity failures leave as <see cref="IntakeException"/>.</summary>
    private Task<T> RunAsync<T>(Func<DbConnection, Task<T>> work, CancellationToken cancellationToken) => RunAsync(work, relaxed: false, cancellationToken);

    /// <summary>As <see cref="RunAsync{T}(Func{DbConnection, Task{T}}, CancellationToken)"/>, on a connection of <see cref="OpenRelaxedConnectionAsync"/>.</summary>
    private Task<T> RunRelaxedAsync<T>(Func<DbConnection, Task<T>> work, CancellationToken cancellationToken) => RunAsync(work, relaxed: true, cancellationToken);

    private protected async Task<T> RunAsync<T>(Func<DbConnection, Task<T>> work, bool relaxed, CancellationToken cancellationToken)
    {
        try
        {
            var connection = relaxed ? await OpenRelaxedConnectionAsync(cancellationToken) : await OpenConnectionAsync(cancellationToken);
            var completed = false;
            try
            {
                var result = await work(connection);
                completed = true;
                Answered?.Invoke();
                return result;
            }
            finally
            {
                await ReleaseConnectionAsync(connection, completed);
            }
        }
        catch (Exception e) when (e is not IntakeException && Translate(e) is { } translated)
        {
            throw translated;
        }
    }

    /// <summary>
    /// Hands back a connection of <see cref="OpenConnectionAsync"/> or <see cref="OpenRelaxedConnectionAsync"/> after one
    /// catalog call; <paramref name="completed"/> is false when the call failed. Disposes it (back to the driver's pool)
    /// unless a dialect keeps its own connections.
    /// </summary>
    private protected virtual ValueTask ReleaseConnectionAsync(DbConnection connection, bool completed) => connection.DisposeAsync();

    /// <summary>
    /// The command that really runs <paramref name="command"/> (its text, parameters and transaction): the command itself,
    /// unless a dialect keeps its connections' prepared statements, in which case it is that connection's command for the
    /// same text, with <paramref name="command"/>'s parameters moved over. Handed back with <see cref="ReturnCommandAsync"/>.
    /// </summary>
    private protected virtual ValueTask<DbCommand> RentCommandAsync(DbCommand command, CancellationToken cancellationToken) => ValueTask.FromResult(command);

    /// <summary>Ends the use of a command of <see cref="RentCommandAsync"/>: by default disposes it.</summary>
    private protected virtual ValueTask ReturnCommandAsync(DbCommand command, DbCommand rented) => command.DisposeAsync();

    // Every SQL text is built from constants in this assembly and the dialect classes; values always go through parameters.
#pragma warning disable CA2100
    private static DbCommand Command(DbConnection connection, string sql, DbTransaction? transaction = null)
    {
        var command = connection.CreateCommand();
        command.CommandText = sql;
        command.Transaction = transaction;
        return command;
    }
#pragma warning restore CA2100

    /// <summary>A parameter for each of <paramref name="values"/> (<c>@prefix0</c>, <c>@prefix1</c>, …), added to the command; their names for an <c>IN (…)</c>.</summary>
    private static string InList(DbCommand command, string prefix, IReadOnlyList<string> values)
    {
        var names = new string[values.Count];
        for (var i = 0; i < values.Count; i++)
        {
            names[i] = $"{prefix}{i}";
            Add(command, names[i], values[i], DbType.String);
        }

        return string.Join(", ", names);
    }

    private static void Add(DbCommand command, string name, object? value, DbType type)
    {
        // The type is always given: PostgreSQL cannot infer one for a null in "@x IS NULL".
        var parameter = command.CreateParameter();
        parameter.ParameterName = name;
        parameter.DbType = type;
        parameter.Value = value ?? DBNull.Value;
        command.Parameters.Add(parameter);
    }

    /// <summary>The parameters of a finished step's result: @outcome, @error_kind, @message, @error_code, @rows_*, @bytes_*, @outputs.</summary>
    private static void AddResult(DbCommand command, StepResult result, string suffix = "")
    {
        Add(command, "@outcome" + suffix, result.Outcome.ToWord(), DbType.String);
        Add(command, "@error_kind" + suffix, result.ErrorKind?.ToWord(), DbType.String);
        Add(command, "@message" + suffix, result.Message, DbType.String);
        Add(command, "@error_code" + suffix, result.ErrorCode, DbType.String);
        Add(command, "@rows_in" + suffix, result.RowsIn, DbType.Int64);
        Add(command, "@rows_out" + suffix, result.RowsOut, DbType.Int64);
        Add(command, "@rows_rejected" + suffix, result.RowsRejected, DbType.Int64);
        Add(command, "@bytes_in" + suffix, result.BytesIn, DbType.Int64);
        Add(command, "@bytes_out" + suffix, result.BytesOut, DbType.Int64);
        Add(command, "@outputs" + suffix, result.Outputs is { Count: > 0 } outputs ? JsonSerializer.Serialize(outputs, CatalogJson.Default.IReadOnlyListString) : null, DbType.String);
    }

    private void AddTime(DbCommand command, string name, DateTimeOffset? value)
    {
        var parameter = command.CreateParameter();
        parameter.ParameterName = name;
        SetTime(parameter, value is { } v ? Truncate(v) : null);
        command.Parameters.Add(parameter);
    }

    // Each runs the command once and ends it (the command of Command() is meant for one execution): a dialect that keeps
    // prepared statements runs its own command for the same text instead (RentCommandAsync).
    private async Task<int> ExecuteAsync(DbCommand command, CancellationToken cancellationToken)
    {
        var rented = await RentCommandAsync(command, cancellationToken);
        try
        {
            return await rented.ExecuteNonQueryAsync(cancellationToken);
        }
        finally
        {
            await ReturnCommandAsync(command, rented);
        }
    }

    private async Task<object?> ScalarAsync(DbCommand command, CancellationToken cancellationToken)
    {
        var rented = await RentCommandAsync(command, cancellationToken);
        try
        {
            return await rented.ExecuteScalarAsync(cancellationToken);
        }
        finally
        {
            await ReturnCommandAsync(command, rented);
        }
    }

    private async Task<T?> QuerySingleAsync<T>(DbCommand command, Func<DbDataReader, T> read, CancellationToken cancellationToken)
        where T : class
    {
        var rented = await RentCommandAsync(command, cancellationToken);
        try
        {
            await using var reader = await rented.ExecuteReaderAsync(cancellationToken);
            return await reader.ReadAsync(cancellationToken) ? read(reader) : null;
        }
        finally
        {
            await ReturnCommandAsync(command, rented);
        }
    }

    private async Task<IReadOnlyList<T>> QueryListAsync<T>(DbCommand command, Func<DbDataReader, T> read, CancellationToken cancellationToken)
    {
        var rented = await RentCommandAsync(command, cancellationToken);
        try
        {
            var list = new List<T>();
            await using var reader = await rented.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                list.Add(read(reader));
            }

            return list;
        }
        finally
        {
            await ReturnCommandAsync(command, rented);
        }
    }

    private Load ReadLoad(DbDataReader r) => new()
    {
        Id = r.GetInt64(0),
        Pipeline = r.GetString(1),
        Customer = r.GetString(2),
        SourceKey = r.GetString(3),
        Fingerprint = r.GetString(4),
        SourceSize = r.IsDBNull(5) ? null : r.GetInt64(5),
        Status = LoadStatusNames.Parse(r.GetString(6)),
        HeldReason = StringOrNull(r, 7),
        Attempts = r.GetInt32(8),
        LeaseOwner = StringOrNull(r, 9),
        LeaseExpiresAt = r.IsDBNull(10) ? null : GetTime(r, 10),
        ErrorKind = KindOrNull(r, 11),
        ErrorMessage = StringOrNull(r, 12),
        InboxKey = StringOrNull(r, 13),
        CreatedAt = GetTime(r, 14),
        UpdatedAt = GetTime(r, 15),
        ErrorCode = StringOrNull(r, 16),
        Table = StringOrNull(r, 17),
        SourceModified = r.IsDBNull(18) ? null : GetTime(r, 18),
    };

    private StepRecord ReadStep(DbDataReader r) => new()
    {
        Id = r.GetInt64(0),
        LoadId = r.GetInt64(1),
        Step = r.GetString(2),
        Attempt = r.GetInt32(3),
        StartedAt = GetTime(r, 4),
        FinishedAt = r.IsDBNull(5) ? null : GetTime(r, 5),
        Outcome = StepOutcomeNames.Parse(r.GetString(6)),
        ErrorKind = KindOrNull(r, 7),
        Message = StringOrNull(r, 8),
        RowsIn = LongOrNull(r, 9),
        RowsOut = LongOrNull(r, 10),
        BytesIn = LongOrNull(r, 11),
        BytesOut = LongOrNull(r, 12),
        Outputs = r.IsDBNull(13) ? [] : JsonSerializer.Deserialize(r.GetString(13), CatalogJson.Default.StringArray) ?? [],
        Worker = StringOrNull(r, 14),
        RowsRejected = LongOrNull(r, 15),
        ErrorCode = StringOrNull(r, 16),
    };

    private static string? StringOrNull(DbDataReader r, int i) => r.IsDBNull(i) ? null : r.GetString(i);

    private static long? LongOrNull(DbDataReader r, int i) => r.IsDBNull(i) ? null : r.GetInt64(i);

    private static ErrorKind? KindOrNull(DbDataReader r, int i)
    {
        if (r.IsDBNull(i))
        {
            return null;
        }

        var word = r.GetString(i);
        // Never drop an unknown kind silently: it means a newer Intake wrote this row.
        return ErrorKindNames.TryParse(word, out var kind) ? kind : throw new InvalidDataException($"unknown error kind '{word}' in the catalog");
    }
}
