using Intake.Core.Errors;
using Intake.Core.Model;
using Intake.Core.Ports;

namespace Intake.Engine.Steps;

/// <summary>Copies the source file (and its manifest sidecar, when configured) into the inbox area, unchanged.</summary>
public sealed class FetchStep : IStep
{
    private readonly Func<StepContext, IFileSource> _sourceFor;

    public FetchStep(Func<StepContext, IFileSource> sourceFor) => _sourceFor = sourceFor;

    public string Name => StepDescriptor.Fetch.Name;

    public async Task<StepResult> RunAsync(StepContext context, CancellationToken cancellationToken)
    {
        var store = context.Store;
        var key = context.InboxKey;
        var source = _sourceFor(context);
        try
        {
            return await FetchAsync(context, store, key, source, cancellationToken);
        }
        finally
        {
            (source as IDisposable)?.Dispose();
        }
    }

    private static async Task<StepResult> FetchAsync(StepContext context, IObjectStore store, string key, IFileSource source, CancellationToken cancellationToken)
    {
        var outputs = new List<string>();

        // The inbox is never modified: a fetch that already completed (crash after the put) is kept as it is.
        var existing = await store.StatAsync(Areas.Inbox, key, cancellationToken);
        ObjectInfo info;
        Placement? how = null;
        var kept = false;
        if (existing is not null && (context.Load.SourceSize is null || existing.Size == context.Load.SourceSize))
        {
            info = existing;
            kept = true;
        }
        else if (source is ILocalFileSource local && store is ILinkingObjectStore linking && context.Load.SourceSize is not null)
        {
            // Same file system: a link, not a copy (see LinkRule). Hashed once here; every later step reads the recorded SHA-256.
            await using var file = await local.OpenListedFileAsync(context.Load.SourceKey, context.Load.Fingerprint, cancellationToken);
            var placed = await linking.PutFileAsync(Areas.Inbox, key, file, LinkRule.MayHardLink(context.Pipeline), cancellationToken);
            info = placed.Info;
            how = placed.How;
            context.Progress(info.Size, context.Load.SourceSize);
            if (info.Size != context.Load.SourceSize)
            {
                throw IntakeException.Integrity($"{context.Load.SourceKey}: fetched {info.Size} bytes but {context.Load.SourceSize} were listed; the file changed while it was read");
            }
        }
        else
        {
            // A resumable source carries on after a dropped connection from the bytes it has; the inbox write stays atomic.
            var download = source is IResumableFileSource resumable && context.Load.SourceSize is { } size
                ? await resumable.OpenResumableReadAsync(context.Load.SourceKey, size, cancellationToken)
                : await source.OpenListedAsync(context.Load.SourceKey, context.Load.Fingerprint, cancellationToken); // this load's version, not a later one
            await using var input = new CountingStream(download, n => context.Progress(n, context.Load.SourceSize));
            info = await store.PutAsync(Areas.Inbox, key, input, cancellationToken);
            if (context.Load.SourceSize is { } expected && info.Size != expected)
            {
                // The file changed between discovery and fetch: this load's fingerprint no longer describes it.
                // Discovery will register the new content as a new load once it is stable.
                throw IntakeException.Integrity($"{context.Load.SourceKey}: fetched {info.Size} bytes but {expected} were listed; the file changed while it was read");
            }
        }

        outputs.Add($"{Areas.Inbox}:{key}");

        if (context.Pipeline.Validate.Manifest is { } manifestTemplate)
        {
            var manifestSourceKey = ManifestNames.SourceKeyFor(context.Load.SourceKey, manifestTemplate);
            try
            {
                await using var manifest = await source.OpenReadAsync(manifestSourceKey, cancellationToken);
                await store.PutAsync(Areas.Inbox, Keys.ManifestKey(key), manifest, cancellationToken);
                outputs.Add($"{Areas.Inbox}:{Keys.ManifestKey(key)}");
            }
            catch (FileNotFoundException) when (!context.Pipeline.Validate.ManifestRequired)
            {
                // optional manifest: validation skips what it cannot check
            }
            catch (FileNotFoundException)
            {
                throw IntakeException.Integrity($"{context.Load.SourceKey}: the required manifest {manifestSourceKey} is missing");
            }
        }

        return new StepResult { BytesIn = info.Size, BytesOut = info.Size, Outputs = outputs, InboxKey = key, Message = kept ? $"kept the original an earlier attempt put in the inbox; SHA-256 {info.Sha256}" : LinkRule.Describe(how, info) };
    }
}

/// <summary>
/// When the fetch may give the inbox original a hard link to the source file. A hard link is one file under two names:
/// a producer that later edits the source file in place would edit the inbox original too, and making the original
/// read-only makes the source file read-only. So a hard link is taken only when the source file leaves the folder once
/// its load is final (<c>source.remove_after: true</c>) or is read-only already; otherwise the fetch takes a reflink (a
/// copy-on-write clone, a file of its own) where the file system has them, else copies.
/// </summary>
public static class LinkRule
{
    public static bool MayHardLink(Configuration.PipelineConfig pipeline) => pipeline.Source.RemoveAfter;

    /// <summary>The fetch's record: how the original reached the inbox, and its SHA-256 as recorded there.</summary>
    public static string? Describe(Placement? how, ObjectInfo info) => how switch
    {
        Placement.HardLinked => $"hard-linked from the source (same file system, no copy; the file is read-only now); SHA-256 {info.Sha256}",
        Placement.Reflinked => $"cloned from the source (reflink, no copy); SHA-256 {info.Sha256}",
        Placement.Copied => $"copied (the source is on another file system, or linking is not allowed here); SHA-256 {info.Sha256}",
        _ => null,
    };
}

/// <summary>The sidecar manifest's name for a source file: a template on the file's name, e.g. <c>{name}.manifest.json</c>.</summary>
public static class ManifestNames
{
    public static string SourceKeyFor(string sourceKey, string template)
    {
        var slash = sourceKey.LastIndexOf('/');
        var dir = slash < 0 ? "" : sourceKey[..(slash + 1)];
        var name = slash < 0 ? sourceKey : sourceKey[(slash + 1)..];
        var stem = name.Split('.')[0];
        return dir + template.Replace("{name}", name, StringComparison.Ordinal).Replace("{stem}", stem, StringComparison.Ordinal);
    }

    /// <summary>Whether a listed file is some data file's manifest, so discovery does not take it as data.</summary>
    public static bool IsManifest(string sourceKey, string template)
    {
        var slash = sourceKey.LastIndexOf('/');
        var name = slash < 0 ? sourceKey : sourceKey[(slash + 1)..];
        var brace = template.IndexOf('}', StringComparison.Ordinal);
        var suffix = brace < 0 ? template : template[(brace + 1)..];
        return suffix.Length > 0 && name.EndsWith(suffix, StringComparison.Ordinal);
    }
}
