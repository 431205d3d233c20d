using System.Globalization;
using System.Text.RegularExpressions;

namespace Intake.Engine.Cubic;

/// <summary>
/// The names of ODS files as Qlik writes them: snapshot files <c>LOAD1.csv</c>, <c>LOAD00000001.csv.gz</c>, … in a
/// table's folder, and change files <c>&lt;yyyyMMdd-HHmmssSSS&gt;.csv[.gz]</c> in its change table's folder
/// (<c>&lt;table&gt;__ct</c>).
/// </summary>
public static partial class OdsFiles
{
    /// <summary>The suffix of a change table's name.</summary>
    public const string ChangeSuffix = "__ct";

    /// <summary>The column of change rows that orders them (fixed width, so it compares as text).</summary>
    public const string SequenceColumn = "header__change_seq";

    /// <summary>The column of change rows that says what happened: I insert, U update, D delete, B before-image.</summary>
    public const string OperationColumn = "header__change_oper";

    /// <summary>The column every row of an ODS table gets: the snapshot it belongs to.</summary>
    public const string SnapshotColumn = "snapshot";

    [GeneratedRegex(@"^LOAD(\d+)\.csv(\.gz)?$", RegexOptions.CultureInvariant | RegexOptions.IgnoreCase)]
    private static partial Regex LoadPattern();

    [GeneratedRegex(@"^\d{8}-\d{9}\.csv(\.gz)?$", RegexOptions.CultureInvariant | RegexOptions.IgnoreCase)]
    private static partial Regex ChangePattern();

    /// <summary>The file name of a source key (what follows its last slash).</summary>
    public static string FileName(string sourceKey) => sourceKey[(sourceKey.LastIndexOf('/') + 1)..];

    /// <summary>The number of a <c>LOAD…</c> file (1 starts a snapshot); null for any other name.</summary>
    public static long? LoadNumber(string sourceKey) =>
        LoadPattern().Match(FileName(sourceKey)) is { Success: true } m && long.TryParse(m.Groups[1].Value, NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : null;

    public static bool IsChangeFile(string sourceKey) => ChangePattern().IsMatch(FileName(sourceKey));

    /// <summary>The base table of a change table (<c>x__ct</c> → <c>x</c>); null for a table that is not one.</summary>
    public static string? BaseOf(string table) =>
        table.EndsWith(ChangeSuffix, StringComparison.Ordinal) && table.Length > ChangeSuffix.Length ? table[..^ChangeSuffix.Length] : null;

    /// <summary>A snapshot as text: ISO 8601 in UTC to the millisecond, so later snapshots compare greater.</summary>
    public static string Text(DateTimeOffset snapshot) => snapshot.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);

    /// <summary>A snapshot as people read it in messages (seconds unless it has milliseconds).</summary>
    public static string Display(DateTimeOffset snapshot) => snapshot.Millisecond == 0
        ? snapshot.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture)
        : Text(snapshot);
}
