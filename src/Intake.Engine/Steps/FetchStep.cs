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
        if (existing is not null && (context.Load.SourceSize is null || existing.Size == context.Load.SourceSize))
        {
            info = existing;
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

        return new StepResult { BytesIn = info.Size, BytesOut = info.Size, Outputs = outputs, InboxKey = key };
    }
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
