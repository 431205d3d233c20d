namespace Intake.Core.Ports;

/// <summary>
/// A forward-only reader of rows with named columns (a CSV file, an NDJSON file flattened). Values are
/// strings as read; the warehouse casts them to the declared types.
/// </summary>
public interface IRowSource : IDisposable
{
    /// <summary>Where the rows come from, for error messages (file name inside its archive).</summary>
    string SourceName { get; }

    IReadOnlyList<string> Columns { get; }

    /// <summary>Advances to the next row; false at the end.</summary>
    bool Read();

    /// <summary>Number of fields in the current row.</summary>
    int FieldCount { get; }

    /// <summary>The current row's value at <paramref name="ordinal"/>; null for an empty unquoted field.</summary>
    string? GetString(int ordinal);

    /// <summary>
    /// The current row's value at <paramref name="ordinal"/> without allocating a string where the source can (the
    /// CSV reader), valid until the next <see cref="Read"/>; <paramref name="isNull"/> as for <see cref="GetString"/>.
    /// </summary>
    ReadOnlySpan<char> GetSpan(int ordinal, out bool isNull)
    {
        var value = GetString(ordinal);
        isNull = value is null;
        return value;
    }

    /// <summary>1-based number of the current data row (the header is not counted).</summary>
    long RowNumber { get; }

    /// <summary>1-based physical line on which the current row starts.</summary>
    long LineNumber { get; }
}
