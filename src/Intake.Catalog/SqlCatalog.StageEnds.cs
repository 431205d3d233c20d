using System.Data;
using System.Data.Common;
using Intake.Core.Model;
using Intake.Core.Ports;
using Intake.Shared.Batching;

namespace Intake.Catalog;

/// <summary>
/// The end of a stage (<see cref="ICatalog.EndStageAsync"/>), committed in groups: the ends that workers of this process
/// ask for while one commit is under way wait for it, then go together in the next transaction, each still its own
/// compare-and-set on its load. With many small loads in flight that is one commit (on SQLite one fsync of a durable
/// move, one pass through the writer gate; on PostgreSQL one transaction) for several loads instead of one each. A
/// single end goes at once, alone: nobody waits for a group to fill.
/// </summary>
/// <remarks>
/// A group is all or nothing as a transaction; so it holds only ends that cannot fail on their own. When one does (its
/// step record already closed, a compare-and-set lost after a record was closed, or any error at all), the group is
/// rolled back and each of its ends runs again alone, in its own transaction, and its caller gets its own answer, as if
/// there had been no group. The connection's durability is the strictest of the group's (durable if any move is).
/// </remarks>
public abstract partial class SqlCatalog
{
    /// <summary>The most ends one commit takes: its statements' parameters stay well within either database's limit.</summary>
    private const int MaxGroup = 32;

    private GroupQueue<QueuedEnd>? _ends;

    public Task<LoadStatus?> EndStageAsync(StageEnd end, CancellationToken cancellationToken)
    {
        var queued = Queued(end);
        LazyInitializer.EnsureInitialized(ref _ends, () => new GroupQueue<QueuedEnd>(CommitAsync, MaxGroup)).Add(queued);
        return queued.Answer.Task.WaitAsync(cancellationToken);
    }

    /// <summary>The end checked (a caller's mistake throws here, before anything is queued), ready to queue.</summary>
    private static QueuedEnd Queued(StageEnd end)
    {
        ArgumentNullException.ThrowIfNull(end);
        ArgumentException.ThrowIfNullOrWhiteSpace(end.Worker, nameof(end));
        LoadStateMachine.EnsureCanTransition(end.From, end.To);
        if (end.StepId is not null && (end.Result is null || end.Result.Outcome == StepOutcome.Running))
        {
            throw new ArgumentException("the step record to close needs its result, which cannot be running", nameof(end));
        }

        CheckFinished(end.Done);

        LoadStatus? carryOn = null;
        if (end.CarryOnLease is { } lease)
        {
            ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(lease, TimeSpan.Zero, nameof(end));
            carryOn = LoadStateMachine.WorkingStatusFor(end.To); // throws unless To is a status workers claim from
            LoadStateMachine.EnsureCanTransition(end.To, carryOn.Value);
        }

        return new QueuedEnd(end, carryOn);
    }

    /// <summary>
    /// These ends committed as one group, as the committer commits what workers queued meanwhile: for tests, which cannot
    /// time workers to meet in a group. Each task is that end's own answer; Together says whether they went in one
    /// transaction (else each went alone).
    /// </summary>
    internal async Task<(bool Together, IReadOnlyList<Task<LoadStatus?>> Answers)> EndStagesTogetherAsync(IReadOnlyList<StageEnd> ends)
    {
        var group = ends.Select(Queued).ToList();
        var together = await CommitAsync(group);
        return (together, [.. group.Select(q => q.Answer.Task)]);
    }

    /// <summary>Commits the group in one transaction (true), or else each of its ends alone; answers each end's caller.</summary>
    private async Task<bool> CommitAsync(IReadOnlyList<QueuedEnd> group)
    {
        // Not cancelled by any one caller: the others' ends are in the same commit.
        if (EndsPlainInOneStatement && group.All(q => IsPlain(q.End)) && await TryCommitPlainAsync(group))
        {
            return true;
        }

        if (group.Count > 1 && await TryCommitGroupAsync(group))
        {
            return true;
        }

        foreach (var one in group)
        {
            try
            {
                one.Answer.TrySetResult(await CommitEndAsync(one, CancellationToken.None));
            }
            catch (Exception e)
            {
                one.Answer.TrySetException(e);
            }
        }

        return false;
    }

    /// <summary>
    /// The group in one transaction; false (nothing written) when any of its ends must run alone. The plain ends (a small
    /// load's: no step record to close, no error or held reason to record) move in one statement, their attempts go in
    /// one more: on PostgreSQL the rollup triggers then run once for the group, not once per load.
    /// </summary>
    private async Task<bool> TryCommitGroupAsync(IReadOnlyList<QueuedEnd> group)
    {
        LoadStatus?[] answers;
        try
        {
            answers = await RunAsync(async connection =>
            {
                await using var transaction = await connection.BeginTransactionAsync(CancellationToken.None);
                var now = new LoadStatus?[group.Count];
                var plain = new List<int>();
                for (var i = 0; i < group.Count; i++)
                {
                    if (IsPlain(group[i].End))
                    {
                        plain.Add(i);
                        continue;
                    }

                    now[i] = await WriteEndAsync(connection, transaction, group[i], CancellationToken.None);
                    if (now[i] is null && group[i].End.StepId is not null)
                    {
                        // Lost after its step record was closed in this transaction: only its own rollback is right.
                        await transaction.RollbackAsync(CancellationToken.None);
                        return [];
                    }
                }

                var moved = await MovePlainAsync(connection, transaction, plain.Select(i => group[i]).ToList());
                var done = new List<(long LoadId, string? Worker, FinishedStep Step)>();
                foreach (var i in plain.Where(i => moved.Contains(group[i].End.LoadId)))
                {
                    now[i] = group[i].CarryOn ?? group[i].End.To;
                    done.AddRange(group[i].End.Done.Select(d => (group[i].End.LoadId, (string?)group[i].End.Worker, d)));
                }

                await InsertFinishedAsync(connection, transaction, done, CancellationToken.None);
                await transaction.CommitAsync(CancellationToken.None);
                return now;
            }, group.All(q => IsRelaxed(q.End.From, q.End.To)), CancellationToken.None);
        }
        catch (Exception)
        {
            // Whichever end failed, or the catalog did not answer: each runs alone, and its caller gets its own answer.
            return false;
        }

        if (answers.Length == 0)
        {
            return false;
        }

        for (var i = 0; i < group.Count; i++)
        {
            group[i].Answer.TrySetResult(answers[i]);
        }

        return true;
    }

    /// <summary>
    /// Whether the database moves plain ends' loads and writes their attempts in one statement (PostgreSQL: the insert a
    /// data-modifying <c>WITH</c> part after the update, taking only the loads it moved). One round trip and one
    /// implicit transaction instead of a BEGIN, an UPDATE, an INSERT and a COMMIT.
    /// </summary>
    private protected virtual bool EndsPlainInOneStatement => false;

    /// <summary>Groups of plain ends (a single end is a group of one) this catalog committed in one statement: for tests.</summary>
    internal int PlainStatementsCommitted => Volatile.Read(ref _plainStatementsCommitted);

    private int _plainStatementsCommitted;

    /// <summary>
    /// Plain ends (one or a group) in one statement (<see cref="EndsPlainInOneStatement"/>): each still its own
    /// compare-and-set, an end whose load is no longer its worker's answered null and its attempts not written, as in a
    /// group. False (nothing written) when the statement failed: each end then runs alone.
    /// </summary>
    private async Task<bool> TryCommitPlainAsync(IReadOnlyList<QueuedEnd> group)
    {
        HashSet<long> moved;
        try
        {
            moved = await RunAsync(connection => MovePlainAsync(connection, null, group, withAttempts: true), group.All(q => IsRelaxed(q.End.From, q.End.To)), CancellationToken.None);
        }
        catch (Exception)
        {
            return false;
        }

        Interlocked.Increment(ref _plainStatementsCommitted);
        foreach (var queued in group)
        {
            queued.Answer.TrySetResult(moved.Contains(queued.End.LoadId) ? queued.CarryOn ?? queued.End.To : null);
        }

        return true;
    }

    /// <summary>An end that only moves the load (with its inbox key and finished attempts): no record to close, nothing else to record.</summary>
    private static bool IsPlain(StageEnd end) =>
        end is { StepId: null, Details: null or { ErrorKind: null, ErrorMessage: null, ErrorCode: null, HeldReason: null, ClearError: false, ResetAttempts: false } }
        && end.To != LoadStatus.Held;

    /// <summary>
    /// Moves each plain end's load in one statement, each row its own compare-and-set (still in its from-status, still
    /// leased by its worker), as <see cref="UpdateStatusAsync"/> would one by one; returns the ids of the loads it moved. With
    /// <paramref name="withAttempts"/> the same statement writes the finished attempts of the loads it moved.
    /// </summary>
    private async Task<HashSet<long>> MovePlainAsync(DbConnection connection, DbTransaction? transaction, IReadOnlyList<QueuedEnd> ends, bool withAttempts = false)
    {
        if (ends.Count == 0)
        {
            return [];
        }

        var now = Now();
        var rows = new string[ends.Count];
        var update = Command(connection, "", transaction);
        for (var i = 0; i < ends.Count; i++)
        {
            var (end, carryOn) = (ends[i].End, ends[i].CarryOn);
            var to = carryOn ?? end.To;
            // Leaving a working status releases the lease; a carry-on claims the next stage under a fresh one.
            var keepsLease = LoadStateMachine.IsWorking(to);
            rows[i] = $"(@id{i}, @from{i}, @to{i}, @owner{i}, @inbox_key{i}, @increment{i}, @new_owner{i}, @new_expires{i})";
            Add(update, $"@id{i}", end.LoadId, DbType.Int64);
            Add(update, $"@from{i}", end.From.ToWord(), DbType.String);
            Add(update, $"@to{i}", to.ToWord(), DbType.String);
            Add(update, $"@owner{i}", end.Worker, DbType.String);
            Add(update, $"@inbox_key{i}", end.Details?.InboxKey, DbType.String);
            Add(update, $"@increment{i}", carryOn is not null && end.To == LoadStatus.Ready ? 1 : 0, DbType.Int32);
            Add(update, $"@new_owner{i}", keepsLease ? end.Worker : null, DbType.String);
            AddTime(update, $"@new_expires{i}", keepsLease ? now + end.CarryOnLease!.Value : null);
        }

        // VALUES columns are column1, column2, … in both dialects (neither names them otherwise).
        var move = $"""
            UPDATE intake_loads SET
                status = v.column3,
                held_reason = NULL,
                inbox_key = COALESCE(v.column5, intake_loads.inbox_key),
                attempts = intake_loads.attempts + v.column6,
                lease_owner = v.column7,
                lease_expires_at = v.column8,
                updated_at = @now
            FROM (VALUES {string.Join(", ", rows)}) AS v
            WHERE intake_loads.id = v.column1 AND intake_loads.status = v.column2 AND intake_loads.lease_owner = v.column4
            RETURNING intake_loads.id
            """;
        var done = withAttempts ? ends.SelectMany(q => q.End.Done.Select(d => (q.End.LoadId, (string?)q.End.Worker, d))).ToList() : [];
        update.CommandText = done.Count == 0 ? move : $"""
            WITH moved AS ({move}),
            recorded AS (
                INSERT INTO intake_steps ({FinishedColumns})
                SELECT s.* FROM (VALUES {AddFinished(update, done)}) AS s WHERE s.column1 IN (SELECT id FROM moved))
            SELECT id FROM moved
            """;
        AddTime(update, "@now", now);
        return [.. await QueryListAsync(update, r => r.GetInt64(0), CancellationToken.None)];
    }

    /// <summary>One end in its own transaction, durable when its move is.</summary>
    private Task<LoadStatus?> CommitEndAsync(QueuedEnd queued, CancellationToken cancellationToken) => RunAsync(async connection =>
    {
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        if (await WriteEndAsync(connection, transaction, queued, cancellationToken) is not { } now)
        {
            // Compare-and-set lost: the worker's lease is gone, so its step record is not its to close either.
            await transaction.RollbackAsync(cancellationToken);
            return (LoadStatus?)null;
        }

        await transaction.CommitAsync(cancellationToken);
        return now;
    }, IsRelaxed(queued.End.From, queued.End.To), cancellationToken);

    /// <summary>
    /// The end's writes in <paramref name="transaction"/>: its step record closed, the move (with the carry-on claim) and
    /// its finished attempts; the status now, or null when the compare-and-set found the load no longer the worker's
    /// (the record's close is then the caller's to roll back).
    /// </summary>
    private async Task<LoadStatus?> WriteEndAsync(DbConnection connection, DbTransaction transaction, QueuedEnd queued, CancellationToken cancellationToken)
    {
        var end = queued.End;
        if (end.StepId is { } stepId)
        {
            await UpdateFinishedStepAsync(connection, transaction, stepId, end.Result!, cancellationToken);
        }

        // With carry-on, the claim's own change for this one load is made in the same statement: the load passes
        // through end.To inside this transaction, where no other worker can claim it.
        var details = (end.Details ?? new TransitionDetails()) with { LeaseOwner = end.Worker };
        var claim = queued.CarryOn is not null
            ? (end.Worker, Now() + end.CarryOnLease!.Value, end.To == LoadStatus.Ready ? 1 : 0)
            : ((string, DateTimeOffset, int)?)null;
        if (!await UpdateStatusAsync(connection, transaction, end.LoadId, end.From, queued.CarryOn ?? end.To, details, cancellationToken, claim))
        {
            return null;
        }

        await InsertFinishedAsync(connection, transaction, end.LoadId, end.Worker, end.Done, cancellationToken);
        return queued.CarryOn ?? end.To;
    }

    private sealed class QueuedEnd(StageEnd end, LoadStatus? carryOn)
    {
        public StageEnd End { get; } = end;

        public LoadStatus? CarryOn { get; } = carryOn;

        // Continuations run elsewhere: never inline on the committer, which goes on to the next group.
        public TaskCompletionSource<LoadStatus?> Answer { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
