using Intake.Core.Model;
using Intake.Core.Ports;

namespace Intake.Engine.Tests.Support;

/// <summary>
/// The real catalog with every call passed through: a test derives from it and overrides only the calls it makes fail,
/// hold back or observe. Disposing it leaves the real catalog to its owner.
/// </summary>
internal abstract class ForwardingCatalog(ICatalog inner) : ICatalog
{
    protected ICatalog Inner { get; } = inner;

    public virtual Task MigrateAsync(CancellationToken cancellationToken) => Inner.MigrateAsync(cancellationToken);
    public virtual Task<RegisterResult> RegisterLoadAsync(NewLoad load, CancellationToken cancellationToken) => Inner.RegisterLoadAsync(load, cancellationToken);
    public virtual Task<Load?> GetLoadAsync(long id, CancellationToken cancellationToken) => Inner.GetLoadAsync(id, cancellationToken);
    public virtual Task<IReadOnlyList<Load>> ListLoadsAsync(LoadQuery query, CancellationToken cancellationToken) => Inner.ListLoadsAsync(query, cancellationToken);
    public virtual Task<bool> TransitionAsync(long loadId, LoadStatus from, LoadStatus to, TransitionDetails? details, CancellationToken cancellationToken) => Inner.TransitionAsync(loadId, from, to, details, cancellationToken);
    public virtual Task<Load?> ClaimAsync(ClaimRequest request, CancellationToken cancellationToken) => Inner.ClaimAsync(request, cancellationToken);
    public virtual Task<ClaimedLoad?> ClaimWithHistoryAsync(ClaimRequest request, CancellationToken cancellationToken) => Inner.ClaimWithHistoryAsync(request, cancellationToken);
    public virtual Task<bool> RecordInboxKeyAsync(long loadId, string worker, string inboxKey, CancellationToken cancellationToken) => Inner.RecordInboxKeyAsync(loadId, worker, inboxKey, cancellationToken);
    public virtual Task<bool> HeartbeatAsync(long loadId, string worker, TimeSpan lease, CancellationToken cancellationToken) => Inner.HeartbeatAsync(loadId, worker, lease, cancellationToken);
    public virtual Task<int> SweepExpiredLeasesAsync(int maxAttempts, IReadOnlyDictionary<string, int>? maxAttemptsByPipeline, CancellationToken cancellationToken) => Inner.SweepExpiredLeasesAsync(maxAttempts, maxAttemptsByPipeline, cancellationToken);
    public virtual Task<long> StartStepAsync(long loadId, string step, int attempt, string? worker, CancellationToken cancellationToken) => Inner.StartStepAsync(loadId, step, attempt, worker, cancellationToken);
    public virtual Task FinishStepAsync(long stepId, StepResult result, CancellationToken cancellationToken) => Inner.FinishStepAsync(stepId, result, cancellationToken);
    public virtual Task<bool> RecordStepsAsync(long loadId, string worker, IReadOnlyList<FinishedStep> done, string? inboxKey, CancellationToken cancellationToken) => Inner.RecordStepsAsync(loadId, worker, done, inboxKey, cancellationToken);
    public virtual Task<IReadOnlyList<StepRecord>> GetStepsAsync(long loadId, CancellationToken cancellationToken) => Inner.GetStepsAsync(loadId, cancellationToken);
    public virtual Task<IReadOnlyList<StepRecord>> GetAllStepsAsync(long? afterLoadId, int limit, CancellationToken cancellationToken) => Inner.GetAllStepsAsync(afterLoadId, limit, cancellationToken);
    public virtual Task<IReadOnlyDictionary<LoadStatus, long>> CountByStatusAsync(string? pipeline, CancellationToken cancellationToken) => Inner.CountByStatusAsync(pipeline, cancellationToken);
    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
