using System.Security.Cryptography;
using System.Text.Json;
using Intake.Core.Errors;
using Intake.Core.Model;
using Intake.Core.Ports;
using Intake.Formats.Archives;
using Intake.Formats.Csv;

namespace Intake.Engine.Steps;

/// <summary>
/// Checks the expanded data before anything is loaded: there is data to load, and when a manifest
/// came with the file, the original's size and SHA-256 and the data's row count match it.
/// </summary>
public sealed class ValidateStep : IStep
{
    public string Name => StepDescriptor.Validate.Name;

    public async Task<StepResult> RunAsync(StepContext context, CancellationToken cancellationToken)
    {
        var store = context.Store;
        // Streamed pipelines (no decompress step) have nothing in the work area: the load step finds an empty original.
        var files = DataFiles.Streamed(context) ? [] : await DataFiles.ListAsync(context, cancellationToken);
        if (StepDescriptor.Load.IsIn(context.Pipeline.Steps) && files.Count == 0 && !DataFiles.Streamed(context))
        {
            throw IntakeException.Empty(DataFiles.NoDataMessage(context));
        }

        var bytes = files.Sum(f => f.Size);
        long? entryRows = null;
        if (context.Pipeline.Validate.ManifestEntry is { } entryGlob)
        {
            entryRows = await CheckManifestEntriesAsync(context, entryGlob, files, cancellationToken);
        }

        var manifest = await ReadManifestAsync(context, cancellationToken);
        if (manifest is null)
        {
            return new StepResult { BytesIn = bytes, RowsIn = entryRows, RowsOut = entryRows };
        }

        var original = await store.StatAsync(Areas.Inbox, context.InboxKey, cancellationToken)
            ?? throw IntakeException.Integrity($"{context.Load.SourceKey}: the original is missing from the inbox");
        var problems = new List<string>();
        if (manifest.Size is { } size && size != original.Size)
        {
            problems.Add($"size {original.Size} bytes, manifest says {size}");
        }

        if (manifest.Sha256 is { } sha)
        {
            var actual = original.Sha256 ?? await HashAsync(store, Areas.Inbox, context.InboxKey, cancellationToken);
            if (!string.Equals(actual, sha, StringComparison.OrdinalIgnoreCase))
            {
                problems.Add($"SHA-256 {actual}, manifest says {sha}");
            }
        }

        long? rows = null;
        if (manifest.Rows is { } expectedRows)
        {
            rows = entryRows ?? 0;
            if (entryRows is null)
            {
                rows = await CountRowsAsync(context, cancellationToken);
            }

            if (rows != expectedRows)
            {
                problems.Add($"{rows} data rows, manifest says {expectedRows}");
            }
        }

        if (problems.Count > 0)
        {
            throw IntakeException.Integrity($"{context.Load.SourceKey} does not match its manifest: {string.Join("; ", problems)}");
        }

        return new StepResult { BytesIn = bytes, RowsIn = rows, RowsOut = rows };
    }

    /// <summary>
    /// The COLD importer's check: each metadata file inside the archive describes one data file beside it, whose
    /// size, SHA-256 and row count must match. Returns the rows counted.
    /// </summary>
    private static async Task<long> CheckManifestEntriesAsync(StepContext context, string entryGlob, List<ObjectInfo> files, CancellationToken ct)
    {
        var glob = Sources.Glob.Parse(entryGlob);
        var metas = new List<ObjectInfo>();
        await foreach (var o in context.WorkStore.ListAsync(Areas.Work, context.WorkPrefix, ct))
        {
            if (glob.IsMatch(o.Key[context.WorkPrefix.Length..]))
            {
                metas.Add(o);
            }
        }

        if (metas.Count == 0)
        {
            throw IntakeException.Integrity($"{context.Load.SourceKey}: no metadata file matching '{entryGlob}' inside it");
        }

        long rows = 0;
        var problems = new List<string>();
        foreach (var meta in metas)
        {
            var metaName = meta.Key[context.WorkPrefix.Length..];
            Manifest m;
            string? file;
            await using (var s = await context.WorkStore.OpenReadAsync(Areas.Work, meta.Key, ct))
            {
                (m, file) = await ParseManifestAsync(s, $"{context.Load.SourceKey}!{metaName}", ct);
            }

            var folder = metaName.Contains('/', StringComparison.Ordinal) ? metaName[..(metaName.LastIndexOf('/') + 1)] : "";
            var data = file is not null
                ? files.FirstOrDefault(f => f.Key[context.WorkPrefix.Length..] == folder + file)
                : files.Count == 1 ? files[0] : null;
            if (data is null)
            {
                problems.Add(file is null
                    ? $"{metaName} names no \"file\" and there are {files.Count} data files"
                    : $"{metaName} describes {folder + file}, which is not in the archive");
                continue;
            }

            var dataName = DataFiles.DisplayName(context, data);
            if (m.Size is { } size && size != data.Size)
            {
                problems.Add($"{dataName} has {data.Size} bytes, {metaName} says {size}");
            }

            if (m.Sha256 is { } sha && !string.Equals(sha, data.Sha256 ?? await HashAsync(context.WorkStore, Areas.Work, data.Key, ct), StringComparison.OrdinalIgnoreCase))
            {
                problems.Add($"{dataName} SHA-256 differs from {metaName}");
            }

            long counted;
            await using (var s = await context.WorkStore.OpenReadAsync(Areas.Work, data.Key, ct))
            {
                counted = await CountRowsAsync(await CsvRowSource.OpenAsync(s, dataName, DataFiles.Options(context), cancellationToken: ct), ct);
            }

            rows += counted;
            if (m.Rows is { } expected && expected != counted)
            {
                problems.Add($"{dataName} has {counted} data rows, {metaName} says {expected}");
            }
        }

        if (problems.Count > 0)
        {
            throw IntakeException.Integrity($"{context.Load.SourceKey}: data and metadata disagree: {string.Join("; ", problems)}");
        }

        return rows;
    }

    /// <summary>The data rows of every data file of the load (from the work area, or streamed out of the original).</summary>
    private static async Task<long> CountRowsAsync(StepContext context, CancellationToken ct)
    {
        await using var data = await DataFiles.OpenAsync(context, null, ct);
        return await data.ReadAsync(async sources =>
        {
            long rows = 0;
            await foreach (var source in sources.WithCancellation(ct))
            {
                rows += await CountRowsAsync(source, ct);
            }

            return rows;
        });
    }

    private static async Task<long> CountRowsAsync(IRowSource source, CancellationToken ct)
    {
        await using (source)
        {
            long rows = 0;
            while (await source.ReadAsync(ct))
            {
                rows++;
            }

            return rows;
        }
    }

    private static async Task<string> HashAsync(IObjectStore store, string area, string key, CancellationToken ct)
    {
        await using var s = await store.OpenReadAsync(area, key, ct);
        return Convert.ToHexStringLower(await SHA256.HashDataAsync(s, ct));
    }

    private sealed record Manifest(long? Rows, long? Size, string? Sha256);

    private static async Task<Manifest?> ReadManifestAsync(StepContext context, CancellationToken ct)
    {
        if (context.Pipeline.Validate.Manifest is null)
        {
            return null;
        }

        var key = Keys.ManifestKey(context.InboxKey);
        if (await context.Store.StatAsync(Areas.Inbox, key, ct) is null)
        {
            return null;
        }

        await using var s = await context.Store.OpenReadAsync(Areas.Inbox, key, ct);
        return (await ParseManifestAsync(s, $"the manifest of {context.Load.SourceKey}", ct)).Manifest;
    }

    private static async Task<(Manifest Manifest, string? File)> ParseManifestAsync(Stream s, string what, CancellationToken ct)
    {
        try
        {
            using var doc = await JsonDocument.ParseAsync(s, cancellationToken: ct);
            var root = doc.RootElement;
            return (new Manifest(
                root.TryGetProperty("rows", out var r) ? r.GetInt64() : null,
                root.TryGetProperty("size", out var z) ? z.GetInt64() : null,
                root.TryGetProperty("sha256", out var h) ? h.GetString() : null),
                root.TryGetProperty("file", out var f) ? f.GetString() : null);
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException)
        {
            throw IntakeException.Format($"{what} is not valid JSON with rows, size and sha256: {e.Message}", e);
        }
    }
}
