using Intake.Core.Ports;

namespace Intake.Warehouse.Tests.Support;

/// <summary>An in-memory <see cref="IRowSource"/>: a header and rows; line numbers count the header as line 1.</summary>
public sealed class ListRowSource : IRowSource
{
    private readonly IEnumerator<string?[]> _rows;
    private readonly Action<long>? _onRow;
    private string?[] _current = [];

    public ListRowSource(string sourceName, IReadOnlyList<string> columns, IEnumerable<string?[]> rows, Action<long>? onRow = null)
    {
        SourceName = sourceName;
        Columns = columns;
        _rows = rows.GetEnumerator();
        _onRow = onRow;
    }

    public string SourceName { get; }

    public IReadOnlyList<string> Columns { get; }

    public int FieldCount => _current.Length;

    public long RowNumber { get; private set; }

    public long LineNumber => RowNumber + 1;

    public bool Disposed { get; private set; }

    public static ListRowSource Of(string sourceName, string header, params string?[][] rows) =>
        new(sourceName, header.Split(','), rows);

    private bool Read()
    {
        ObjectDisposedException.ThrowIf(Disposed, this);
        if (!_rows.MoveNext())
        {
            return false;
        }

        _current = _rows.Current;
        RowNumber++;
        _onRow?.Invoke(RowNumber);
        return true;
    }

    public ValueTask<bool> ReadAsync(CancellationToken cancellationToken) => new(Read());

    public string? GetString(int ordinal) => _current[ordinal];

    public void Dispose()
    {
        Disposed = true;
        _rows.Dispose();
    }

    public ValueTask DisposeAsync()
    {
        Dispose();
        return ValueTask.CompletedTask;
    }
}
