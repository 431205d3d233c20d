using Intake.Core.Ports;

namespace Intake.Engine.Modules;

/// <summary>
/// Rows a module built in memory (matches of a text, a program's JSON lines), as an <see cref="IRowSource"/>: the
/// columns are every name any row has, in the order first met; a row without one has null there. Each row keeps the
/// line it came from, so a value the warehouse cannot cast is reported at its line.
/// </summary>
internal sealed class RowList : IRowSource
{
    private readonly List<string> _columns = [];
    private readonly Dictionary<string, int> _ordinals = new(StringComparer.Ordinal);
    private readonly List<(long Line, Dictionary<int, string?> Values)> _rows = [];
    private int _index = -1;

    public RowList(string sourceName) => SourceName = sourceName;

    public string SourceName { get; }

    public IReadOnlyList<string> Columns => _columns;

    public int Count => _rows.Count;

    public void Add(long line, IEnumerable<KeyValuePair<string, string?>> values)
    {
        var row = new Dictionary<int, string?>();
        foreach (var (name, value) in values)
        {
            if (!_ordinals.TryGetValue(name, out var ordinal))
            {
                ordinal = _columns.Count;
                _ordinals[name] = ordinal;
                _columns.Add(name);
            }

            row[ordinal] = value;
        }

        _rows.Add((line, row));
    }

    public ValueTask<bool> ReadAsync(CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        if (_index + 1 >= _rows.Count)
        {
            _index = _rows.Count;
            return ValueTask.FromResult(false);
        }

        _index++;
        return ValueTask.FromResult(true);
    }

    public int FieldCount => _columns.Count;

    public string? GetString(int ordinal) => _rows[_index].Values.GetValueOrDefault(ordinal);

    public long RowNumber => Math.Min(_index + 1, _rows.Count);

    public long LineNumber => _index >= 0 && _index < _rows.Count ? _rows[_index].Line : 0;

    public void Dispose()
    {
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
