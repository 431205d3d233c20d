using System.Runtime.CompilerServices;
using Intake.Core.Errors;
using Intake.Core.Ports;
using Intake.Formats.Archives;
using Intake.Engine.Configuration;
using Intake.Formats.Csv;
using Intake.Formats.Json;
using Intake.Sources;

namespace Intake.Engine.Steps;

/// <summary>
/// The load's data files and how to read them. A pipeline with a <c>decompress</c> step reads the entries it expanded
/// into the work area; a pipeline without one reads them straight out of the original in the inbox, expanding while
/// it reads, so nothing is written in between (the same work as <c>gzip -dc | psql \copy</c>). The data files are
/// CSV or, with <c>format: ndjson</c>, newline-delimited JSON.
/// </summary>
internal static class DataFiles
{
    /// <summary>Whether the data is read from the original as it is expanded, rather than from the work area.</summary>
    public static bool Streamed(StepContext context) => !StepDescriptor.AnyIn(context.Pipeline.Steps, d => d.ExpandsOriginal);

    public static async Task<List<ObjectInfo>> ListAsync(StepContext context, CancellationToken cancellationToken)
    {
        var globs = Globs(context);
        var result = new List<ObjectInfo>();
        await foreach (var o in context.WorkStore.ListAsync(Areas.Work, context.WorkPrefix, cancellationToken))
        {
            var name = o.Key[context.WorkPrefix.Length..];
            if (globs.Any(g => g.IsMatch(name)))
            {
                result.Add(o);
            }
        }

        return result;
    }

    /// <summary>
    /// The load's data files, opened one at a time as the caller moves on (each is valid until the next is asked
    /// for). <paramref name="done"/> reports the bytes read so far against the total, for progress. When nothing
    /// matches the data file patterns the enumeration ends with an <c>empty</c> error.
    /// </summary>
    public static async Task<DataFileSet> OpenAsync(StepContext context, Action<long, long?>? done, CancellationToken cancellationToken)
    {
        if (!Streamed(context))
        {
            var files = await ListAsync(context, cancellationToken);
            return new DataFileSet(context, WorkSources(context, files, done, cancellationToken), files.Sum(f => f.Size), null);
        }

        var info = await context.Store.StatAsync(Areas.Inbox, context.InboxKey, cancellationToken)
            ?? throw IntakeException.Integrity($"{context.Load.SourceKey}: the original is missing from the inbox");
        var input = new CountingStream(await context.Store.OpenReadAsync(Areas.Inbox, context.InboxKey, cancellationToken), n => done?.Invoke(n, info.Size));
        var entries = Expand(context, input, cancellationToken).GetAsyncEnumerator(cancellationToken);
        return new DataFileSet(context, StreamedSources(context, entries, cancellationToken), info.Size, input, entries);
    }

    /// <summary>
    /// The one way an original is expanded, by the <c>decompress</c> step (which writes every entry to the work area)
    /// and by the streamed load (which reads the data entries and leaves the rest to the expander, which reads it
    /// through the same checks): the same walk, limits and classification, so both paths end the same way.
    /// </summary>
    public static IAsyncEnumerable<ArchiveEntry> Expand(StepContext context, Stream input, CancellationToken cancellationToken)
    {
        var limits = context.Pipeline.Limits;
        var expander = new ArchiveExpander(new ArchiveLimits { MaxTotalBytes = limits.MaxTotalBytes, MaxRatio = limits.MaxRatio, MaxEntries = limits.MaxEntries });
        return expander.ExpandAsync(input, context.InboxKey[(context.InboxKey.LastIndexOf('/') + 1)..], cancellationToken);
    }

    private static async IAsyncEnumerable<(string Name, Stream Content, bool Owned)> WorkSources(
        StepContext context, List<ObjectInfo> files, Action<long, long?>? done, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var total = files.Sum(f => f.Size);
        long before = 0;
        foreach (var f in files)
        {
            var offset = before;
            // Opened only when the caller gets here, so one file is open at a time.
            var stream = await context.WorkStore.OpenReadAsync(Areas.Work, f.Key, cancellationToken);
            yield return (DisplayName(context, f), new CountingStream(stream, n => done?.Invoke(offset + n, total)), true);
            before += f.Size;
        }
    }

    private static async IAsyncEnumerable<(string Name, Stream Content, bool Owned)> StreamedSources(
        StepContext context, IAsyncEnumerator<ArchiveEntry> entries, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var globs = Globs(context);
        // Not disposed here: the set finishes the walk (FinishWalkAsync) and disposes it.
        while (await entries.MoveNextAsync())
        {
            var entry = entries.Current;
            // Entries that are not data are skipped: the expander reads them through its checks when the next one is asked for.
            if (globs.Any(g => g.IsMatch(entry.Name)))
            {
                // Decompressed on another thread while the caller parses: the overlap psql gets from a gzip pipe.
                yield return (EntryName(context, entry.Name), new ReadAheadStream(entry.Content, cancellationToken), true);
            }
        }
    }

    public static bool IsNdjson(StepContext context) => context.Pipeline.Format == "ndjson";

    private static IReadOnlyList<string> Patterns(StepContext context) => IsNdjson(context) ? context.Pipeline.Ndjson.Files : context.Pipeline.Csv.Files;

    private static List<Glob> Globs(StepContext context) => Patterns(context).Select(p => Glob.Parse(p)).ToList();

    public static CsvOptions Options(StepContext context) => new()
    {
        Delimiter = context.Pipeline.Csv.Delimiter,
        Quote = context.Pipeline.Csv.Quote,
        Encoding = TextEncodings.Get(context.Pipeline.Csv.Encoding),
    };

    /// <summary>The entry's name as users know it: inside the original, e.g. <c>sales.zip!2024/jan.csv</c>.</summary>
    public static string DisplayName(StepContext context, ObjectInfo o) => EntryName(context, o.Key[context.WorkPrefix.Length..]);

    /// <summary>
    /// <c>original!entry</c> for an entry inside an archive (or a gzip file); the original's name alone for a plain
    /// file, whose one entry is itself (<c>a.csv</c>, not <c>a.csv!a.csv</c>).
    /// </summary>
    private static string EntryName(StepContext context, string entry)
    {
        var original = context.Load.SourceKey;
        var fileName = original[(original.LastIndexOf('/') + 1)..];
        return entry == fileName ? original : $"{original}!{entry}";
    }

    public static string NoDataMessage(StepContext context) =>
        $"{context.Load.SourceKey}: no entry matches the data file patterns ({string.Join(", ", Patterns(context))})";
}

/// <summary>The data files of one load, read once, in order; see <see cref="DataFiles.OpenAsync"/>.</summary>
internal sealed class DataFileSet : IAsyncDisposable
{
    private readonly StepContext _context;
    private readonly IAsyncEnumerable<(string Name, Stream Content, bool Owned)> _files;
    private readonly Stream? _input;
    private readonly IAsyncEnumerator<ArchiveEntry>? _entries;

    public DataFileSet(
        StepContext context, IAsyncEnumerable<(string Name, Stream Content, bool Owned)> files, long totalBytes, Stream? input, IAsyncEnumerator<ArchiveEntry>? entries = null)
    {
        _context = context;
        _files = files;
        TotalBytes = totalBytes;
        _input = input;
        _entries = entries;
    }

    /// <summary>Bytes to read: the data files' sizes, or the original's (compressed) size when streamed.</summary>
    public long TotalBytes { get; }

    /// <summary>Data files opened so far.</summary>
    public int Count { get; private set; }

    /// <summary>
    /// Hands the row sources to <paramref name="consume"/> (a bulk load, a row count) and returns its result. When
    /// streamed and the consumer fails (a bad row, a schema error), the rest of the original is still walked before
    /// the failure is reported, and a failure of the archive found there is reported instead: the <c>decompress</c>
    /// path walks the whole archive before any row is read, so a truncated or damaged archive wins over a row in it
    /// on both paths.
    /// </summary>
    public async Task<T> ReadAsync<T>(Func<IAsyncEnumerable<IRowSource>, Task<T>> consume)
    {
        try
        {
            return await consume(RowSources());
        }
        catch (IntakeException e) when (_entries is not null && !e.IsTransient)
        {
            await FinishWalkAsync();
            throw;
        }
    }

    /// <summary>One CSV source per data file, opened lazily; the caller disposes each before asking for the next.</summary>
    private IAsyncEnumerable<IRowSource> RowSources() =>
        Checked(CsvSources(), _context.Pipeline.Csv.AllowEmpty, "a header and no rows", "csv.allow_empty");

    private async IAsyncEnumerable<IRowSource> CsvSources([EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var options = DataFiles.Options(_context);
        await foreach (var f in Files(cancellationToken))
        {
            // The header is read here, awaiting the stream like every later refill.
            yield return await CsvRowSource.OpenAsync(f.Content, f.Name, options, leaveOpen: !f.Owned, cancellationToken);
        }
    }

    /// <summary>One NDJSON source per data file with the load's <paramref name="columns"/> (from a first pass), as <see cref="RowSources"/>.</summary>
    public IAsyncEnumerable<IRowSource> NdjsonSources(IReadOnlyList<string> columns)
    {
        var ndjson = _context.Pipeline.Ndjson;
        return Checked(Files().Select(f => (IRowSource)new NdjsonRowSource(f.Content, f.Name, columns, ndjson.Flatten)), ndjson.AllowEmpty, "no record", "ndjson.allow_empty");
    }

    /// <summary>The data files' names and contents, opened lazily; an <c>empty</c> error at the end when there was none.</summary>
    public async IAsyncEnumerable<(string Name, Stream Content, bool Owned)> Files([EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        await foreach (var file in _files.WithCancellation(cancellationToken))
        {
            Count++;
            yield return file;
        }

        if (Count == 0)
        {
            throw IntakeException.Empty(DataFiles.NoDataMessage(_context));
        }
    }

    /// <summary>
    /// Passes the sources on and, once the last one was read, fails the load as <c>empty</c> when none of them had a
    /// row: a file with only a header is as empty as a zero-byte one, and loading it as 0 rows would hide a fault
    /// upstream unless the pipeline says that an empty file is normal for it.
    /// </summary>
    private async IAsyncEnumerable<IRowSource> Checked(
        IAsyncEnumerable<IRowSource> sources, bool allowEmpty, string what, string key, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        long rows = 0;
        var names = new List<string>();
        IRowSource? previous = null;
        await foreach (var source in sources.WithCancellation(cancellationToken))
        {
            // The caller has read the previous source to its end before asking for this one.
            rows += previous?.RowNumber ?? 0;
            previous = source;
            names.Add(source.SourceName);
            yield return source;
        }

        rows += previous?.RowNumber ?? 0;
        if (rows == 0 && names.Count > 0 && !allowEmpty)
        {
            var list = names.Count <= 5 ? string.Join(", ", names) : string.Join(", ", names.Take(5)) + $" and {names.Count - 5} more";
            throw IntakeException.Empty(names.Count == 1
                ? $"{names[0]} has {what}: nothing to load (set {key}: true for a feed where an empty file is normal)"
                : $"{_context.Load.SourceKey}: every data file has {what} ({list}): nothing to load (set {key}: true for a feed where an empty file is normal)");
        }
    }

    // Asking for the next entry makes the expander read the rest of the current one, and so on to the end: it
    // throws what it finds there.
    private async Task FinishWalkAsync()
    {
        while (await _entries!.MoveNextAsync())
        {
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_entries is not null)
        {
            await _entries.DisposeAsync();
        }

        if (_input is not null)
        {
            await _input.DisposeAsync();
        }
    }
}
