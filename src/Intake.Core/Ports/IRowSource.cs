namespace Intake.Core.Ports;

/// <summary>
/// A forward-only reader of rows with named columns (a CSV file, an NDJSON file flattened). Values are
/// strings as read; the warehouse casts them to the declared types.
/// </summary>
/// <remarks>
/// Reading is asynchronous so that a loader waiting for a slow stream (a network store, a decompressor) holds no
/// thread and stops when its load is cancelled. A source reads its input in large blocks: <see cref="ReadAsync"/>
/// completes synchronously while the next row is in the block, and only a refill waits, so a bulk load's per-row cost
/// stays a check of <see cref="ValueTask{TResult}.IsCompleted"/>, with no task and no allocation. Disposing
/// asynchronously releases the input without blocking a thread either (it awaits a read-ahead task, for one).
/// </remarks>
public interface IRowSource : IDisposable, IAsyncDisposable
{
    /// <summary>Where the rows come from, for error messages (file name inside its archive).</summary>
    string SourceName { get; }

    IReadOnlyList<string> Columns { get; }

    /// <summary>Advances to the next row; false at the end. Waits only when the source must read more of its input.</summary>
    ValueTask<bool> ReadAsync(CancellationToken cancellationToken);

    /// <summary>Number of fields in the current row.</summary>
    int FieldCount { get; }

    /// <summary>The current row's value at <paramref name="ordinal"/>; null for an empty unquoted field.</summary>
    string? GetString(int ordinal);

    /// <summary>
    /// The current row's value at <paramref name="ordinal"/> without allocating a string where the source can (the
    /// CSV reader), valid until the next <see cref="ReadAsync"/>; <paramref name="isNull"/> as for <see cref="GetString"/>.
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
