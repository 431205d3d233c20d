namespace Intake.Core.Model;

/// <summary>
/// The status of a load, in the Cubic vocabulary. The catalog, the API and the CLI all use the
/// snake_case words returned by <see cref="LoadStatusNames.ToWord"/>.
/// </summary>
public enum LoadStatus
{
    Ready,
    Ingesting,
    ReadyForArchiving,
    Archiving,
    Archived,
    ReadyForErroring,
    Erroring,
    Errored,
    Held,
}

/// <summary>Converts statuses to and from the words stored in the catalog.</summary>
public static class LoadStatusNames
{
    private static readonly Dictionary<string, LoadStatus> ByWord = new(StringComparer.Ordinal)
    {
        ["ready"] = LoadStatus.Ready,
        ["ingesting"] = LoadStatus.Ingesting,
        ["ready_for_archiving"] = LoadStatus.ReadyForArchiving,
        ["archiving"] = LoadStatus.Archiving,
        ["archived"] = LoadStatus.Archived,
        ["ready_for_erroring"] = LoadStatus.ReadyForErroring,
        ["erroring"] = LoadStatus.Erroring,
        ["errored"] = LoadStatus.Errored,
        ["held"] = LoadStatus.Held,
    };

    public static IReadOnlyCollection<string> Words => ByWord.Keys;

    public static string ToWord(this LoadStatus status) => status switch
    {
        LoadStatus.Ready => "ready",
        LoadStatus.Ingesting => "ingesting",
        LoadStatus.ReadyForArchiving => "ready_for_archiving",
        LoadStatus.Archiving => "archiving",
        LoadStatus.Archived => "archived",
        LoadStatus.ReadyForErroring => "ready_for_erroring",
        LoadStatus.Erroring => "erroring",
        LoadStatus.Errored => "errored",
        LoadStatus.Held => "held",
        _ => throw new ArgumentOutOfRangeException(nameof(status), status, null),
    };

    public static LoadStatus Parse(string word) =>
        TryParse(word, out var s) ? s : throw new ArgumentException($"unknown load status '{word}'; expected one of {string.Join(", ", Words)}", nameof(word));

    public static bool TryParse(string? word, out LoadStatus status) =>
        ByWord.TryGetValue(word ?? "", out status);
}
