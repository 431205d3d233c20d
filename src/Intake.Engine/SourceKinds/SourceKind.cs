using Intake.Core.Model;
using Intake.Engine.Configuration;
using Intake.Engine.Runtime;
using Intake.Engine.Scheduling;
using Intake.Engine.Steps;

namespace Intake.Engine.SourceKinds;

/// <summary>
/// One kind of source, the word a pipeline gives as <c>source.kind</c>: everything Intake knows about it
/// is here, so the rest of the engine never compares kind names. A kind reads its <c>source:</c> keys into
/// its typed options, checks them as its adapter will (run by <c>intake validate</c> and at every start),
/// says which steps its pipelines may list and which one they start with, and turns its source into loads.
/// </summary>
/// <remarks>
/// Kinds are registered in <see cref="SourceKindRegistry.BuiltIn"/>; a pipeline's kind is found there when
/// the configuration is read and kept on <see cref="SourceConfig.Kind"/>. A kind holds no state of its
/// own: one instance serves every pipeline and every host, and what must outlive one discovery (the
/// previous listing of a file source) is kept by <see cref="Discovery"/> through <see cref="DiscoveryContext.Keep{T}"/>.
/// </remarks>
public abstract class SourceKind
{
    /// <summary>The word in <c>source.kind</c> (<c>local</c>, <c>ftp</c>, …).</summary>
    public abstract string Name { get; }

    /// <summary>What the kind reads, for messages: "'pull' reads an HTTP API; it needs source.kind: http".</summary>
    public abstract string Reads { get; }

    /// <summary>The step every pipeline of this kind starts with (<c>fetch</c>, <c>pull</c>, <c>export</c>).</summary>
    public abstract StepDescriptor FirstStep { get; }

    /// <summary>Why the first step comes first, for the message when it does not: "it copies the original into the inbox".</summary>
    public abstract string FirstStepPurpose { get; }

    /// <summary>The steps a pipeline of this kind may list, a subsequence of <see cref="StepDescriptor.Known"/>.</summary>
    public abstract IReadOnlyList<StepDescriptor> Steps { get; }

    /// <summary>
    /// Whether a load's original is kept in the inbox area (copied there by <c>fetch</c>, or written there by a
    /// receiver): the load's inbox key is recorded, and the steps after the first read the original there. False
    /// for kinds whose first step writes outputs of its own (the HTTP pull's NDJSON parts, which the load step
    /// reads instead) or none (an export request).
    /// </summary>
    public virtual bool WritesInbox => true;

    /// <summary>The schedule of a pipeline that declares none; null: discovered on every poll.</summary>
    public virtual PipelineSchedule? DefaultSchedule => null;

    /// <summary>
    /// Top-level pipeline keys that belong to this kind (<c>export</c> for a database source): read by
    /// <see cref="Complete"/>, and reported with this kind's name when a pipeline of another kind sets them.
    /// </summary>
    public virtual IReadOnlyList<string> PipelineKeys => [];

    /// <summary>
    /// Reads the <c>source:</c> mapping (every key but <c>kind</c>) into the kind's options, reporting each
    /// problem on <see cref="SourceReading.Source"/> with its line and key. Defaults come from the options class.
    /// </summary>
    public abstract object ReadOptions(SourceReading reading);

    /// <summary>
    /// Checks the options as the kind's adapter will when it runs, without connecting anywhere, so a setting
    /// that cannot work stops <c>intake validate</c> and the start instead of the first discovery. Called only
    /// when reading found no problem. Returns each problem in plain words.
    /// </summary>
    public virtual IEnumerable<string> Validate(object options) => [];

    /// <summary>Where the source is, for people: a folder, a remote directory, a key prefix, a URL or a table.</summary>
    public abstract string Describe(object options);

    /// <summary>
    /// Checks and reads what needs the whole pipeline (its steps, its stores, the kind's <see cref="PipelineKeys"/>),
    /// and returns the pipeline completed with it.
    /// </summary>
    public virtual PipelineConfig Complete(PipelineConfig pipeline, PipelineReading reading) => pipeline;

    /// <summary>
    /// Registers the source's new loads in the catalog: the files of a listing, one load per event and day,
    /// the export re-drives that are due. A load already known (same key and fingerprint) is counted as seen.
    /// </summary>
    public abstract Task<DiscoveryResult> DiscoverAsync(DiscoveryContext context, CancellationToken cancellationToken);

    /// <summary>
    /// The <c>archive</c> step of this kind's loads: the original copied from the inbox to the archive area under the same
    /// key, verified (<see cref="ArchiveStep.CopyOriginalAsync"/>). A kind whose loads keep more (a mail load's extracted
    /// parts) adds it here. Safe to repeat, like every step.
    /// </summary>
    public virtual Task<StepResult> ArchiveAsync(StepContext context, CancellationToken cancellationToken) =>
        ArchiveStep.CopyOriginalAsync(context, cancellationToken);

    /// <summary>Whether the kind acts at its source once a load is archived (<see cref="OnArchivedAsync"/>); false by default.</summary>
    public virtual bool ActsOnArchived => false;

    /// <summary>
    /// Whether the kind acts at the source once this pipeline's load is archived: <see cref="ActsOnArchived"/>, unless a
    /// setting of the pipeline decides (a file kind with <c>source.remove_after</c>). The worker and the audit ask this.
    /// </summary>
    public virtual bool ActsOnArchivedFor(PipelineConfig pipeline) => ActsOnArchived;

    /// <summary>
    /// What the kind does at its source once a load's original is safe in the archive area: a file kind may move or
    /// delete the file it was fetched from (a bucket's incoming prefix emptied, a folder tidied). Called only when
    /// <see cref="ActsOnArchived"/> is true, while the load is <c>archiving</c>, after the archive stage's steps
    /// succeeded; never for a load that errors. Recorded as the load's <c>release</c> step: its attempts, outcome and
    /// outputs, retried with backoff on a transient failure; a permanent failure errors the load, and a re-drive
    /// resumes here without archiving again.
    /// </summary>
    /// <remarks>
    /// At least once: a worker that stops after the action but before its record is closed leaves it to the next
    /// worker, which calls it again. It must therefore find its own earlier effect and succeed (a file already moved
    /// is not an error). <see cref="StepContext.Load"/> is the load (its <c>SourceKey</c> is the file at the source).
    /// </remarks>
    public virtual Task<StepResult> OnArchivedAsync(StepContext context, CancellationToken cancellationToken) =>
        Task.FromResult(new StepResult { Message = "nothing to do at the source" });

    public override string ToString() => Name;
}

/// <summary>A source kind whose options are one class; <see cref="Options"/> gives them back typed.</summary>
/// <typeparam name="TOptions">The options class, ideally the adapter's own (e.g. <c>FtpSourceOptions</c>), so its defaults are written once.</typeparam>
public abstract class SourceKind<TOptions> : SourceKind
    where TOptions : class
{
    /// <summary>The options of a pipeline of this kind, as read from its YAML.</summary>
    /// <exception cref="ArgumentException">The pipeline is of another kind.</exception>
    public TOptions Options(PipelineConfig pipeline) =>
        pipeline.Source.Options as TOptions ?? throw new ArgumentException($"pipeline '{pipeline.Name}' is not a {Name} pipeline (source.kind: {pipeline.Source.Kind.Name})", nameof(pipeline));

    public sealed override object ReadOptions(SourceReading reading) => Read(reading);

    public sealed override IEnumerable<string> Validate(object options) => Check((TOptions)options);

    public sealed override string Describe(object options) => Location((TOptions)options);

    /// <inheritdoc cref="SourceKind.ReadOptions"/>
    protected abstract TOptions Read(SourceReading reading);

    /// <inheritdoc cref="SourceKind.Validate(object)"/>
    protected virtual IEnumerable<string> Check(TOptions options) => [];

    /// <inheritdoc cref="SourceKind.Describe(object)"/>
    protected abstract string Location(TOptions options);
}
