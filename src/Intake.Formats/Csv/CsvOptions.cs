using System.Text;

namespace Intake.Formats.Csv;

/// <summary>How a CSV file is written. The defaults read RFC 4180 files in UTF-8 with a header row.</summary>
public sealed class CsvOptions
{
    /// <summary>
    /// UTF-8 that refuses invalid bytes instead of replacing them with U+FFFD: a file in another encoding must fail
    /// loudly rather than load with damaged values.
    /// </summary>
    public static readonly Encoding StrictUtf8 = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>Field separator (','; ';' is common in European exports, '\t' for TSV).</summary>
    public char Delimiter { get; set; } = ',';

    /// <summary>Quote character ('"'); inside a quoted field it is written twice.</summary>
    public char Quote { get; set; } = '"';

    /// <summary>
    /// Text encoding (<see cref="StrictUtf8"/>; e.g. windows-1252 for old Windows exports). Bytes that are not text in
    /// it fail the read whatever fallback the instance has: nothing is replaced by U+FFFD. Under ISO-8859-1 the C1
    /// controls (bytes 0x80–0x9F) fail too, since such a file is nearly always windows-1252. A UTF-8 byte order mark
    /// at the start is dropped whatever the encoding is, when it decodes to U+FEFF.
    /// </summary>
    public Encoding Encoding { get; set; } = StrictUtf8;

    /// <summary>The first row names the columns (true).</summary>
    public bool HasHeader { get; set; } = true;

    /// <summary>
    /// Column names to use: required shape for files without a header (when null they are <c>column1</c>,
    /// <c>column2</c>, ... after the first row's field count); with a header, they replace its names and must be as
    /// many.
    /// </summary>
    public IReadOnlyList<string>? Columns { get; set; }

    /// <summary>
    /// Longest row, in characters (16 Mi). A row is held whole in memory; the bound keeps a missing closing quote
    /// from reading a whole file into memory.
    /// </summary>
    public int MaxRowChars { get; set; } = 16 * 1024 * 1024;

    /// <summary>Throws one <see cref="ArgumentException"/> listing every invalid setting.</summary>
    public void Validate()
    {
        var problems = new List<string>();
        if (Delimiter is '\r' or '\n')
        {
            problems.Add($"{nameof(Delimiter)} cannot be a line break");
        }
        if (Quote is '\r' or '\n')
        {
            problems.Add($"{nameof(Quote)} cannot be a line break");
        }
        if (Delimiter == Quote)
        {
            problems.Add($"{nameof(Delimiter)} and {nameof(Quote)} must differ (both are '{Delimiter}')");
        }
        if (Encoding is null)
        {
            problems.Add($"{nameof(Encoding)} must be set");
        }
        if (MaxRowChars < 1024)
        {
            problems.Add($"{nameof(MaxRowChars)} must be at least 1024 (is {MaxRowChars})");
        }
        if (Columns is not null)
        {
            if (Columns.Count == 0)
            {
                problems.Add($"{nameof(Columns)}, when set, must name at least one column");
            }
            var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
            foreach (string column in Columns)
            {
                if (string.IsNullOrWhiteSpace(column))
                {
                    problems.Add($"{nameof(Columns)} has an empty name");
                }
                else if (!seen.Add(column.Trim()))
                {
                    problems.Add($"{nameof(Columns)} names '{column}' twice");
                }
            }
        }
        if (problems.Count > 0)
        {
            throw new ArgumentException("Invalid CSV options: " + string.Join("; ", problems) + ".");
        }
    }
}
