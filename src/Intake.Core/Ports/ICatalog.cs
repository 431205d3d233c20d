using Intake.Core.Model;

namespace Intake.Core.Ports;

/// <summary>
/// The metadata database: loads, their status and their step records. One implementation per
/// database (SQLite embedded, PostgreSQL shared), both held to the same compliance suite.
/// </summary>
public interface ICatalog : IAsyncDisposable
{
    /// <summary>Applies the versioned SQL migrations that are not applied yet. Fails start-up with the SQL in the message.</summary>
    Task MigrateAsync(CancellationToken cancellationToken);

    /// <summary>
    /// Inserts a load in <c>ready</c> unless (pipeline, source key, fingerprint) exists; then returns
    /// the existing one with <c>Created = false</c>. Safe to call from several processes at once. A new load's
    /// <see cref="NewLoad.ProposedInboxKey"/> becomes its inbox key, held for it alone: when another load holds that key,
    /// the load gets <see cref="InboxKeys.WithLoadId"/> of it (the returned load says which).
    /// </summary>
    Task<RegisterResult> RegisterLoadAsync(NewLoad load, CancellationToken cancellationToken);

    /// <summary>
    /// <see cref="RegisterLoadAsync"/> for each of <paramref name="loads"/>, in their order, with one durable commit for
    /// all (discovery registers what one listing found): a load already known, or twice in the batch, is counted as
    /// seen and never fails the others. All or nothing: after a crash, discovery lists again and registers the rest.
    /// </summary>
    /// <returns>One result per load, in the same order.</returns>
    async Task<IReadOnlyList<RegisterResult>> RegisterLoadsAsync(IReadOnlyList<NewLoad> loads, CancellationToken cancellationToken)
    {
        // For catalogs without a transaction of their own (test doubles): one registration after the other.
        ArgumentNullException.ThrowIfNull(loads);
        var results = new List<RegisterResult>(loads.Count);
        foreach (var load in loads)
        {
            results.Add(await RegisterLoadAsync(load, cancellationToken));
        }

        return results;
    }

    Task<Load?> GetLoadAsync(long id, CancellationToken cancellationToken);

    Task<IReadOnlyList<Load>> ListLoadsAsync(LoadQuery query, CancellationToken cancellationToken);

    /// <summary>
    /// Compare-and-set: moves the load from <paramref name="from"/> to <paramref name="to"/> only if it is
    /// still in <paramref name="from"/> (and, when given, still leased by <c>details.LeaseOwner</c>).
    /// Returns false when another worker got there first. Leaving a working status releases the lease.
    /// </summary>
    Task<bool> TransitionAsync(long loadId, LoadStatus from, LoadStatus to, TransitionDetails? details, CancellationToken cancellationToken);

    /// <summary>
    /// Claims the oldest load waiting in <c>request.From</c>, moves it to the matching working status with a
    /// lease, and (for <c>ready</c>) counts an attempt. Two workers never claim the same load.
    /// </summary>
    Task<Load?> ClaimAsync(ClaimRequest request, CancellationToken cancellationToken);

    /// <summary>
    /// <see cref="ClaimAsync"/> and the claimed load's step history (<see cref="GetStepsAsync"/>), which a worker reads
    /// before its first step. A catalog may answer both with the claim's round trip: a load no step was written for yet
    /// (every new file's) needs no read of its history.
    /// </summary>
    async Task<ClaimedLoad?> ClaimWithHistoryAsync(ClaimRequest request, CancellationToken cancellationToken)
    {
        var load = await ClaimAsync(request, cancellationToken);
        return load is null ? null : new ClaimedLoad(load, await GetStepsAsync(load.Id, cancellationToken));
    }

    /// <summary>
    /// Up to <paramref name="count"/> loads for one worker, each as <see cref="ClaimWithHistoryAsync"/> claims one (the
    /// oldest first, in the claim's order of statuses), all under the worker's lease; fewer, or none, when fewer wait. A
    /// catalog may claim them all in one statement.
    /// </summary>
    async Task<IReadOnlyList<ClaimedLoad>> ClaimSomeWithHistoryAsync(ClaimRequest request, int count, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        var claimed = new List<ClaimedLoad>();
        while (claimed.Count < count && await ClaimWithHistoryAsync(request, cancellationToken) is { } one)
        {
            claimed.Add(one);
        }

        return claimed;
    }

    /// <summary>
    /// Records where the original sits in the inbox, as soon as it is there, while <paramref name="worker"/> holds the
    /// load: later steps, the error path and re-drives use the recorded key, never one recomputed from a configuration
    /// that may have changed since. False when the worker no longer holds the load.
    /// </summary>
    Task<bool> RecordInboxKeyAsync(long loadId, string worker, string inboxKey, CancellationToken cancellationToken);

    /// <summary>Extends the lease; false when the worker no longer holds it.</summary>
    Task<bool> HeartbeatAsync(long loadId, string worker, TimeSpan lease, CancellationToken cancellationToken);

    /// <summary>
    /// Returns loads whose lease expired to their waiting status; an ingesting load that has used its pipeline's
    /// attempts (<paramref name="maxAttemptsByPipeline"/>, else <paramref name="maxAttempts"/>) goes to
    /// <c>ready_for_erroring</c> instead (kind transient). Returns how many loads were changed.
    /// </summary>
    Task<int> SweepExpiredLeasesAsync(int maxAttempts, IReadOnlyDictionary<string, int>? maxAttemptsByPipeline, CancellationToken cancellationToken);

    /// <summary>The sweep with one limit for every pipeline.</summary>
    Task<int> SweepExpiredLeasesAsync(int maxAttempts, CancellationToken cancellationToken) =>
        SweepExpiredLeasesAsync(maxAttempts, null, cancellationToken);

    /// <summary>Appends a step record in <c>running</c> and returns its id.</summary>
    Task<long> StartStepAsync(long loadId, string step, int attempt, string? worker, CancellationToken cancellationToken);

    /// <summary>Completes a step record; step records are otherwise never changed.</summary>
    Task FinishStepAsync(long stepId, StepResult result, CancellationToken cancellationToken);

    /// <summary>
    /// Completes step record <paramref name="stepId"/> and appends the next step's record in <c>running</c>, as one
    /// transaction: a worker hands its load from one step to the next with one commit instead of two (or three with
    /// the inbox key), and a crash leaves either both records as before or both written, never a load with two running
    /// records. With <see cref="NextStep.InboxKey"/> set, the inbox key is recorded in the same transaction, only while
    /// <see cref="NextStep.Worker"/> holds the load (as <see cref="RecordInboxKeyAsync"/>); when it no longer does,
    /// nothing is written and the answer is null. Otherwise the new record's id.
    /// </summary>
    /// <exception cref="InvalidOperationException">The record does not exist or is already finished; nothing is written.</exception>
    async Task<long?> FinishAndStartStepAsync(long stepId, StepResult result, NextStep next, CancellationToken cancellationToken)
    {
        // For catalogs without a transaction of their own (test doubles): the same calls one after the other.
        ArgumentNullException.ThrowIfNull(next);
        await FinishStepAsync(stepId, result, cancellationToken);
        if (next.InboxKey is { } inboxKey && !await RecordInboxKeyAsync(next.LoadId, next.Worker!, inboxKey, cancellationToken))
        {
            return null;
        }

        return await StartStepAsync(next.LoadId, next.Step, next.Attempt, next.Worker, cancellationToken);
    }

    /// <summary>
    /// Ends a worker's stage with one commit instead of two or three: completes the stage's last step record
    /// (<see cref="StageEnd.StepId"/>, when its end was left for this call) and moves the load from
    /// <see cref="StageEnd.From"/> to <see cref="StageEnd.To"/> as <see cref="TransitionAsync"/> does, a compare-and-set on the
    /// status and on <see cref="StageEnd.Worker"/>'s lease; with <see cref="StageEnd.CarryOnLease"/>, the worker then
    /// claims the load again in the same transaction (<c>ready_for_archiving</c> → <c>archiving</c>, the status passed
    /// through as the state machine has it). All or nothing: a crash leaves either the record running and the load in
    /// <see cref="StageEnd.From"/>, or everything written. The commit is durable when the move is (into a final status).
    /// </summary>
    /// <returns>The load's status now (<see cref="StageEnd.To"/>, or its working status when carried on); null when the
    /// worker no longer holds the load, and then nothing is written.</returns>
    /// <exception cref="InvalidOperationException">The record does not exist or is already finished; nothing is written.</exception>
    async Task<LoadStatus?> EndStageAsync(StageEnd end, CancellationToken cancellationToken)
    {
        // For catalogs without a transaction of their own (test doubles): the calls one after the other, never carrying on.
        ArgumentNullException.ThrowIfNull(end);
        if (end.StepId is { } stepId)
        {
            await FinishStepAsync(stepId, end.Result ?? throw new ArgumentException("a step record to close needs its result", nameof(end)), cancellationToken);
        }

        var details = (end.Details ?? new TransitionDetails()) with { LeaseOwner = end.Worker };
        if (!await TransitionAsync(end.LoadId, end.From, end.To, details, cancellationToken))
        {
            return null;
        }

        await WriteFinishedAsync(this, end.LoadId, end.Worker, end.Done, cancellationToken);
        return end.To;
    }

    /// <summary>
    /// Writes step attempts that finished before any record of them was written (<see cref="FinishedStep"/>), and the
    /// inbox key when given, in one transaction, only while <paramref name="worker"/> holds the load: a worker that
    /// could not end its stage (the catalog did not answer) records what its small load did before going on.
    /// </summary>
    /// <returns>False when the worker no longer holds the load; nothing is written then.</returns>
    async Task<bool> RecordStepsAsync(long loadId, string worker, IReadOnlyList<FinishedStep> done, string? inboxKey, CancellationToken cancellationToken)
    {
        // For catalogs without a transaction of their own (test doubles): the calls one after the other.
        ArgumentNullException.ThrowIfNull(done);
        var holds = inboxKey is not null
            ? await RecordInboxKeyAsync(loadId, worker, inboxKey, cancellationToken)
            : (await GetLoadAsync(loadId, cancellationToken))?.LeaseOwner == worker;
        if (!holds)
        {
            return false;
        }

        await WriteFinishedAsync(this, loadId, worker, done, cancellationToken);
        return true;
    }

    private static async Task WriteFinishedAsync(ICatalog catalog, long loadId, string worker, IReadOnlyList<FinishedStep> done, CancellationToken cancellationToken)
    {
        foreach (var step in done)
        {
            var id = await catalog.StartStepAsync(loadId, step.Step, step.Attempt, worker, cancellationToken);
            await catalog.FinishStepAsync(id, step.Result, cancellationToken);
        }
    }

    Task<IReadOnlyList<StepRecord>> GetStepsAsync(long loadId, CancellationToken cancellationToken);

    /// <summary>
    /// Every step record of the next <paramref name="limit"/> loads that have any, with load id above
    /// <paramref name="afterLoadId"/>, ordered by load id then record id. For <c>intake audit</c>, which walks
    /// the whole catalog: the limit counts loads, not records, so a page never splits one load's history;
    /// pass the last record's <see cref="StepRecord.LoadId"/> to get the next page; an empty page is the end.
    /// </summary>
    Task<IReadOnlyList<StepRecord>> GetAllStepsAsync(long? afterLoadId, int limit, CancellationToken cancellationToken);

    /// <summary>Count of loads per status, for the CLI summary and metrics.</summary>
    Task<IReadOnlyDictionary<LoadStatus, long>> CountByStatusAsync(string? pipeline, CancellationToken cancellationToken);
}
