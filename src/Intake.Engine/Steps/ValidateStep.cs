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
    public string Name => "validate";

    public async Task<StepResult> RunAsync(StepContext context, CancellationToken cancellationToken)
    {
        var store = context.Store;
        var files = await DataFiles.ListAsync(context, cancellationToken);
        if (context.Pipeline.Steps.Contains("load") && files.Count == 0)
        {
            throw IntakeException.Empty($"{context.Load.SourceKey}: no entry matches the data file patterns ({string.Join(", ", context.Pipeline.Csv.Files)})", "PropertyFileFormatDecompressException");
        }

        var bytes = files.Sum(f => f.Size);
        var manifest = await ReadManifestAsync(context, cancellationToken);
        if (manifest is null)
        {
            return new StepResult { BytesIn = bytes, Outputs = [] };
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
            var actual = original.Sha256 ?? await HashAsync(store, context.InboxKey, cancellationToken);
            if (!string.Equals(actual, sha, StringComparison.OrdinalIgnoreCase))
            {
                problems.Add($"SHA-256 {actual}, manifest says {sha}");
            }
        }

        long? rows = null;
        if (manifest.Rows is { } expectedRows)
        {
            rows = 0;
            var options = DataFiles.Options(context);
            foreach (var f in files)
            {
                await using var s = await store.OpenReadAsync(Areas.Work, f.Key, cancellationToken);
                using var csv = new CsvRowSource(s, DataFiles.DisplayName(context, f), options);
                while (csv.Read())
                {
                    rows++;
                }
            }

            if (rows != expectedRows)
            {
                problems.Add($"{rows} data rows, manifest says {expectedRows}");
            }
        }

        if (problems.Count > 0)
        {
            throw IntakeException.Integrity($"{context.Load.SourceKey} does not match its manifest: {string.Join("; ", problems)}", "PropertyFileFormatDecompressException");
        }

        return new StepResult { BytesIn = bytes, RowsIn = rows, RowsOut = rows };
    }

    private static async Task<string> HashAsync(IObjectStore store, string key, CancellationToken ct)
    {
        await using var s = await store.OpenReadAsync(Areas.Inbox, key, ct);
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
        try
        {
            using var doc = await JsonDocument.ParseAsync(s, cancellationToken: ct);
            var root = doc.RootElement;
            return new Manifest(
                root.TryGetProperty("rows", out var r) ? r.GetInt64() : null,
                root.TryGetProperty("size", out var z) ? z.GetInt64() : null,
                root.TryGetProperty("sha256", out var h) ? h.GetString() : null);
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException)
        {
            throw IntakeException.Format($"{context.Load.SourceKey}: its manifest is not valid JSON with rows, size and sha256: {e.Message}", e);
        }
    }
}
