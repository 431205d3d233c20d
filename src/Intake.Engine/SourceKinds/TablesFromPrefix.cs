using System.Text;
using Intake.Core.Errors;
using Intake.Engine.Configuration;
using Intake.Sources;

namespace Intake.Engine.SourceKinds;

/// <summary>
/// <c>source.tables_from_prefix</c> of a file source (local, ftp, sftp, s3): every folder under <see cref="Root"/> that
/// holds data files is a table of its own, named from its prefix (<c>cubic/ods_qlik/EDW.SAMPLE/</c> is
/// <c>cubic__ods_qlik__edw_sample</c>). Discovery registers a table the first time its prefix appears and each file
/// under it as a load of that table; the load step writes each table to a warehouse table of its own.
/// </summary>
/// <remarks>
/// Read here once for every file kind (see <see cref="Read"/>), so the key means the same whatever the files come
/// from. Keys are the source's own: relative to its folder, remote path or bucket prefix, with '/' between folders.
/// </remarks>
public sealed class TablesFromPrefix
{
    /// <summary>The YAML key under <c>source:</c>.</summary>
    public const string Key = "tables_from_prefix";

    private readonly Glob[] _include;
    private readonly Glob[] _exclude;
    private readonly int _rootLevels;

    /// <param name="root">The folder the tables are under (<c>cubic/</c>), relative to the source; empty for the source's own root.</param>
    /// <param name="depth">How many folder levels, the root's included, make a table's prefix; null: the folder that holds the file.</param>
    /// <param name="include">Globs on table names a table must match one of; empty for every table.</param>
    /// <param name="exclude">Globs on table names that take a table out again.</param>
    /// <exception cref="ArgumentException">The root is not a relative folder, the depth does not reach below it, or a pattern cannot be parsed.</exception>
    public TablesFromPrefix(string root, int? depth, IReadOnlyList<string> include, IReadOnlyList<string> exclude)
    {
        ArgumentNullException.ThrowIfNull(root);
        ArgumentNullException.ThrowIfNull(include);
        ArgumentNullException.ThrowIfNull(exclude);
        if (RootProblem(root) is { } problem)
        {
            throw new ArgumentException(problem, nameof(root));
        }

        Root = NormalizeRoot(root);
        _rootLevels = Root.Length == 0 ? 0 : Root.Count(c => c == '/');
        if (depth is { } d && DepthProblem(d, _rootLevels, Root) is { } tooShallow)
        {
            throw new ArgumentException(tooShallow, nameof(depth));
        }

        Depth = depth;
        Include = include;
        Exclude = exclude;
        try
        {
            // Table names are lower case; patterns match them ignoring case, so EDW_* finds edw_sample.
            _include = include.Select(p => Glob.Parse(p, ignoreCase: true)).ToArray();
            _exclude = exclude.Select(p => Glob.Parse(p, ignoreCase: true)).ToArray();
        }
        catch (IntakeException e)
        {
            throw new ArgumentException(e.Message, nameof(include), e);
        }
    }

    /// <summary>The folder the tables are under, with a trailing '/' (<c>cubic/</c>); empty for the source's root.</summary>
    public string Root { get; }

    /// <summary>Folder levels from the source's root, the root's own included, that make a table's prefix; null: the folder holding the file.</summary>
    public int? Depth { get; }

    public IReadOnlyList<string> Include { get; }

    public IReadOnlyList<string> Exclude { get; }

    /// <summary>
    /// A table's name from its prefix: the folder names joined with <c>__</c>, lower case, every character outside
    /// <c>[a-z0-9_]</c> turned into <c>_</c> (<c>cubic/ods_qlik/EDW.SAMPLE__ct/</c> is <c>cubic__ods_qlik__edw_sample__ct</c>).
    /// </summary>
    public static string NameOf(string prefix)
    {
        ArgumentNullException.ThrowIfNull(prefix);
        var name = new StringBuilder(prefix.Length + 8);
        foreach (var folder in prefix.Split('/', StringSplitOptions.RemoveEmptyEntries))
        {
            if (name.Length > 0)
            {
                name.Append("__");
            }

            foreach (var c in folder.ToLowerInvariant())
            {
                name.Append(c is (>= 'a' and <= 'z') or (>= '0' and <= '9') or '_' ? c : '_');
            }
        }

        return name.ToString();
    }

    /// <summary>The table a listed file belongs to, or why it belongs to none.</summary>
    public TableMatch Match(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        if (!key.StartsWith(Root, StringComparison.Ordinal))
        {
            return TableMatch.NotATable($"it is not under the root '{Root}' of tables_from_prefix");
        }

        var folders = key.Split('/');
        var levels = folders.Length - 1; // the last part is the file's name
        if (levels <= _rootLevels)
        {
            return TableMatch.NotATable(Root.Length == 0
                ? "it lies directly in the source's folder, in no table's folder"
                : $"it lies directly under the root '{Root}' of tables_from_prefix, in no table's folder");
        }

        var take = Depth ?? levels;
        if (levels < take)
        {
            return TableMatch.NotATable($"it is {levels} folder level(s) deep, fewer than the {take} (tables_from_prefix.depth) that name a table");
        }

        var prefix = string.Join('/', folders.Take(take)) + "/";
        var name = NameOf(prefix);
        var wanted = (_include.Length == 0 || _include.Any(g => g.IsMatch(name))) && !_exclude.Any(g => g.IsMatch(name));
        return wanted ? TableMatch.Table(name, prefix) : TableMatch.Excluded(name, prefix);
    }

    /// <summary>
    /// Reads <c>tables_from_prefix</c> from the <c>source:</c> mapping of a file kind; null when it is not there.
    /// Problems are reported on the mapping with their line and key, all at once.
    /// </summary>
    internal static TablesFromPrefix? Read(YamlScope source)
    {
        var s = source.Scope(Key);
        if (!s.Exists)
        {
            return null;
        }

        var root = s.String("root") ?? "";
        int? depth = s.Node("depth") is null ? null : s.Int("depth", 0, 1, 100);
        var include = s.StringList("include") ?? [];
        var exclude = s.StringList("exclude") ?? [];
        s.RejectUnknown();

        var ok = true;
        if (RootProblem(root) is { } problem)
        {
            s.Report("root", problem);
            ok = false;
        }
        else if (depth is > 0 and { } d && DepthProblem(d, NormalizeRoot(root).Count(c => c == '/'), NormalizeRoot(root)) is { } tooShallow)
        {
            s.Report("depth", tooShallow);
            ok = false;
        }

        foreach (var (key, patterns) in new[] { ("include", include), ("exclude", exclude) })
        {
            foreach (var pattern in patterns)
            {
                try
                {
                    _ = Glob.Parse(pattern);
                }
                catch (IntakeException e)
                {
                    s.Report(key, $"{e.Message} (patterns here match table names, e.g. cubic__ods_qlik__*)");
                    ok = false;
                }
            }
        }

        // A stand-in when something was wrong: the configuration is refused anyway, and the rest of the pipeline is
        // still read as a pipeline with tables (load.table may be omitted), so only the real problems are reported.
        return ok && depth is not 0 ? new TablesFromPrefix(root, depth, include, exclude) : new TablesFromPrefix("", null, [], []);
    }

    private static string NormalizeRoot(string root)
    {
        var trimmed = root.Trim('/');
        return trimmed.Length == 0 ? "" : trimmed + "/";
    }

    private static string? RootProblem(string root)
    {
        if (root.StartsWith('/') && root.Trim('/').Length > 0)
        {
            return $"'{root}' starts with '/': the root is a folder relative to the source (its path, remote folder or bucket prefix), e.g. cubic/";
        }

        var trimmed = root.Trim('/');
        return trimmed.Length > 0 && (trimmed.Contains('\\', StringComparison.Ordinal) || trimmed.Split('/').Any(p => p is "" or "." or ".."))
            ? $"'{root}' is not a folder relative to the source: use folder names separated by '/', without '.', '..', '//' or '\\'"
            : null;
    }

    private static string? DepthProblem(int depth, int rootLevels, string root) =>
        depth <= rootLevels
            ? $"{depth} does not reach below the root '{root}' ({rootLevels} folder level(s), counted in depth): a table is a folder under the root, so depth must be at least {rootLevels + 1}"
            : null;
}

/// <summary>What <see cref="TablesFromPrefix.Match"/> makes of one listed file.</summary>
public readonly record struct TableMatch
{
    /// <summary>The table's name; null when the file belongs to no table.</summary>
    public string? Name { get; private init; }

    /// <summary>The table's prefix, with a trailing '/' (<c>cubic/ods_qlik/EDW.SAMPLE/</c>).</summary>
    public string? Prefix { get; private init; }

    /// <summary>Why the file is no table's file (reported as skipped); null when it is one.</summary>
    public string? NotATableReason { get; private init; }

    /// <summary>The file's table is left out by <c>include</c>/<c>exclude</c>: not a table of this pipeline, nothing to report.</summary>
    public bool IsExcluded { get; private init; }

    public static TableMatch Table(string name, string prefix) => new() { Name = name, Prefix = prefix };

    public static TableMatch Excluded(string name, string prefix) => new() { Name = name, Prefix = prefix, IsExcluded = true };

    public static TableMatch NotATable(string reason) => new() { NotATableReason = reason };
}
