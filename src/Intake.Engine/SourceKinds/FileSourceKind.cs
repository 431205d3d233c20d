using Intake.Core.Errors;
using Intake.Core.Model;
using Intake.Core.Ports;
using Intake.Engine.Configuration;
using Intake.Engine.Runtime;
using Intake.Engine.Steps;

namespace Intake.Engine.SourceKinds;

/// <summary>A kind whose loads are files that the <c>fetch</c> step copies from the source.</summary>
public interface IFileSourceKind
{
    /// <summary>The adapter of a pipeline of this kind, as the fetch step reads through it.</summary>
    IFileSource CreateSource(PipelineConfig pipeline, TimeProvider time);

    /// <summary>Whether the adapter built from these options can delete a listed file (<c>source.remove_after</c>).</summary>
    bool CanRemove(object options);
}

/// <summary>
/// A kind whose source is a place holding files (a folder, an FTP or SFTP server, a bucket): discovery
/// lists it through its <see cref="IFileSource"/> and registers each listed file as a load, and the
/// <c>fetch</c> step copies the file into the inbox. A kind of this sort only reads its options and builds
/// its adapter.
/// </summary>
public abstract class FileSourceKind<TOptions> : SourceKind<TOptions>, IFileSourceKind
    where TOptions : class
{
    // With the steps slices offer every file pipeline (the Mail slice's extract, for a folder of .eml files); built on
    // first use, as the slices' descriptors refer to the built-in ones.
    private static readonly Lazy<StepDescriptor[]> FileSteps = new(() =>
        [StepDescriptor.Fetch, StepDescriptor.Decompress, StepDescriptor.Validate, StepDescriptor.Archive, StepDescriptor.Copy, StepDescriptor.Load, StepDescriptor.Lake, StepDescriptor.Merge,
         .. Slices.SliceRegistry.BuiltIn.SelectMany(s => s.FileSteps)]);

    public override StepDescriptor FirstStep => StepDescriptor.Fetch;

    public override string FirstStepPurpose => "it copies the original into the inbox";

    public override IReadOnlyList<StepDescriptor> Steps => FileSteps.Value;

    /// <summary>
    /// Builds the adapter that lists and reads the files. It must not connect anywhere: it is also built once
    /// at start to check the options (see <see cref="Check"/>).
    /// </summary>
    /// <exception cref="IntakeException">Config: an option that cannot work, named by its YAML key.</exception>
    public abstract IFileSource CreateSource(TOptions options, TimeProvider time);

    /// <summary>The adapter of a pipeline of this kind (the fetch step's; discovery keeps one of its own).</summary>
    public IFileSource CreateSource(PipelineConfig pipeline, TimeProvider time) => CreateSource(Options(pipeline), time);

    /// <summary>Builds the adapter once (it connects nowhere) and asks it.</summary>
    public bool CanRemove(object options)
    {
        var source = CreateSource((TOptions)options, TimeProvider.System);
        (source as IDisposable)?.Dispose();
        return source is IRemovableFileSource;
    }

    /// <summary>With <c>source.remove_after</c>, the file leaves the source once its load is archived.</summary>
    public override bool ActsOnArchivedFor(PipelineConfig pipeline) => pipeline.Source.RemoveAfter || base.ActsOnArchivedFor(pipeline);

    /// <summary>
    /// With <c>source.remove_after</c>: the file is deleted at the source once its copy in the archive area is verified,
    /// if it is still the version this load stands for (see <see cref="RemoveAfter"/>).
    /// </summary>
    public override Task<StepResult> OnArchivedAsync(StepContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        return context.Pipeline.Source.RemoveAfter
            ? RemoveAfter.RemoveAsync(context, Areas.Archive, cancellationToken)
            : base.OnArchivedAsync(context, cancellationToken);
    }

    /// <summary>How many files of a listing one registration commit takes at most.</summary>
    internal const int RegistrationBatch = 500;

    /// <summary>The adapter's own checks (patterns, ports, files to trust, …), by building it once.</summary>
    protected override IEnumerable<string> Check(TOptions options)
    {
        try
        {
            (CreateSource(options, TimeProvider.System) as IDisposable)?.Dispose();
            return [];
        }
        catch (IntakeException e)
        {
            return [e.Message];
        }
    }

    /// <summary>
    /// Lists the source and registers each file as a load; a file already known (same key and fingerprint) is
    /// only counted as seen, and a data file's manifest sidecar is never a load of its own. With
    /// <c>tables_from_prefix</c>, each file's table is registered the first time its prefix appears, then the file as
    /// a load of that table; a file that is no table's file is reported once and skipped, never failing the others.
    /// </summary>
    /// <remarks>
    /// The files of a listing are registered in batches of <see cref="RegistrationBatch"/>, each one durable commit
    /// (<c>ICatalog.RegisterLoadsAsync</c>) instead of one per file: a listing of thousands of small files cost as many
    /// disk syncs. A batch keeps one transaction short (it holds SQLite's write lock) while the commits stay few.
    /// </remarks>
    public override async Task<DiscoveryResult> DiscoverAsync(DiscoveryContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        var pipeline = context.Pipeline;
        var runtime = context.Runtime;
        var tables = pipeline.Source.Tables;

        // One source per pipeline for the life of the discovery: the stable-file rule compares each listing with
        // the previous one. Listings of one pipeline are serialised by the gate; other pipelines list in parallel.
        // The runtime disposes the source (an S3 client and its pooled connections) when it is disposed.
        var kept = context.Keep(() => new KeptSource(runtime.Own(CreateSource(pipeline, runtime.Time))));

        var wanted = context.SourceKeys is null ? null : new HashSet<string>(context.SourceKeys, StringComparer.Ordinal);
        var found = new HashSet<string>(StringComparer.Ordinal);
        var created = new List<long>();
        var skipped = new List<SkippedFile>();
        var newTables = new List<string>();
        var seen = 0;
        var batch = new List<NewLoad>(RegistrationBatch);
        async Task RegisterBatchAsync()
        {
            // Safe to repeat after an outage: a load already registered is returned, not added again.
            foreach (var result in await runtime.Outage.RunAsync(t => runtime.Catalog.RegisterLoadsAsync(batch, t), cancellationToken))
            {
                if (result.Created)
                {
                    created.Add(result.Load.Id);
                }
                else
                {
                    seen++;
                }
            }

            batch.Clear();
        }

        await kept.Gate.WaitAsync(cancellationToken);
        try
        {
            await foreach (var file in kept.Source.ListAsync(cancellationToken))
            {
                if (wanted is not null && !wanted.Contains(file.Key))
                {
                    continue;
                }

                if (pipeline.Validate.Manifest is { } m && ManifestNames.IsManifest(file.Key, m))
                {
                    continue;
                }

                string? table = null;
                if (tables is not null)
                {
                    var match = tables.Match(file.Key);
                    if (match.IsExcluded)
                    {
                        continue; // include/exclude left its table out: not a table of this pipeline
                    }

                    var reason = match.NotATableReason ?? await kept.TableProblemAsync(context, match, newTables, cancellationToken);
                    if (reason is not null)
                    {
                        // Skipped, never thrown: one folder that cannot be a table must not stop the other tables.
                        if (kept.Reported.Add(file.Key))
                        {
                            Log.FileSkipped(context.Log, pipeline.Name, file.Key, reason);
                            skipped.Add(new SkippedFile(file.Key, reason));
                        }

                        continue;
                    }

                    table = match.Name;
                }

                found.Add(file.Key);
                batch.Add(new NewLoad(pipeline.Name, context.Customer, file.Key, file.Fingerprint, file.Size, table, file.Modified) { ProposedInboxKey = ProposedInboxKey(context, file.Key) });
                if (batch.Count == RegistrationBatch)
                {
                    await RegisterBatchAsync();
                }
            }

            await RegisterBatchAsync();
        }
        finally
        {
            kept.Gate.Release();
        }

        Log.Discovered(context.Log, pipeline.Name, created.Count, seen);
        return new DiscoveryResult(pipeline.Name, created.Count, seen)
        {
            NewLoadIds = created,
            MissingKeys = wanted is null ? [] : wanted.Where(k => !found.Contains(k)).Order(StringComparer.Ordinal).ToList(),
            Skipped = skipped,
            NewTables = newTables,
        };
    }

    /// <summary>
    /// The inbox key of a new file, rendered at registration from the key template with the registration time as
    /// <c>{received}</c> and the upload trigger's own group when it files under one (HView's grid). The catalog holds it
    /// for this load alone, so two files of one name registered in the same second (from two folders, or two pipelines
    /// of one group) never share an original. Null when the template names <c>{load}</c>: the fetch renders that key,
    /// unique by construction, once the load's id is known.
    /// </summary>
    private static string? ProposedInboxKey(DiscoveryContext context, string sourceKey)
    {
        var pipeline = context.Pipeline;
        if (pipeline.KeyTemplate.Contains("{load", StringComparison.Ordinal))
        {
            return null;
        }

        var provisional = new Load { Pipeline = pipeline.Name, Customer = context.Customer, SourceKey = sourceKey, Fingerprint = "", CreatedAt = context.Runtime.Time.GetUtcNow() };
        return Keys.Render(pipeline.KeyTemplate, context.Group is { } group ? pipeline with { Group = group } : pipeline, provisional);
    }

    private sealed class KeptSource(IFileSource source)
    {
        // The tables this process has registered or found, by name: one catalog round trip per table, not per file.
        private readonly Dictionary<string, SourceTable> _tables = new(StringComparer.Ordinal);

        public IFileSource Source { get; } = source;

        public SemaphoreSlim Gate { get; } = new(1, 1);

        /// <summary>Keys already reported as skipped, so each is reported once, not on every listing.</summary>
        public HashSet<string> Reported { get; } = new(StringComparer.Ordinal);

        /// <summary>
        /// Registers the file's table the first time its prefix appears (called under the gate). Returns why the file
        /// cannot be loaded as that table's (another prefix has its name already), or null.
        /// </summary>
        public async Task<string?> TableProblemAsync(DiscoveryContext context, TableMatch match, List<string> newTables, CancellationToken cancellationToken)
        {
            var name = match.Name!;
            if (!_tables.TryGetValue(name, out var table))
            {
                var runtime = context.Runtime;
                var registration = await runtime.Outage.RunAsync(t => runtime.Ports.Tables.RegisterTableAsync(context.Pipeline.Name, name, match.Prefix!, t), cancellationToken);
                table = registration.Table;
                _tables[name] = table;
                if (registration.Created)
                {
                    Log.TableRegistered(context.Log, context.Pipeline.Name, name, table.Prefix);
                    newTables.Add(name);
                }
            }

            // Two prefixes that differ only in case or punctuation (EDW.SAMPLE/ and edw_sample/) name one table; the
            // first one keeps it, so the other's files are not mixed into it.
            return table.Prefix == match.Prefix
                ? null
                : $"its folder {match.Prefix} names the table {name}, which is already the table of {table.Prefix}; rename one of the folders";
        }
    }
}
