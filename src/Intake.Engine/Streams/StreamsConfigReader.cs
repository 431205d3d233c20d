using System.Globalization;
using System.Text.RegularExpressions;
using Intake.Core.Errors;
using Intake.Core.Ports;
using Intake.Engine.Configuration;
using Intake.Engine.SourceKinds;
using Intake.Sources;

namespace Intake.Engine.Streams;

/// <summary>
/// Reads <c>streams:</c> of intake.yaml. In two steps, because intake.yaml is read before the pipelines it names:
/// <see cref="Read"/> takes the keys (so unknown ones are reported with the rest of intake.yaml), and
/// <see cref="StreamsReading.Resolve"/> checks each stream against its pipeline once every pipeline is read. Every
/// problem is reported with intake.yaml's line and key, like the rest of the configuration.
/// </summary>
/// <example>
/// <code>
/// streams:
///   clicks:
///     pipeline: clickstream      # a file pipeline whose source is local or s3
///     prefix: kafka/sample/      # batches land at &lt;source&gt;/kafka/sample/&lt;uuid&gt;.json
///     max_records: 10000
///     max_age: 1h
/// </code>
/// </example>
public static partial class StreamsConfigReader
{
    internal const int MaxRecordsLimit = 10_000_000;
    private const long MinRequestBytes = 1024;
    private const long MaxRequestBytesLimit = 1024L * 1024 * 1024;

    /// <summary>Reads every stream's keys; checks that need the pipelines wait for <see cref="StreamsReading.Resolve"/>.</summary>
    internal static StreamsReading Read(YamlScope streams, string baseDirectory)
    {
        var read = new List<(YamlScope Scope, StreamConfig Stream)>();
        var defaults = new StreamConfig { Name = "", Pipeline = "", SpoolDirectory = "" };
        foreach (var (name, _) in streams.Entries.ToList())
        {
            var s = streams.Scope(name);
            if (!NamePattern().IsMatch(name) || name.Length > 200)
            {
                streams.Report(name, $"'{name}' is not a valid stream name (letters, digits, '_' and '-', starting with a letter, at most 200 characters): it is part of the URL");
            }

            var maxRecords = s.Int("max_records", defaults.MaxRecords, 1, MaxRecordsLimit);
            var maxAge = s.Duration("max_age", defaults.MaxAge);
            if (maxAge < TimeSpan.FromSeconds(1))
            {
                s.Report("max_age", "must be at least 1s: the age of a batch is checked about once a second");
            }

            var maxRequestBytes = s.Size("max_request_bytes", defaults.MaxRequestBytes);
            if (maxRequestBytes is < MinRequestBytes or > MaxRequestBytesLimit)
            {
                s.Report("max_request_bytes", $"must be between 1KiB and 1GiB, not {maxRequestBytes.ToString(CultureInfo.InvariantCulture)} bytes: a request is held in memory while it is checked");
            }

            var stream = new StreamConfig
            {
                Name = name,
                Pipeline = s.String("pipeline", required: true) ?? "",
                Prefix = ReadPrefix(s),
                MaxRecords = maxRecords,
                MaxAge = maxAge,
                MaxRequestBytes = maxRequestBytes,
                SpoolDirectory = ConfigLoader.ResolvePath(baseDirectory, s.String("spool", fallback: Path.Combine(".intake", "streams", name))!),
            };
            s.RejectUnknown();
            read.Add((s, stream));
        }

        foreach (var group in read.GroupBy(r => r.Stream.SpoolDirectory, StringComparer.Ordinal).Where(g => g.Count() > 1))
        {
            foreach (var (scope, stream) in group.Skip(1))
            {
                scope.Report("spool", $"'{stream.SpoolDirectory}' is the spool of stream '{group.First().Stream.Name}' too; each stream needs a folder of its own");
            }
        }

        return new StreamsReading(read);
    }

    /// <summary><c>prefix</c>: '' or a relative folder path, returned ending in '/'.</summary>
    private static string ReadPrefix(YamlScope s)
    {
        var prefix = s.String("prefix", fallback: "")!;
        if (prefix.Length == 0)
        {
            return "";
        }

        var folders = prefix.TrimEnd('/');
        if (prefix.StartsWith('/') || folders.Length == 0 || folders.Contains('\\', StringComparison.Ordinal) ||
            folders.Any(char.IsControl) || folders.Split('/').Any(segment => segment is "" or "." or ".." || segment.StartsWith('.')))
        {
            s.Report("prefix", $"'{prefix}' is not a folder path under the pipeline's source (e.g. kafka/sample/: no leading '/', no '//', no '.' or '..' segments, no hidden folders, no backslash)");
            return "";
        }

        return folders + "/";
    }

    [GeneratedRegex(@"^[A-Za-z][A-Za-z0-9_\-]*$")]
    private static partial Regex NamePattern();
}

/// <summary>The streams as read from intake.yaml, waiting for the pipelines to be checked against.</summary>
public sealed class StreamsReading
{
    private readonly IReadOnlyList<(YamlScope Scope, StreamConfig Stream)> _read;

    internal StreamsReading(IReadOnlyList<(YamlScope Scope, StreamConfig Stream)> read) => _read = read;

    /// <summary>
    /// Checks each stream against its pipeline: it exists, its source is one Intake can write into and would list the
    /// batch files, and it reads them as NDJSON. Problems are reported on the stream's keys in intake.yaml.
    /// </summary>
    public IReadOnlyList<StreamConfig> Resolve(IReadOnlyList<PipelineConfig> pipelines)
    {
        ArgumentNullException.ThrowIfNull(pipelines);
        foreach (var (scope, stream) in _read)
        {
            if (stream.Pipeline.Length == 0)
            {
                continue; // reported as required
            }

            var pipeline = pipelines.FirstOrDefault(p => p.Name == stream.Pipeline);
            if (pipeline is null)
            {
                scope.Report("pipeline", $"no pipeline named '{stream.Pipeline}' (pipelines: {string.Join(", ", pipelines.Select(p => p.Name))})");
                continue;
            }

            foreach (var problem in Problems(stream, pipeline))
            {
                scope.Report(problem.Key, problem.Reason);
            }
        }

        return _read.Select(r => r.Stream).ToList();
    }

    private static bool Matches(string pattern, string name)
    {
        try
        {
            return Glob.Parse(pattern).IsMatch(name);
        }
        catch (IntakeException)
        {
            return false;
        }
    }

    private static IEnumerable<(string Key, string Reason)> Problems(StreamConfig stream, PipelineConfig pipeline)
    {
        var sample = stream.KeyFor(Guid.Empty);
        var name = sample[(sample.LastIndexOf('/') + 1)..];
        if (pipeline.Source.Kind is not IFileSourceKind files)
        {
            yield return ("pipeline", $"pipeline '{pipeline.Name}' reads {pipeline.Source.Kind.Reads}; a stream's batches are files written into a pipeline's source (source.kind: local or s3)");
            yield break;
        }

        IFileSource? source = null;
        try
        {
            source = files.CreateSource(pipeline, TimeProvider.System);
        }
        catch (IntakeException)
        {
            // The pipeline's own source settings are wrong: reported on the pipeline already.
        }

        try
        {
            if (source is not null and not IFileDrop)
            {
                yield return ("pipeline", $"pipeline '{pipeline.Name}' reads {pipeline.Source.Kind.Reads}, which Intake does not write into; a stream needs a pipeline whose source.kind is local or s3");
            }
            else if (source is IFileDrop drop && !drop.Offers(sample))
            {
                yield return ("prefix", $"the batch files ({stream.Prefix}<uuid>.json) would never be listed by pipeline '{pipeline.Name}': its source's include/exclude leave them out (include e.g. '{stream.Prefix}**')");
            }
        }
        finally
        {
            (source as IDisposable)?.Dispose();
        }

        if (pipeline.Format != "ndjson")
        {
            yield return ("pipeline", $"pipeline '{pipeline.Name}' reads {pipeline.Format} files; batch files are NDJSON named <uuid>.json: set format: ndjson and ndjson: {{ files: ['**/*.json'] }} on the pipeline");
        }
        else if (!pipeline.Ndjson.Files.Any(p => Matches(p, name)))
        {
            yield return ("pipeline", $"pipeline '{pipeline.Name}' reads the NDJSON files {string.Join(", ", pipeline.Ndjson.Files)}, which do not take the batch files (<uuid>.json): add '**/*.json' to its ndjson.files");
        }
    }
}
