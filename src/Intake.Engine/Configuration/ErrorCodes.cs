using Intake.Core.Errors;
using Intake.Engine.Steps;
using YamlDotNet.RepresentationModel;

namespace Intake.Engine.Configuration;

/// <summary>
/// The names the replaced systems gave their failures, as a per-pipeline table from (step, kind) to a code.
/// </summary>
/// <remarks>
/// Steps and adapters throw kinds only; the worker looks the code up here when it records a failure, and
/// stores it beside the kind and the message (never inside the message). A pipeline without
/// <c>error_codes</c> carries none, so a local-folder pipeline never reports an FTP exception name.
/// A code for a step wins over a code for the kind alone.
/// </remarks>
public sealed class ErrorCodes
{
    /// <summary>The COLD importer's exception names (its spec lists one per step and failure), by the Intake step that does that work.</summary>
    private static readonly Dictionary<string, string> Cold = new(StringComparer.Ordinal)
    {
        ["fetch.transient"] = "FTPServerNetworkDownloadException",
        ["fetch.integrity"] = "FTPServerNetworkDownloadException",
        ["fetch.format"] = "FTPServerFormatDownloadException",
        ["fetch.security"] = "FTPServerLocationDownloadException",
        ["fetch.config"] = "FTPServerLocationDownloadException",
        ["decompress.empty"] = "PropertyFileFormatDecompressException",
        ["decompress.format"] = "PropertyFileFormatDecompressException",
        ["decompress.integrity"] = "PropertyFileFormatDecompressException",
        ["decompress.security"] = "PropertyFileLocationDecompressException",
        ["decompress.transient"] = "PropertyFileLocationDecompressException",
        ["validate.empty"] = "PropertyFileFormatDecompressException",
        ["validate.integrity"] = "PropertyFileFormatDecompressException",
        ["validate.format"] = "PropertyFileFormatDecompressException",
        ["archive.transient"] = "AWSNetworkS3UploadException",
        ["archive.integrity"] = "AWSFileS3UploadException",
        ["archive.security"] = "AWSSecurityFileS3UploadException",
        ["archive.config"] = "AWSLocationS3UploadException",
        ["copy.transient"] = "AWSNetworkS3UploadException",
        ["copy.integrity"] = "AWSFileS3UploadException",
        ["copy.security"] = "AWSSecurityFileS3UploadException",
        ["copy.config"] = "AWSLocationS3UploadException",
        ["load.transient"] = "AWSNetworkRedshiftException",
        ["load.empty"] = "AWSFileCopyRedshiftException",
        ["load.format"] = "AWSFileCopyRedshiftException",
        ["load.integrity"] = "AWSFileCopyRedshiftException",
        ["load.schema"] = "AWSFileCopyRedshiftException",
        ["load.security"] = "AWSSecurityRedshiftException",
        ["load.config"] = "AWSLocationRedshiftException",
        ["merge.transient"] = "StingrayFileImportException",
        ["merge.empty"] = "StingrayFileImportException",
        ["merge.integrity"] = "StingrayFileImportException",
        ["merge.format"] = "StingrayFileImportFormatException",
        ["merge.schema"] = "StingrayFileImportFormatException",
        ["merge.security"] = "StingrayFileImportSecurityException",
        ["error.transient"] = "AWSNetworkS3UploadException",
    };

    private static readonly Dictionary<string, IReadOnlyDictionary<string, string>> Profiles = new(StringComparer.Ordinal)
    {
        ["cold"] = Cold,
    };

    private readonly IReadOnlyDictionary<string, string> _codes;

    private ErrorCodes(IReadOnlyDictionary<string, string> codes) => _codes = codes;

    /// <summary>No codes: the default for every pipeline.</summary>
    public static ErrorCodes None { get; } = new(new Dictionary<string, string>());

    /// <summary>A built-in profile by name (<c>cold</c>); null when there is no such profile.</summary>
    public static ErrorCodes? Profile(string name) => Profiles.TryGetValue(name, out var codes) ? new ErrorCodes(codes) : null;

    /// <summary>The code for a failure of <paramref name="step"/> (null for one outside any step) with <paramref name="kind"/>, or null.</summary>
    public string? For(string? step, ErrorKind kind)
    {
        if (step is not null && _codes.TryGetValue($"{step}.{kind.ToWord()}", out var code))
        {
            return code;
        }

        return _codes.GetValueOrDefault(kind.ToWord());
    }

    /// <summary>
    /// Reads <c>error_codes</c>: a profile name (<c>error_codes: cold</c>), or a mapping whose keys are a kind
    /// (<c>format</c>) or a step and a kind (<c>fetch.transient</c>), with an optional <c>profile</c> key to start from.
    /// </summary>
    internal static ErrorCodes Read(YamlScope pipeline, IReadOnlyCollection<string> steps)
    {
        const string key = "error_codes";
        var node = pipeline.Node(key);
        switch (node)
        {
            case null:
                return None;
            case YamlScalarNode:
                var name = pipeline.String(key)!;
                if (Profile(name) is { } profile)
                {
                    return profile;
                }

                pipeline.Report(key, $"'{name}' is not a profile of error codes (profiles: {string.Join(", ", Profiles.Keys)}); or give a mapping of kind or step.kind to a code");
                return None;
        }

        var scope = pipeline.Scope(key);
        var codes = new Dictionary<string, string>(StringComparer.Ordinal);
        if (scope.String("profile") is { } start)
        {
            if (Profiles.TryGetValue(start, out var baseCodes))
            {
                foreach (var (k, v) in baseCodes)
                {
                    codes[k] = v;
                }
            }
            else
            {
                scope.Report("profile", $"'{start}' is not a profile of error codes (profiles: {string.Join(", ", Profiles.Keys)})");
            }
        }

        var kinds = Enum.GetValues<ErrorKind>().Select(k => k.ToWord()).ToList();
        foreach (var (entry, _) in scope.Entries.Where(e => e.Key != "profile").ToList())
        {
            var parts = entry.Split('.');
            var kindWord = parts[^1];
            if (parts.Length > 2 || !kinds.Contains(kindWord))
            {
                scope.Report(entry, $"is not a kind or step.kind (kinds: {string.Join(", ", kinds)})");
            }
            else if (parts.Length == 2 && parts[0] != StepDescriptor.Error.Name && !steps.Contains(parts[0]))
            {
                scope.Report(entry, $"'{parts[0]}' is not one of this pipeline's steps ({string.Join(", ", steps)}, or error)");
            }

            if (scope.String(entry) is { Length: > 0 } code)
            {
                codes[entry] = code;
            }
        }

        scope.RejectUnknown();
        return new ErrorCodes(codes);
    }
}
